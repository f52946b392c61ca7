"""docs/osc.md is the rendering of the address table, and the REAPER pattern file fits the
daemon."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.osc.addresses import (
    ADDRESSES,
    REAPER_ADDRESSES,
    REAPER_IGNORED_ROOTS,
    REAPER_TEMPO,
)
from tools import osc_docs

ROOT = Path(__file__).resolve().parents[2]
PATTERN_FILE = ROOT / "reaper_scripts" / "MusicGen.ReaperOSC"

# Keys REAPER's OSC surface accepts (from its Default.ReaperOSC); an unknown key makes REAPER
# refuse the file with "Unknown action".
REAPER_SETTING_KEYS = {
    "DEVICE_TRACK_COUNT", "DEVICE_SEND_COUNT", "DEVICE_RECEIVE_COUNT", "DEVICE_FX_COUNT",
    "DEVICE_FX_PARAM_COUNT", "DEVICE_FX_INST_PARAM_COUNT", "REAPER_TRACK_FOLLOWS",
    "DEVICE_TRACK_FOLLOWS", "DEVICE_TRACK_BANK_FOLLOWS", "DEVICE_FX_FOLLOWS", "DEVICE_EQ",
    "DEVICE_ROTARY_CENTER",
}
REAPER_ACTION_KEYS = {"TEMPO", "PLAY", "STOP", "PAUSE", "RECORD", "REPEAT", "METRONOME",
                      "TIME", "BEAT", "ACTION"}


def test_docs_match_the_address_table():
    rendered = osc_docs.render()
    assert (ROOT / "docs" / "osc.md").read_text(encoding="utf-8") == rendered, \
        "docs/osc.md is stale: run `python -m tools.osc_docs`"
    for spec in (*ADDRESSES, *REAPER_ADDRESSES):
        assert f"| `{spec.address}` |" in rendered


def test_render_writes_the_file(tmp_path):
    assert osc_docs.main([str(tmp_path / "osc.md")]) == 0
    assert (tmp_path / "osc.md").read_text(encoding="utf-8") == osc_docs.render()


def _pattern_lines() -> list[list[str]]:
    lines = []
    for raw in PATTERN_FILE.read_text(encoding="utf-8").splitlines():
        tokens = raw.split("#", 1)[0].split()
        if tokens:
            lines.append(tokens)
    return lines


def test_the_reaper_pattern_file_is_one_reaper_loads():
    for key, *values in _pattern_lines():
        assert key in REAPER_SETTING_KEYS | REAPER_ACTION_KEYS, f"REAPER rejects {key}"
        assert values, f"{key} has no value"
        if key in REAPER_SETTING_KEYS:
            (value,) = values
            assert re.fullmatch(r"\d+|REAPER|DEVICE|INSERT", value), (key, value)
            continue
        for pattern in values:
            # REAPER: a flag from [nfbtrsi], then '/' (its loader refuses anything else).
            assert re.fullmatch(r"[nfbtrsi]/\S+", pattern), (key, pattern)


def _sent_addresses() -> list[str]:
    """The addresses REAPER sends for this file (incoming-only ACTION left out)."""
    out = []
    for key, *patterns in _pattern_lines():
        if key in REAPER_ACTION_KEYS and key != "ACTION":
            out += [p[1:] for p in patterns]
    return out


def test_reaper_sends_its_tempo_where_the_daemon_follows_it():
    assert ["TEMPO", "f" + REAPER_TEMPO] in _pattern_lines()
    for address in _sent_addresses():
        root = address.split("/")[1]
        assert address == REAPER_TEMPO or root in REAPER_IGNORED_ROOTS, address


@pytest.mark.parametrize("address", _sent_addresses())
def test_what_reaper_sends_is_handled_or_quietly_ignored(bridge, address):
    reaper = bridge.peer()
    reaper.send(address, "f", 1.0 if address != REAPER_TEMPO else 111.0)
    assert reaper.ping() == []  # no error for REAPER to ignore
    if address == REAPER_TEMPO:
        assert bridge.target.expect("/musicgen/tempo") == [111.0]

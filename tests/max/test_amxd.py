"""The drop-in Live device: max_patches/MusicGen Bridge.amxd holds exactly the patcher, in the
chunk layout Live reads, with its script beside it."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tools import amxd

ROOT = Path(__file__).resolve().parents[2]
DEVICE = ROOT / "max_patches" / "MusicGen Bridge.amxd"
PATCH = ROOT / "max_patches" / "MusicGen Bridge.maxpat"


def chunks_as_live_reads_them(data: bytes) -> list[tuple[str, bytes]]:
    """A reader written from the format, independent of tools.amxd: tag, LE length, data."""
    out, offset = [], 0
    while offset < len(data):
        tag = data[offset:offset + 4].decode("ascii")
        size = int.from_bytes(data[offset + 4:offset + 8], "little")
        out.append((tag, data[offset + 8:offset + 8 + size]))
        offset += 8 + size
    assert offset == len(data), "chunk lengths must add up to the file"
    return out


def test_the_device_is_the_patcher_in_an_audio_effect_wrapper():
    chunks = chunks_as_live_reads_them(DEVICE.read_bytes())
    assert [tag for tag, _ in chunks] == ["ampf", "meta", "ptch"]
    assert chunks[0][1] == b"aaaa"  # Max Audio Effect: it lives on the audio track it fills
    patch = chunks[2][1]
    assert patch.endswith(b"\0")
    assert json.loads(patch[:-1].decode("utf-8")) == json.loads(PATCH.read_text())


def test_the_device_is_up_to_date_with_the_patcher():
    assert amxd.main([]) == 0, "run python -m tools.amxd --write"


def test_the_script_ships_beside_the_device():
    patcher = json.loads(PATCH.read_text())["patcher"]
    scripts = [b["box"]["text"].split()[1] for b in patcher["boxes"]
               if b["box"].get("text", "").startswith("js ")]
    assert scripts == ["musicgen_bridge.js"]
    assert (DEVICE.parent / scripts[0]).is_file()


def test_parse_round_trips_and_refuses_what_is_not_a_device():
    device_type, patcher = amxd.parse(amxd.build('{"patcher": {"boxes": []}}', amxd.MIDI_EFFECT))
    assert (device_type, patcher) == (b"mmmm", {"patcher": {"boxes": []}})
    with pytest.raises(ValueError, match="not an .amxd"):
        amxd.parse(b"meta" + struct.pack("<I", 0))
    frozen = b"ampf" + struct.pack("<I", 4) + b"aaaa" + b"ptch" + struct.pack("<I", 8) + b"mx@c\0\0\0\x10"
    with pytest.raises(ValueError, match="frozen"):
        amxd.parse(frozen)
    with pytest.raises(ValueError, match="claims"):
        amxd.parse(b"ampf" + struct.pack("<I", 40) + b"aaaa")
    with pytest.raises(json.JSONDecodeError):
        amxd.build("{not json")

"""The Reaper scripts as files: they compile, call only real ReaScript functions, carry
ReaPack headers, and the ReaPack index matches those headers."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.reaper.reaper_support import HERE, SCRIPTS, find_luac
from tools import reaper_pack

LUA_FILES = sorted(SCRIPTS.glob("*.lua"))
ACTIONS = [p for p in LUA_FILES if p.name.startswith("MusicGen - ")]
TEST_LUA = sorted(HERE.glob("*.lua"))


def test_every_script_is_tested_here():
    assert {p.name for p in ACTIONS} == {
        "MusicGen - Generate from time selection.lua", "MusicGen - Continue from time selection.lua",
        "MusicGen - Importer.lua", "MusicGen - Settings.lua",
        "MusicGen - Train style from selected items.lua"}


@pytest.mark.parametrize("path", LUA_FILES + TEST_LUA, ids=lambda p: p.name)
def test_compiles(path: Path):
    # One file per luac call: Debian's luac5.4 5.4.4 crashes on several files at once.
    result = subprocess.run([find_luac(), "-p", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _calls(path: Path) -> set[str]:
    return set(re.findall(r"\breaper\.(\w+)\s*\(", path.read_text(encoding="utf-8")))


def test_scripts_call_only_real_reascript_functions_that_the_fake_models():
    api = {line.strip() for line in (HERE / "reaper_api_names.txt").read_text().splitlines()
           if line.strip() and not line.startswith("#")}
    fake = (HERE / "fake_reaper.lua").read_text(encoding="utf-8")
    used = set().union(*(_calls(p) for p in LUA_FILES))
    assert used, "no reaper.X( calls found: the pattern is broken"
    assert used <= api, f"not in the ReaScript API: {sorted(used - api)}"
    unmodelled = sorted(name for name in used if f"r.{name} = " not in fake)
    assert unmodelled == [], f"used by the scripts but not in fake_reaper.lua: {unmodelled}"


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.name)
def test_reapack_header(path: Path):
    tags = reaper_pack.read_header(path).tags
    missing = [t for t in reaper_pack.REQUIRED_TAGS if not tags.get(t)]
    assert missing == []
    main = reaper_pack.read_header(SCRIPTS / reaper_pack.MAIN_SCRIPT).tags
    assert tags["version"] == main["version"], "all scripts release together"
    if path.name != reaper_pack.MAIN_SCRIPT:
        # Only the package's main file is indexed; see bridge/reaper_pack.py.
        assert "noindex" in tags


def test_the_package_provides_every_script_and_only_existing_files():
    provided = {name for _, name in reaper_pack.read_header(SCRIPTS / reaper_pack.MAIN_SCRIPT)
                .provides} | {reaper_pack.MAIN_SCRIPT}
    assert provided == {p.name for p in LUA_FILES}


def test_index_xml_is_up_to_date_and_well_formed():
    text = (SCRIPTS / "index.xml").read_text(encoding="utf-8")
    assert text == reaper_pack.render_index(), "run python -m tools.reaper_pack --write"
    root = ET.fromstring(text)
    sources = root.findall(".//source")
    assert {s.get("file") for s in sources} == {p.name for p in LUA_FILES}
    actions = {s.get("file") for s in sources if s.get("main") == "main"}
    assert actions == {p.name for p in ACTIONS}

"""Helpers for running the Reaper scripts under a real Lua 5.4 against the fake reaper table.

``run_script(script, scenario)`` writes the scenario as JSON, runs tests/reaper/run.lua on it
and returns what the script did (see run.lua). The interpreter is Debian's ``lua5.4``
(``apt-get install lua5.4``); it is a real peer like liblo or JACK, so a missing one fails the
tests with the install command rather than skipping them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "reaper_scripts"
HERE = Path(__file__).resolve().parent
GENERATE = SCRIPTS / "MusicGen - Generate from time selection.lua"
CONTINUE = SCRIPTS / "MusicGen - Continue from time selection.lua"
IMPORTER = SCRIPTS / "MusicGen - Importer.lua"
SETTINGS = SCRIPTS / "MusicGen - Settings.lua"
TRAIN = SCRIPTS / "MusicGen - Train style from selected items.lua"


def find_lua() -> str:
    for name in ("lua5.4", "lua"):
        path = shutil.which(name)
        if path and "5.4" in subprocess.run([path, "-v"], capture_output=True, text=True).stdout:
            return path
    pytest.fail("no Lua 5.4 interpreter: install it (Debian/Ubuntu: apt-get install lua5.4; "
                "macOS: brew install lua)")


def find_luac() -> str:
    for name in ("luac5.4", "luac"):
        path = shutil.which(name)
        if path and "5.4" in subprocess.run([path, "-v"], capture_output=True, text=True).stdout:
            return path
    pytest.fail("no luac 5.4: install it (Debian/Ubuntu: apt-get install lua5.4)")


def lua_eval(code: str) -> str:
    """Run ``code`` with ``lib`` (MusicGen_lib.lua) loaded and ``reaper`` an empty table."""
    prelude = f"reaper = {{}}; local lib = dofile({json.dumps(str(SCRIPTS / 'MusicGen_lib.lua'))}); "
    result = subprocess.run([find_lua(), "-e", prelude + code], capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout




def project(path: Path, **fields: Any) -> dict[str, Any]:
    """A fake project saved at ``path`` (an .rpp path), with scenario fields."""
    return {"file": str(path), **fields}


def tracks(result: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
    return result["projects"][index]["tracks"]


def musicgen_items(result: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
    named = [t for t in tracks(result, index) if t["name"] == "MusicGen"]
    assert len(named) <= 1, "more than one MusicGen track"
    return named[0]["items"] if named else []


def write_running_daemon_status(folder: Path) -> dict[str, Any]:
    """status.json as a running daemon writes it (the real writer, heartbeat now)."""
    from bridge.output.status import StatusFile

    status = StatusFile(folder, version="test", model="tiny")
    status.start()  # writes alive + heartbeat; the heartbeat thread is stopped at once
    status._stop.set()
    return status.snapshot()

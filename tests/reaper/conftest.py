"""Fixtures for the Reaper script tests (helpers live in reaper_support.py)."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reaper.reaper_support import HERE, find_lua


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    counter = itertools.count(1)
    lua = find_lua()

    def run(script: Path, scenario: dict[str, Any]) -> dict[str, Any]:
        n = next(counter)
        scenario_path = tmp_path / f"scenario{n}.json"
        result_path = tmp_path / f"result{n}.json"
        scenario_path.write_text(json.dumps({"script": str(script), **scenario}),
                                 encoding="utf-8")
        proc = subprocess.run([lua, str(HERE / "run.lua"), str(scenario_path), str(result_path)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"run.lua failed:\n{proc.stdout}\n{proc.stderr}"
        return json.loads(result_path.read_text(encoding="utf-8"))

    return run

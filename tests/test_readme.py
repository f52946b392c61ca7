"""README.md is what a new user reads first: its contract tables must match the package."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.params import PARAMS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _table_rows(heading: str) -> dict[str, list[str]]:
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[2:]}  # no header


def test_parameter_table_matches_the_package():
    rows = _table_rows("## Sampling parameters")
    assert set(rows) == set(PARAMS)
    for name, (span, default, curve) in rows.items():
        spec = PARAMS[name]
        low, high = re.match(r"([\d.]+)\.\.([\d.]+)", span).groups()
        assert (float(low), float(high)) == (spec.minimum, spec.maximum), name
        assert float(default) == spec.default, name
        if spec.knob:
            assert curve == spec.curve, name


def test_the_first_two_commands_are_the_setup_and_test_commands_ci_runs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    commands = [line for line in README.split("```", 2)[1].splitlines()
                if line and not line.startswith(("#", "bash\n")) and line != "bash"]
    assert len(commands) == 2
    # CI proves exactly what a new user runs: the whole line, then its own checks after it.
    assert commands[1] in ci.splitlines()
    assert commands[0].startswith("bash .ci/setup && ")

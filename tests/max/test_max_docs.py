"""docs/ableton.md describes the dials the package defines."""

from __future__ import annotations

import re

import pytest

from bridge.params import KNOB_PARAMS, PARAMS
from tests.max.maxpat import ROOT

DOC = ROOT / "docs" / "ableton.md"


def dial_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in {PARAMS[n].label for n in KNOB_PARAMS}:
            rows[cells[0]] = cells
    return rows


def number(text: str) -> float:
    return float(re.match(r"-?\d+(?:\.\d+)?", text).group(0))


@pytest.mark.parametrize("name", KNOB_PARAMS)
def test_dial_table_matches_params(name):
    spec = PARAMS[name]
    label, span, default, curve = dial_rows()[spec.label]
    low, high = span.split("..")
    assert (number(low), number(high)) == (spec.minimum, spec.maximum)
    assert number(default) == spec.default
    assert curve == spec.curve

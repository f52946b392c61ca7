"""docs/midi.md shows the mapping, mode and trigger tables exactly as the code has them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.midi.mapping import parse_mappings
from bridge.midi.triggers import parse_notes
from tools.midi_docs import tables

DOC = Path(__file__).resolve().parents[2] / "docs" / "midi.md"


@pytest.mark.parametrize("table", tables().split("\n\n"))
def test_docs_contain_each_table(table):
    assert table.strip() in DOC.read_text(encoding="utf-8"), \
        "docs/midi.md is stale: paste `python -m tools.midi_docs` over its tables"


def test_the_toml_examples_in_the_docs_are_valid():
    import tomlkit

    text = DOC.read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    assert len(blocks) >= 3
    for block in blocks:
        document = tomlkit.parse(block)
        midi = document.get("midi", {})
        if "mappings" in midi:
            parse_mappings(midi["mappings"].unwrap())
        if "notes" in midi:
            parse_notes(midi["notes"].unwrap())

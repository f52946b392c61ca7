"""Every OSC address the docs and scripts name must exist in the package's address table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.osc.addresses import BY_ADDRESS

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("reaper_scripts/*.lua"),
                *ROOT.glob("max_patches/*.js")])


def _known(address: str) -> bool:
    # "/musicgen/knob/<param>" is written as the prefix "/musicgen/knob".
    return address in BY_ADDRESS or any(a.startswith(address + "/") for a in BY_ADDRESS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_addresses_exist(path):
    named = {m.rstrip("/") for m in re.findall(r"/musicgen(?:/[a-z_]+)+/?", path.read_text())}
    unknown = sorted(a for a in named if not _known(a))
    assert unknown == [], f"{path.name} names addresses the daemon does not have"


def test_the_check_can_fail():
    assert not _known("/musicgen/bpm") and _known("/musicgen/knob") and _known("/musicgen/tempo")

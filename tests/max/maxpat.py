"""Reading the Max for Live device's files for the tests in this folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "max_patches" / "MusicGen Bridge.maxpat"
JS = ROOT / "max_patches" / "musicgen_bridge.js"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Patch:
    patcher: dict[str, Any]
    boxes: dict[str, dict[str, Any]]  # id -> box
    lines: list[tuple[str, int, str, int]]  # (source id, outlet, destination id, inlet)

    def by_class(self, maxclass: str) -> list[dict[str, Any]]:
        return [b for b in self.boxes.values() if b["maxclass"] == maxclass]

    def objects(self, name: str) -> list[dict[str, Any]]:
        """newobj boxes whose first word is ``name`` (e.g. "prepend", "udpsend")."""
        return [b for b in self.by_class("newobj") if obj_name(b) == name]

    def one(self, name: str) -> dict[str, Any]:
        found = self.objects(name)
        assert len(found) == 1, f"expected one [{name}], found {len(found)}"
        return found[0]

    def targets(self, box_id: str, outlet: int = 0) -> list[tuple[dict[str, Any], int]]:
        return [(self.boxes[d], i) for s, o, d, i in self.lines if s == box_id and o == outlet]

    def next(self, box_id: str, outlet: int = 0) -> dict[str, Any]:
        """The one box that ``outlet`` feeds, into its left inlet."""
        found = self.targets(box_id, outlet)
        assert len(found) == 1 and found[0][1] == 0, (
            f"{self.boxes[box_id].get('text', box_id)} outlet {outlet} feeds {found}")
        return found[0][0]

    def sources(self, box_id: str, inlet: int = 0) -> list[tuple[dict[str, Any], int]]:
        return [(self.boxes[s], o) for s, o, d, i in self.lines if d == box_id and i == inlet]


def obj_name(box: dict[str, Any]) -> str:
    return box.get("text", "").split(" ")[0] if box["maxclass"] == "newobj" else ""


def valueof(box: dict[str, Any]) -> dict[str, Any]:
    return box.get("saved_attribute_attributes", {}).get("valueof", {})


def load_patch() -> Patch:
    data = json.loads(PATCH.read_text(encoding="utf-8"))
    patcher = data["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    lines = [(p["patchline"]["source"][0], p["patchline"]["source"][1],
              p["patchline"]["destination"][0], p["patchline"]["destination"][1])
             for p in patcher["lines"]]
    return Patch(patcher, boxes, lines)


def js_declared(name: str) -> int:
    """``inlets = 1;`` / ``outlets = 4;`` as the js declares them for Max."""
    match = re.search(rf"^{name}\s*=\s*(\d+)\s*;", JS.read_text(encoding="utf-8"), re.M)
    assert match, f"{JS.name} does not declare {name}"
    return int(match.group(1))


def js_message_functions() -> set[str]:
    """Top-level functions, i.e. the messages Max's js object answers."""
    return set(re.findall(r"^function (\w+)\s*\(", JS.read_text(encoding="utf-8"), re.M))


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("Node.js (18+) is needed to test max_patches/musicgen_bridge.js; install it")
    return exe


def run_node(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([node(), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)

"""The package's one direction of data flow, enforced on the import graph.

control in (osc, midi, inbox) -> session -> jobs -> engine -> post -> output, with the shared
vocabulary (events, requests, parameters, musical time) at the bottom and the application that
assembles it all (cli, daemon, services, config) on top. Every import counts: top level,
inside a function, or under ``TYPE_CHECKING``; a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bridge"

# Higher rank may import lower rank; equal rank only within the same room.
RANKS: dict[str, int] = {
    "__main__": 11, "cli": 10, "midi_cli": 9, "style_cli": 9, "services": 9,
    "doctor": 9,
    "daemon": 8, "worker": 8, "install": 8, "preflight": 8,
    "config": 7,
    "osc": 6, "midi": 6, "inbox": 6,
    "session": 5,
    "jobs": 4,
    "engine": 3,
    "post": 2,
    "output": 1,
    "errors": 0, "reading": 0, "stopping": 0, "events": 0, "files": 0, "schema": 0, "params": 0,
    "musical_time": 0, "prompt": 0, "request": 0,
    "__init__": 0,
}
# Inputs are peers: none may import another (they meet only in the daemon).
PEERS = {"osc", "midi", "inbox"}
# The bottom modules are a vocabulary, imported by everyone; among themselves this order holds.
BOTTOM_ORDER = ["__init__", "errors", "reading", "stopping", "files", "schema", "musical_time",
                "params", "prompt", "request", "events"]

# Arrows that still point the wrong way, each with the issue that removes it. The test fails
# when a new one appears, and when one of these is gone (so the list only shrinks).
KNOWN: set[tuple[str, str]] = set()


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    """Every bridge/tools module named by an import anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            # "from bridge.osc import server" imports the module bridge.osc.server
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("bridge", "tools")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        graph[module] = {_resolve(name, modules) for name in _imports(module, path)} - {None}
    return graph


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    if name.startswith("tools"):
        return name
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _allowed(src: str, dst: str) -> bool:
    if dst.startswith("tools"):
        return False  # generators may read the package; the package never needs them
    a, b = _room(src), _room(dst)
    if a == b:
        return True
    if a in PEERS and b in PEERS:
        return False
    ra, rb = RANKS[a], RANKS[b]
    if ra == rb == 0:
        return BOTTOM_ORDER.index(a) > BOTTOM_ORDER.index(b)
    return ra > rb


def _violations() -> set[tuple[str, str]]:
    return {(src, dst) for src, targets in _graph().items() for dst in targets
            if dst != src and not _allowed(src, dst)}


def test_every_room_has_a_rank():
    rooms = {_room(m) for m in _modules()}
    assert rooms <= set(RANKS), f"give these rooms a rank: {sorted(rooms - set(RANKS))}"


def test_no_import_runs_back_up():
    new = _violations() - KNOWN
    assert not new, "imports against the flow (move the code down or pass it in):\n" + \
        "\n".join(f"  {src} -> {dst}" for src, dst in sorted(new))


def test_the_known_back_arrows_only_shrink():
    gone = KNOWN - _violations()
    assert not gone, f"no longer imported, remove from KNOWN: {sorted(gone)}"


@pytest.mark.parametrize(("src", "dst", "ok"), [
    ("bridge.osc.server", "bridge.session.state", True),
    ("bridge.osc.server", "bridge.midi.service", False),
    ("bridge.session.state", "bridge.osc.feedback", False),
    ("bridge.output.writer", "bridge.post.finishing", False),
    ("bridge.post.finishing", "bridge.output.writer", True),
    ("bridge.events", "bridge.request", True),
    ("bridge.request", "bridge.events", False),
    ("bridge.daemon", "tools.osc_docs", False),
])
def test_the_rule_itself(src, dst, ok):
    assert _allowed(src, dst) is ok


def test_the_scan_sees_lazy_and_type_checking_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from bridge.daemon import Daemon\n"
                      "def f():\n    from bridge.osc import server\n    import bridge.midi.ports\n")
    found = _imports("bridge.session.sample", sample)
    assert {"bridge.daemon.Daemon", "bridge.osc.server", "bridge.midi.ports"} <= found

"""No module leans on another's private names: what two modules share is public (the fast
engine once used the reference engine's lock and helpers; now both use
bridge.engine.conditioning). A name starting with "_" is used only in the file defining it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def foreign_private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = _defined(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bridge"):
            found += [f"{path.name}:{node.lineno}: from {node.module} import {a.name}"
                      for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [use for path in sorted((ROOT / "bridge").rglob("*.py"))
             for use in foreign_private_uses(path)]
    assert found == []


def test_the_check_sees_both_kinds_of_reach(tmp_path):
    # The fast engine's old seams, in miniature: both are reported.
    sample = tmp_path / "fast.py"
    sample.write_text("from bridge.engine.transformers_engine import _GENERATE_LOCK\n"
                      "def go(reference):\n    return reference._conditioning_inputs()\n")
    assert foreign_private_uses(sample) == [
        "fast.py:1: from bridge.engine.transformers_engine import _GENERATE_LOCK",
        "fast.py:3: reference._conditioning_inputs"]

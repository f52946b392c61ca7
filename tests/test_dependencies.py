"""The declared dependencies cover what the package imports: a fresh `pip install` must not
depend on what some other package happens to pull in."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# import name -> distribution name, where they differ
DIST = {"rtmidi": "python-rtmidi", "pythonosc": "python-osc", "yaml": "pyyaml",
        "sklearn": "scikit-learn",
        # pydantic pins its own core exactly; pydantic's docs import core_schema from it.
        "pydantic_core": "pydantic"}


def _declared() -> dict[str, str]:
    found = {}
    for spec in PYPROJECT["project"]["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", spec).group().lower().replace("_", "-")
        found[name] = spec
    return found


# Packages whose modules need an optional extra: (folder, extra, imports the extra brings along)
EXTRAS = [("bridge/worker", "cluster", {"starlette"}),  # ray[serve] installs starlette
          ("bridge/engine/styles.py", "styles", set()),
          ("bridge/engine/style_train.py", "styles", set())]


def _top_level_imports(folder: str = "bridge", skip: tuple[str, ...] = ()) -> set[str]:
    names: set[str] = set()
    top = ROOT / folder
    for path in ([top] if top.is_file() else top.rglob("*.py")):
        if any(path.is_relative_to(ROOT / s) for s in skip):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("bridge", "tools")}


def test_every_imported_package_is_declared():
    declared = _declared()
    optional = {"huggingface_hub"}  # comes with transformers, imported only when present
    missing = sorted(n for n in _top_level_imports(skip=tuple(e[0] for e in EXTRAS)) - optional
                     if DIST.get(n, n).lower().replace("_", "-") not in declared)
    assert not missing, f"imported by bridge/ but not in [project] dependencies: {missing}"


def test_what_an_optional_package_imports_is_in_its_extra():
    declared = set(_declared())
    for folder, extra, brought in EXTRAS:
        names = {re.match(r"[A-Za-z0-9_.-]+", spec).group().lower().replace("_", "-")
                 for spec in PYPROJECT["project"]["optional-dependencies"][extra]}
        missing = sorted(n for n in _top_level_imports(folder) - brought
                         if DIST.get(n, n).lower().replace("_", "-") not in names | declared)
        assert not missing, f"{folder} imports {missing}, not in the [{extra}] extra"


def test_transformers_floor_has_the_dtype_keyword_the_engine_passes():
    engine = (ROOT / "bridge/engine/transformers_engine.py").read_text(encoding="utf-8")
    assert "from_pretrained(source, dtype=" in engine
    floor = re.search(r">=\s*([\d.]+)", _declared()["transformers"]).group(1)
    assert tuple(int(x) for x in floor.split(".")[:2]) >= (4, 56), \
        "from_pretrained(dtype=) arrived in transformers 4.56 (before: torch_dtype=)"

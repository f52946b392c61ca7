"""Generated files kept in the repository: write them, or check that they are up to date."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_or_check(path: Path, content: bytes, *, write: bool, module: str) -> int:
    """Exit status: ``write`` rewrites ``path``; otherwise 1 (with the command that fixes it)
    when the file differs from ``content``."""
    name = path.relative_to(ROOT)
    if write:
        path.write_bytes(content)
        print(f"wrote {name} ({len(content)} bytes)")
        return 0
    if not path.exists() or path.read_bytes() != content:
        print(f"{name} is out of date: run python -m {module} --write", file=sys.stderr)
        return 1
    return 0

"""File-system helpers for writes that must be complete and durable before anyone sees them."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(folder: Path) -> None:
    """Make renames into ``folder`` durable; a no-op where directories cannot be opened
    (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

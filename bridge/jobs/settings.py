"""The [queue] config section: how many jobs may wait, and where they are journaled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field

from bridge.schema import Check, Section, int_range


def check_journal(value: object) -> str:
    """The journal must be a file we can write (or create), checked at load, not at the first
    job."""
    if not isinstance(value, str):
        raise ValueError("expected a string")
    if not value:
        return value
    path = Path(value).expanduser()
    if path.is_dir():
        raise ValueError("is a folder; name a file, e.g. \"~/musicgen/journal.jsonl\"")
    if path.exists():
        try:
            with open(path, "r+b"):  # opened for writing, not changed
                pass
        except OSError as err:
            raise ValueError(f"the file is not writable ({err.strerror})") from None
        return value
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the daemon creates missing folders below the first existing one
    # A probe, because permission bits do not tell (read-only mounts, root on /sys).
    probe = parent / f".musicgen-journal-probe-{os.getpid()}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"cannot create it: {parent} is not a writable folder "
                         f"({err.strerror})") from None
    return value


class QueueSettings(Section):
    max_pending: Annotated[int, int_range(1, 1000)] = Field(16, description=(
        "queued jobs beyond this are refused"))
    journal: Annotated[str, Check(check_journal, {"type": "string"})] = Field(
        "", description="pending-jobs journal (empty: in the data folder)")

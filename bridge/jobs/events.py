"""Jobs and the events the worker publishes about them (queued ... done/failed/cancelled)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from bridge.request import GenerationRequest


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Event kinds, in the order a job normally sees them.
QUEUED = "queued"
STARTED = "started"
PROGRESS = "progress"
WRITING = "writing"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class ClipInfo:
    """A finished clip file, complete on disk, with its sidecar already beside it."""

    path: str
    sidecar: str
    job_id: int
    variation: int
    duration_s: float
    position_s: float | None
    client_id: str = ""


@dataclass(frozen=True)
class JobEvent:
    kind: str
    job_id: int
    request: GenerationRequest
    progress: float = 0.0
    clips: tuple[ClipInfo, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class JobInfo:
    job_id: int
    state: JobState
    request: GenerationRequest
    progress: float = 0.0
    error: str = ""
    clips: tuple[ClipInfo, ...] = field(default_factory=tuple)

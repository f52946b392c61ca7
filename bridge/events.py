"""The events every room publishes and the bus that carries them (the bottom of the house).

Jobs publish ``JobEvent``; inputs and stages publish ``ErrorReport`` and ``Learned``; the
session publishes ``StateChanged`` (bridge.session.state). Outputs (OSC feedback, MIDI echo,
the CLI's progress bar) subscribe to the bus. Living here, apart from any input or output,
they let any stage publish and any output show without importing each other.

Subscribers are called on the publishing thread and must not block: an output that does I/O
puts the event on its own queue and sends from its own thread. A subscriber that raises is
logged and the others still get the event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from bridge.request import GenerationRequest

log = logging.getLogger(__name__)

Subscriber = Callable[[object], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: object) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("feedback subscriber %r failed on %r", callback, event)


# ---- errors and MIDI learn ----

@dataclass(frozen=True)
class ErrorReport:
    """Something went wrong or deserves a warning: shown on /musicgen/error (about, reason)."""

    about: str
    reason: str


@dataclass(frozen=True)
class Learned:
    """MIDI learn bound a control to a parameter (and saved it into the config file)."""

    param: str
    channel: int  # 1..16, as in the config file and on controllers
    cc: int  # the controller number (the MSB for absolute14)
    mode: str = "absolute"  # a bridge.midi.mapping.MODES name


# ---- styles: training progress and the result ----

STYLE_PROGRESS = "progress"
STYLE_DONE = "done"
STYLE_FAILED = "failed"


@dataclass(frozen=True)
class StyleEvent:
    """Training style ``name``: progress 0..1, then done (``path``) or failed (``error``)."""

    kind: str
    name: str
    progress: float = 0.0
    path: str = ""
    error: str = ""
    client_id: str = ""


# ---- jobs: queued ... done/failed/cancelled ----

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
RETRY = "retry"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"

# PROGRESS events come at most once per this fraction of a job (the engine reports every
# decoding step, hundreds per clip); subscribers may show fewer (OSC feedback does).
PROGRESS_STEP = 0.01


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
    # RETRY: the attempt about to start (2, 3, ...); ``error`` says why the last was dropped.
    attempt: int = 0


@dataclass(frozen=True)
class JobInfo:
    job_id: int
    state: JobState
    request: GenerationRequest
    progress: float = 0.0
    error: str = ""
    clips: tuple[ClipInfo, ...] = field(default_factory=tuple)

"""Helpers for the job queue tests: a recording publisher, a controllable run function.

The queue is engine-agnostic, so these tests drive it with a run function written here; the
real engine goes through it in the end-to-end tests.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.engine.base import Cancelled
from bridge.events import ClipInfo, JobEvent
from bridge.jobs.queue import JobContext, JobQueue
from bridge.request import GenerationRequest

WAIT_S = 5.0  # generous: two shared cores; every wait returns as soon as its condition holds


@pytest.fixture(autouse=True)
def _every_test_checked_for_thread_leaks(no_thread_leaks: None) -> None:
    """Every queue test starts a worker: each must stop it (the shared no_thread_leaks)."""


def _make_request(prompt: str = "dusty funk drums", **changes: object) -> GenerationRequest:
    return GenerationRequest.from_dict({"prompt": prompt, "bpm": 120, "bars": 4, **changes})


@pytest.fixture
def make_request() -> Callable[..., GenerationRequest]:
    """``make_request(prompt="...", **fields)``: a valid request (120 BPM, 4 bars)."""
    return _make_request


class Recorder:
    """The queue's publish callable: keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: object) -> None:
        assert isinstance(event, JobEvent)
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, kind: str, job_id: int) -> JobEvent:
        def found() -> JobEvent | None:
            return next((e for e in self.events if e.kind == kind and e.job_id == job_id), None)

        with self._changed:
            assert self._changed.wait_for(lambda: found() is not None, WAIT_S), \
                f"no {kind} event for job {job_id}; got {self.kinds()}"
            event = found()
        assert event is not None
        return event

    def of(self, job_id: int) -> list[str]:
        with self._changed:
            return [e.kind for e in self.events if e.job_id == job_id]

    def kinds(self) -> list[tuple[str, int]]:
        with self._changed:
            return [(e.kind, e.job_id) for e in self.events]


class Runner:
    """A RunFn: records what ran; a held job blocks until released or cancelled.

    ``body``, when set, runs after that (report progress, raise an error).
    """

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.requests: dict[int, GenerationRequest] = {}
        self.body: Callable[[JobContext], None] | None = None
        self._held: set[int] = set()
        self._released: defaultdict[int, threading.Event] = defaultdict(threading.Event)
        self._started: defaultdict[int, threading.Event] = defaultdict(threading.Event)

    def hold(self, job_id: int) -> None:
        self._held.add(job_id)

    def release(self, job_id: int) -> None:
        self._released[job_id].set()

    def wait_started(self, job_id: int) -> None:
        assert self._started[job_id].wait(WAIT_S), f"job {job_id} never started"

    def __call__(self, ctx: JobContext) -> tuple[ClipInfo, ...]:
        self.ran.append(ctx.job_id)
        self.requests[ctx.job_id] = ctx.request
        self._started[ctx.job_id].set()
        if ctx.job_id in self._held:
            released = self._released[ctx.job_id]
            # Waits on whichever comes first, like an engine checking cancel every step.
            while not released.wait(0.005):
                if ctx.cancel.is_set():
                    raise Cancelled()
        if self.body is not None:
            self.body(ctx)
        return (ClipInfo(path=f"/clips/{ctx.job_id}.wav", sidecar=f"/clips/{ctx.job_id}.json",
                         job_id=ctx.job_id, variation=0, duration_s=8.0, position_s=None),)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
def make_queue(recorder: Recorder, runner: Runner) -> Iterator[Callable[..., JobQueue]]:
    """Builds queues (default run: ``runner``, publish: ``recorder``) and stops them after."""
    queues: list[JobQueue] = []

    def make(run: Callable[[JobContext], tuple[ClipInfo, ...]] | None = None, *,
             journal_path: Path | None = None, start: bool = True, **kwargs: object) -> JobQueue:
        queue = JobQueue(run or runner, recorder, journal_path=journal_path, **kwargs)
        queues.append(queue)
        if start:
            queue.start()
        return queue

    yield make
    for queue in queues:
        queue.stop(timeout=WAIT_S)


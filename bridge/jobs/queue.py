"""The job queue: one worker thread owns the model and runs generation jobs one at a time.

The queue knows nothing about models: it calls a ``RunFn`` with a ``JobContext`` (request,
cancel event, progress and writing callbacks) and publishes ``JobEvent``s about each job
(queued, started, progress, writing, done, failed, cancelled). Another engine (the fast decode
loop, a remote GPU) plugs in as another ``RunFn`` without touching the queue, the inputs or the
writer.

Events are published in the order the state changed, one at a time, never while the queue's
state lock is held, so a subscriber may call back into the queue (``jobs()``, ``cancel()``).
Pending jobs are journaled (bridge.jobs.journal) so a restart resumes them.

Background tasks (``submit_task``: training a style) run on the same worker, one bounded step
at a time and only while no generation job waits: a job queued during training starts as
soon as the current step ends.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from bridge.engine.base import Cancelled
from bridge.errors import UserError
from bridge.events import (
    CANCELLED,
    DONE,
    FAILED,
    PROGRESS,
    PROGRESS_STEP,
    QUEUED,
    RETRY,
    STARTED,
    WRITING,
    ClipInfo,
    JobEvent,
    JobInfo,
    JobState,
)
from bridge.jobs.journal import Journal, JournalEntry, JournalLock
from bridge.request import GenerationRequest

log = logging.getLogger(__name__)

DEFAULT_MAX_PENDING = 16
DEFAULT_HISTORY = 100
# A job that was running each time the daemon died this often is given up: it may be what
# kills the daemon, and resuming it forever would be a crash loop.
MAX_ATTEMPTS = 3

OUT_OF_GPU_MEMORY = "out of GPU memory: try fewer variations or bars, or a smaller model"
OUT_OF_MEMORY = "out of memory: try fewer variations or bars, or a smaller model"
INTERRUPTED = "interrupted: the daemon stopped; the job runs again when it starts"


class QueueFull(UserError):
    def __init__(self, max_pending: int) -> None:
        super().__init__(f"queue is full ({max_pending} jobs waiting); "
                         "wait for one to finish or cancel one")
        self.max_pending = max_pending


def _ignore_progress(fraction: float) -> None:
    """Default for a JobContext built outside a queue (engine tests)."""


def _ignore_writing() -> None:
    """Default for a JobContext built outside a queue (engine tests)."""


def _ignore_retry(attempt: int, reason: str) -> None:
    """Default for a JobContext built outside a queue (engine tests)."""


@dataclass(frozen=True)
class JobContext:
    """What a run function gets: the request, a cancel event to honour, progress callbacks."""

    job_id: int
    request: GenerationRequest
    cancel: threading.Event
    _on_progress: Callable[[float], None] = field(
        default=_ignore_progress, repr=False, compare=False)
    _on_writing: Callable[[], None] = field(default=_ignore_writing, repr=False, compare=False)
    _on_retry: Callable[[int, str], None] = field(default=_ignore_retry, repr=False,
                                                  compare=False)

    def progress(self, fraction: float) -> None:
        """Report generation progress 0..1; cheap to call every step (events are throttled)."""
        self._on_progress(fraction)

    def writing(self) -> None:
        """Generation is done and the clips are being finished and written."""
        self._on_writing()

    def retrying(self, attempt: int, reason: str) -> None:
        """The clips are being generated again (``attempt`` 2, 3, ...) because of ``reason``."""
        self._on_retry(attempt, reason)


RunFn = Callable[[JobContext], tuple[ClipInfo, ...]]


class BackgroundTask(Protocol):
    """Long work cut into steps (training a style): the worker calls ``step`` between jobs."""

    name: str

    def step(self) -> bool:
        """Do one bounded piece of work; False when the task is over (it reports its own
        outcome). An exception ends the task too (logged)."""
        ...

    def stop(self) -> None:
        """The daemon stops: keep what resuming needs; ``step`` is not called again."""
        ...


def describe_failure(error: BaseException) -> str:
    """A message a producer can act on, for a run that raised ``error``."""
    chain = list(_causes(error))
    if any(_is_gpu_out_of_memory(err) for err in chain):
        return OUT_OF_GPU_MEMORY
    if any(isinstance(err, MemoryError) for err in chain):
        return OUT_OF_MEMORY
    if isinstance(error, OSError):
        paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
        reason = error.strerror or str(error) or type(error).__name__
        return f"file error: {reason}: {' -> '.join(paths)}" if paths else f"file error: {reason}"
    text = str(error)
    if isinstance(error, (ValueError, RuntimeError)) and text:
        # EngineError and validation errors already speak to the user.
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what it was raised from or during (an engine may wrap a torch error)."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_gpu_out_of_memory(error: BaseException) -> bool:
    # Matched by name and text so the queue does not import torch: torch.cuda.OutOfMemoryError
    # (torch.OutOfMemoryError in newer versions) and the plain RuntimeErrors of older torch
    # and MPS ("CUDA out of memory", "MPS backend out of memory").
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(error).__mro__):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


class _Progress:
    """Throttles one job's progress reports to PROGRESS events (worker thread only)."""

    def __init__(self, emit: Callable[[float], None]) -> None:
        self._emit = emit
        self._last = 0.0
        self._finished = False

    def report(self, fraction: float) -> None:
        if self._finished or not math.isfinite(fraction):
            return
        fraction = min(1.0, max(0.0, fraction))
        if fraction >= 1.0:
            self.finish()
        elif fraction - self._last >= PROGRESS_STEP - 1e-9:  # 0.03 - 0.02 < 0.01 in floats
            self._last = fraction
            self._emit(fraction)

    def finish(self) -> None:
        """Publish 1.0 exactly once, whatever the engine reported last."""
        if not self._finished:
            self._finished = True
            self._last = 1.0
            self._emit(1.0)


# Work items on the worker's priority queue: the stop sentinel goes before any job (stop
# leaves pending jobs in the journal), jobs run in id order, which puts resumed jobs first.
_STOP_PRIORITY = 0
_JOB_PRIORITY = 1
_STOP = None
_WAKE = -1  # wakes the worker for a background task


class JobQueue:
    """A bounded queue of generation jobs, run one at a time on one worker thread."""

    def __init__(self, run: RunFn, publish: Callable[[object], None], *,
                 max_pending: int = DEFAULT_MAX_PENDING, journal_path: Path | None = None,
                 history: int = DEFAULT_HISTORY) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self._run = run
        self._publish = publish
        self._max_pending = max_pending
        # One daemon per journal: a second one would run the first one's jobs and sweep its
        # in-flight temp file. Taken before the journal is read; released by stop().
        self._journal_lock = JournalLock.acquire(journal_path) if journal_path else None
        self._journal = Journal(journal_path)
        self._resumed = False
        self._lock = threading.Lock()
        self._pending: dict[int, JobInfo] = {}
        self._running: JobInfo | None = None
        self._running_cancel: threading.Event | None = None
        self._cancel_requested: set[int] = set()
        self._history: OrderedDict[int, JobInfo] = OrderedDict()
        self._history_size = max(0, history)
        self._work: queue.PriorityQueue[tuple[int, int, int | None]] = queue.PriorityQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Events leave through this outbox, in the order the state changed (see _flush).
        self._outbox: deque[JobEvent] = deque()
        self._publish_lock = threading.RLock()
        self._publishing = False
        self._order = itertools.count()
        self._tasks: deque[BackgroundTask] = deque()

    # -- public API ------------------------------------------------------------------------

    def resume(self) -> None:
        """Queue the jobs an earlier daemon journaled (QUEUED events), without running them:
        the daemon does this before its inputs start, so their first status counts them, and
        starts the worker after them, so no job starts (and no attempt is counted) when an
        input cannot start."""
        with self._lock:
            if self._resumed:
                return
            self._resumed = True
            for entry in self._journal.entries:
                if entry.job_id not in self._pending:
                    self._resume(entry)
        self._flush()

    def start(self) -> None:
        """Start the worker; jobs journaled by an earlier daemon run before any new ones."""
        self.resume()
        with self._lock:
            if self._thread is not None or self._stopping:
                raise RuntimeError("a JobQueue can be started only once")
            self._thread = threading.Thread(target=self._work_loop, name="bridge-job-worker",
                                            daemon=True)
            self._thread.start()
        self._flush()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running job, stop the worker and wait for it; pending jobs stay journaled.

        The interrupted job goes back to the journal too (not counted as an attempt), so the
        next start runs it again.
        """
        with self._lock:
            self._stopping = True
            if self._running_cancel is not None:
                self._running_cancel.set()
            thread = self._thread
        self._work.put((_STOP_PRIORITY, next(self._order), _STOP))  # unbounded: never blocks
        if thread is None:
            self._release_journal()
            return
        thread.join(timeout)
        self._release_journal()
        if thread.is_alive():
            log.warning("the job worker did not stop within %.1f s (the running job does not "
                        "honour cancel); leaving it behind", timeout)

    def _release_journal(self) -> None:
        lock, self._journal_lock = self._journal_lock, None
        if lock is not None:
            lock.release()

    def job_for(self, origin: str) -> int | None:
        """The job already queued (or run) from ``origin``, if recent; see ``submit``."""
        return self._journal.job_for(origin)

    def submit(self, request: GenerationRequest, origin: str | None = None) -> int:
        """Queue a job and return its id; raises QueueFull when max_pending jobs wait.

        Works before start() and after stop() too: the job is journaled and runs when a
        worker (this one, or the next daemon's) gets to it. With ``origin`` (a request
        file's identity) a second submit of the same origin returns the first job's id.
        """
        with self._lock:
            if origin and (existing := self._journal.job_for(origin)) is not None:
                return existing
            if len(self._pending) >= self._max_pending:
                raise QueueFull(self._max_pending)
            job_id = self._journal.add(request, origin)
            self._enqueue(JobInfo(job_id, JobState.QUEUED, request))
        self._flush()
        return job_id

    def submit_task(self, task: BackgroundTask) -> None:
        """Run ``task`` step by step whenever no generation job is waiting (one at a time, in
        the order submitted). Refused (ValueError) while one of the same name is queued."""
        with self._lock:
            if any(t.name == task.name for t in self._tasks):
                raise ValueError(f"{task.name} is already under way")
            self._tasks.append(task)
        self._work.put((_JOB_PRIORITY, _WAKE, _WAKE))

    def tasks(self) -> list[str]:
        with self._lock:
            return [t.name for t in self._tasks]

    def cancel_task(self, name: str) -> bool:
        """Stop a background task (it keeps what resuming needs); False when unknown."""
        with self._lock:
            task = next((t for t in self._tasks if t.name == name), None)
            if task is None:
                return False
            self._tasks.remove(task)
        task.stop()
        return True

    def cancel(self, job_id: int | None = None) -> bool:
        """Cancel a queued job or the running one (``None``: the running one).

        Returns False for an unknown or finished job. A running job ends when its run function
        honours the cancel event; the worker then publishes CANCELLED.
        """
        with self._lock:
            running = self._running
            if running is not None and job_id in (None, running.job_id):
                self._cancel_requested.add(running.job_id)
                if self._running_cancel is not None:  # always set together with _running
                    self._running_cancel.set()
                return True
            info = self._pending.pop(job_id, None) if job_id is not None else None
            if info is None:
                return False
            self._journal.remove(info.job_id)
            self._finish(replace(info, state=JobState.CANCELLED), CANCELLED)
        self._flush()
        return True

    def get(self, job_id: int) -> JobInfo | None:
        with self._lock:
            if self._running is not None and self._running.job_id == job_id:
                return self._running
            return self._pending.get(job_id) or self._history.get(job_id)

    def jobs(self) -> list[JobInfo]:
        """Recent finished jobs, the running one and the pending ones, newest last."""
        with self._lock:
            infos = [*self._history.values(), *self._pending.values()]
            if self._running is not None:
                infos.append(self._running)
        return sorted(infos, key=lambda info: info.job_id)

    @property
    def pending(self) -> int:
        """Jobs waiting to run, not counting the running one."""
        with self._lock:
            return len(self._pending)

    # -- bookkeeping (callers hold self._lock) ---------------------------------------------

    def _resume(self, entry: JournalEntry) -> None:
        info = JobInfo(entry.job_id, JobState.QUEUED, entry.request)
        if entry.attempts >= MAX_ATTEMPTS:
            log.error("job %d was running each of the last %d times the daemon stopped "
                      "unexpectedly; giving it up", entry.job_id, entry.attempts)
            self._journal.remove(entry.job_id)
            error = (f"given up: the daemon stopped unexpectedly {entry.attempts} times while "
                     "running this job (see the daemon log)")
            self._finish(replace(info, state=JobState.FAILED, error=error), FAILED)
            return
        log.info("resuming job %d from the journal", entry.job_id)
        self._enqueue(info)

    def _enqueue(self, info: JobInfo) -> None:
        self._pending[info.job_id] = info
        self._emit(JobEvent(QUEUED, info.job_id, info.request))
        self._work.put((_JOB_PRIORITY, info.job_id, info.job_id))

    def _finish(self, info: JobInfo, kind: str) -> None:
        self._history[info.job_id] = info
        while len(self._history) > self._history_size:
            self._history.popitem(last=False)
        self._emit(JobEvent(kind, info.job_id, info.request, progress=info.progress,
                            clips=info.clips, error=info.error))

    def _emit(self, event: JobEvent) -> None:
        self._outbox.append(event)

    # -- publishing ------------------------------------------------------------------------

    def _flush(self) -> None:
        """Publish queued events in order, outside the state lock.

        One thread publishes at a time; others wait, so when a public method returns its
        events are out. A subscriber that calls back into the queue on the publishing thread
        returns at once and the outer loop publishes its events, after the current one has
        reached every subscriber.
        """
        with self._publish_lock:
            if self._publishing:
                return
            self._publishing = True
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            return
                        event = self._outbox.popleft()
                    try:
                        self._publish(event)
                    except Exception:
                        log.exception("publishing %s for job %d failed", event.kind,
                                      event.job_id)
            finally:
                self._publishing = False

    # -- the worker ------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            with self._lock:
                has_task = bool(self._tasks)
            try:
                _, _, job_id = self._work.get(block=not has_task)
            except queue.Empty:  # nothing waits: one step of the background task
                self._step_task()
                continue
            if job_id is _STOP:
                self._stop_tasks()
                return
            if job_id == _WAKE:
                continue
            try:
                if not self._run_one(job_id):
                    return
            except Exception:
                # A bug in the bookkeeping, not in the run function: keep serving.
                log.exception("the job worker failed around job %d; going on", job_id)

    def _step_task(self) -> None:
        with self._lock:
            if not self._tasks:
                return
            task = self._tasks[0]
        try:
            more = task.step()
        except Exception:
            log.exception("background task %s failed", task.name)
            more = False
        if not more:
            with self._lock:
                if task in self._tasks:
                    self._tasks.remove(task)

    def _stop_tasks(self) -> None:
        with self._lock:
            tasks, self._tasks = list(self._tasks), deque()
        for task in tasks:
            try:
                task.stop()
            except Exception:
                log.exception("stopping background task %s failed", task.name)

    def _run_one(self, job_id: int) -> bool:
        """Run one job; False when the queue is stopping (the job stays pending)."""
        with self._lock:
            if self._stopping:
                return False
            info = self._pending.pop(job_id, None)
            if info is None:  # cancelled while queued
                return True
            cancel = threading.Event()
            self._running = replace(info, state=JobState.RUNNING)
            self._running_cancel = cancel
            self._journal.started(job_id)
            self._emit(JobEvent(STARTED, job_id, info.request))
        self._flush()
        progress = _Progress(lambda fraction: self._progress(job_id, fraction))

        def writing() -> None:
            progress.finish()
            self._event(job_id, WRITING)

        def retrying(attempt: int, reason: str) -> None:
            with self._lock:
                if self._running is not None and self._running.job_id == job_id:
                    self._emit(JobEvent(RETRY, job_id, self._running.request, error=reason,
                                        attempt=attempt))
            self._flush()

        context = JobContext(job_id, info.request, cancel, progress.report, writing, retrying)
        try:
            clips = tuple(self._run(context))
        except Cancelled:
            self._cancelled(job_id)
        except Exception as error:
            log.exception("job %d failed", job_id)
            self._end(job_id, JobState.FAILED, FAILED, error=describe_failure(error))
        else:
            progress.finish()
            self._end(job_id, JobState.DONE, DONE, clips=clips)
        return True

    def _progress(self, job_id: int, fraction: float) -> None:
        with self._lock:
            if self._running is None or self._running.job_id != job_id:
                return  # a late report from a run that already ended
            self._running = replace(self._running, progress=fraction)
            self._emit(JobEvent(PROGRESS, job_id, self._running.request, progress=fraction))
        self._flush()

    def _event(self, job_id: int, kind: str) -> None:
        with self._lock:
            if self._running is None or self._running.job_id != job_id:
                return
            self._emit(JobEvent(kind, job_id, self._running.request,
                                progress=self._running.progress))
        self._flush()

    def _cancelled(self, job_id: int) -> None:
        with self._lock:
            by_user = job_id in self._cancel_requested
            interrupted = self._stopping and not by_user and self._running is not None
            if interrupted:
                assert self._running is not None
                info = replace(self._running, state=JobState.QUEUED, progress=0.0)
                self._running, self._running_cancel = None, None
                self._pending[job_id] = info
                self._journal.interrupted(job_id)
                self._emit(JobEvent(CANCELLED, job_id, info.request, error=INTERRUPTED))
        if interrupted:
            log.info("job %d interrupted by the daemon stopping; it stays in the journal", job_id)
            self._flush()
        else:
            self._end(job_id, JobState.CANCELLED, CANCELLED)

    def _end(self, job_id: int, state: JobState, kind: str, *, error: str = "",
             clips: tuple[ClipInfo, ...] = ()) -> None:
        with self._lock:
            info = self._running
            self._running, self._running_cancel = None, None
            self._cancel_requested.discard(job_id)
            self._journal.remove(job_id)
            if info is not None:
                progress = 1.0 if state is JobState.DONE else info.progress
                self._finish(replace(info, state=state, progress=progress, error=error,
                                     clips=clips), kind)
        self._flush()

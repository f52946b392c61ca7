"""The job queue, driven by a run function written in the tests (see conftest.py)."""

from __future__ import annotations

import logging
import threading

import pytest

from bridge.engine.base import EngineError
from bridge.events import (
    CANCELLED,
    DONE,
    FAILED,
    PROGRESS,
    QUEUED,
    STARTED,
    WRITING,
    JobEvent,
    JobState,
)
from bridge.jobs.queue import (
    OUT_OF_GPU_MEMORY,
    JobContext,
    JobQueue,
    QueueFull,
    describe_failure,
)


def test_jobs_run_in_order_with_every_event(make_queue, runner, recorder, make_request):
    runner.body = lambda ctx: (ctx.progress(0.5), ctx.writing())
    queue = make_queue(start=False)
    ids = [queue.submit(make_request(f"take {n}")) for n in range(3)]
    assert ids == [1, 2, 3]
    queue.start()
    recorder.wait_for(DONE, 3)

    assert runner.ran == [1, 2, 3]
    assert [runner.requests[i].prompt for i in ids] == ["take 0", "take 1", "take 2"]
    for job_id in ids:
        assert recorder.of(job_id) == [QUEUED, STARTED, PROGRESS, PROGRESS, WRITING, DONE]
    done = recorder.wait_for(DONE, 2)
    assert [clip.path for clip in done.clips] == ["/clips/2.wav"]
    info = queue.get(2)
    assert info is not None
    assert (info.state, info.progress, info.clips) == (JobState.DONE, 1.0, done.clips)
    assert [job.job_id for job in queue.jobs()] == ids


def test_states_while_a_job_runs(make_queue, runner, recorder, make_request):
    queue = make_queue()
    runner.hold(1)
    first = queue.submit(make_request())
    runner.wait_started(first)
    second = queue.submit(make_request())

    assert queue.get(first).state is JobState.RUNNING
    assert queue.get(second).state is JobState.QUEUED
    assert queue.pending == 1
    assert queue.get(999) is None

    runner.release(first)
    recorder.wait_for(DONE, second)
    assert [queue.get(i).state for i in (first, second)] == [JobState.DONE, JobState.DONE]
    assert queue.pending == 0


def _published_progress(recorder, job_id):
    return [e.progress for e in recorder.events if e.kind == PROGRESS and e.job_id == job_id]


def test_progress_is_throttled_between_one_and_five_percent(make_queue, runner, recorder,
                                                            make_request):
    def fine_steps(ctx: JobContext) -> None:
        for step in range(1, 1001):  # an engine reports every decoding step
            ctx.progress(step / 1003)  # never quite 1.0: the queue adds it

    runner.body = fine_steps
    queue = make_queue()
    job_id = queue.submit(make_request())
    recorder.wait_for(DONE, job_id)

    values = _published_progress(recorder, job_id)
    gaps = [b - a for a, b in zip([0.0, *values[:-1]], values, strict=True)]
    assert values[-1] == 1.0
    assert values == sorted(values)
    assert 90 <= len(values) <= 101
    assert max(gaps) <= 0.05
    assert min(gaps[:-1]) >= 0.0099


def test_coarse_and_missing_progress(make_queue, runner, recorder, make_request):
    runner.body = lambda ctx: [ctx.progress(f) for f in (0.1, 0.1, 0.05, 0.2, float("nan"), 7.0)]
    queue = make_queue()
    coarse = queue.submit(make_request())
    recorder.wait_for(DONE, coarse)
    # Every real step is kept, repeats and backwards steps dropped, the end is exactly 1.0.
    assert _published_progress(recorder, coarse) == [0.1, 0.2, 1.0]

    runner.body = None
    silent = queue.submit(make_request())
    recorder.wait_for(DONE, silent)
    assert _published_progress(recorder, silent) == [1.0]


def test_writing_publishes_full_progress_first(make_queue, runner, recorder, make_request):
    runner.body = lambda ctx: (ctx.progress(0.42), ctx.writing())
    queue = make_queue()
    job_id = queue.submit(make_request())
    recorder.wait_for(DONE, job_id)
    tail = [(e.kind, e.progress) for e in recorder.events if e.job_id == job_id][-3:]
    assert tail == [(PROGRESS, 1.0), (WRITING, 1.0), (DONE, 1.0)]


def test_cancel_a_queued_job(make_queue, runner, recorder, make_request):
    queue = make_queue()
    runner.hold(1)
    running = queue.submit(make_request())
    runner.wait_started(running)
    doomed = queue.submit(make_request())
    kept = queue.submit(make_request())

    assert queue.cancel(doomed) is True
    assert recorder.of(doomed) == [QUEUED, CANCELLED]
    assert queue.get(doomed).state is JobState.CANCELLED
    assert queue.pending == 1
    assert queue.cancel(doomed) is False

    runner.release(running)
    recorder.wait_for(DONE, kept)
    assert runner.ran == [running, kept]


def test_cancel_the_running_job(make_queue, runner, recorder, make_request):
    queue = make_queue()
    runner.hold(1)
    running = queue.submit(make_request())
    after = queue.submit(make_request())
    runner.wait_started(running)

    assert queue.cancel() is True  # None: whichever job is running
    recorder.wait_for(CANCELLED, running)
    recorder.wait_for(DONE, after)
    assert recorder.of(running) == [QUEUED, STARTED, CANCELLED]
    assert queue.get(running).state is JobState.CANCELLED
    assert runner.ran == [running, after]


def test_cancel_by_id_and_unknown_or_finished_ids(make_queue, runner, recorder, make_request):
    queue = make_queue()
    assert queue.cancel() is False  # nothing running
    assert queue.cancel(42) is False
    runner.hold(1)
    running = queue.submit(make_request())
    runner.wait_started(running)
    assert queue.cancel(running) is True
    recorder.wait_for(CANCELLED, running)
    assert queue.cancel(running) is False

    finished = queue.submit(make_request())
    recorder.wait_for(DONE, finished)
    assert queue.cancel(finished) is False


def test_queue_full_is_refused_with_a_clear_message(make_queue, runner, make_request):
    queue = make_queue(max_pending=2)
    runner.hold(1)
    queue.submit(make_request())
    runner.wait_started(1)
    queue.submit(make_request())
    queue.submit(make_request())

    with pytest.raises(QueueFull) as caught:
        queue.submit(make_request())
    assert str(caught.value) == \
        "queue is full (2 jobs waiting); wait for one to finish or cancel one"
    assert isinstance(caught.value, ValueError)
    assert queue.pending == 2
    # A refused submit spends no id.
    assert queue.cancel(3) is True
    assert queue.submit(make_request()) == 4


def test_default_bound_is_sixteen(make_queue, make_request):
    queue = make_queue(start=False)
    for _ in range(16):
        queue.submit(make_request())
    with pytest.raises(QueueFull, match=r"^queue is full \(16 jobs waiting\); wait for one to "
                                        r"finish or cancel one$"):
        queue.submit(make_request())


def test_a_failed_job_is_reported_and_the_next_one_runs(make_queue, runner, recorder,
                                                        make_request, caplog):
    def fail_first(ctx: JobContext) -> None:
        if ctx.job_id == 1:
            raise EngineError("model folder /models/x is not a MusicGen checkpoint")

    runner.body = fail_first
    queue = make_queue()
    with caplog.at_level(logging.ERROR, logger="bridge.jobs.queue"):
        failed = queue.submit(make_request())
        ok = queue.submit(make_request())
        recorder.wait_for(DONE, ok)

    error = "model folder /models/x is not a MusicGen checkpoint"
    assert recorder.wait_for(FAILED, failed).error == error
    assert queue.get(failed).state is JobState.FAILED
    assert queue.get(failed).error == error
    logged = [r for r in caplog.records if r.getMessage() == "job 1 failed"]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log


@pytest.mark.parametrize(("error", "message"), [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), OUT_OF_GPU_MEMORY),
    (RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"), OUT_OF_GPU_MEMORY),
    (MemoryError(), "out of memory: try fewer variations or bars, or a smaller model"),
    (PermissionError(13, "Permission denied", "/proj/MusicGen/take.wav"),
     "file error: Permission denied: /proj/MusicGen/take.wav"),
    (OSError(28, "No space left on device"), "file error: No space left on device"),
    (KeyError("meter"), "KeyError: 'meter'"),
])
def test_failure_messages(make_queue, runner, recorder, make_request, error, message):
    def fail(ctx: JobContext) -> None:
        raise error

    runner.body = fail
    queue = make_queue()
    job_id = queue.submit(make_request())
    assert recorder.wait_for(FAILED, job_id).error == message


def test_torch_out_of_memory_error_even_when_wrapped():
    torch = pytest.importorskip("torch")
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
    assert describe_failure(oom) == OUT_OF_GPU_MEMORY
    try:
        try:
            raise oom
        except RuntimeError as err:
            raise EngineError("generation failed") from err
    except EngineError as wrapped:
        assert describe_failure(wrapped) == OUT_OF_GPU_MEMORY


def test_a_failing_subscriber_does_not_stop_the_worker(runner, make_request, caplog):
    seen: list[str] = []

    def publish(event: object) -> None:
        assert isinstance(event, JobEvent)
        seen.append(event.kind)
        if event.kind == STARTED:
            raise RuntimeError("feedback output broke")

    finished = threading.Event()
    runner.body = lambda ctx: finished.set() if ctx.job_id == 2 else None
    queue = JobQueue(runner, publish)
    queue.start()
    try:
        queue.submit(make_request())
        queue.submit(make_request())
        assert finished.wait(5)
    finally:
        queue.stop()
    assert seen.count(DONE) == 2
    assert any("publishing started for job 1 failed" in r.getMessage() for r in caplog.records)


def test_a_subscriber_may_call_back_into_the_queue(runner, make_request):
    """Events go out in order, outside the state lock: no deadlock, no reordering."""
    events: list[tuple[str, int]] = []
    holder: list[JobQueue] = []

    def publish(event: object) -> None:
        assert isinstance(event, JobEvent)
        events.append((event.kind, event.job_id))
        queue = holder[0]
        queue.jobs()
        if event.kind == STARTED and event.job_id == 1:
            queue.cancel()  # on the worker thread, from inside a publish
            queue.submit(make_request())

    queue = JobQueue(runner, publish)
    holder.append(queue)
    runner.hold(1)
    queue.start()
    try:
        queue.submit(make_request())
        runner.wait_started(2)
    finally:
        queue.stop()
    assert events[:4] == [(QUEUED, 1), (STARTED, 1), (QUEUED, 2), (CANCELLED, 1)]


def test_history_is_bounded(make_queue, recorder, make_request):
    queue = make_queue(history=3)
    ids = [queue.submit(make_request()) for _ in range(5)]
    recorder.wait_for(DONE, ids[-1])
    assert [info.job_id for info in queue.jobs()] == ids[-3:]
    assert queue.get(ids[0]) is None


def test_stop_interrupts_the_running_job_and_is_idempotent(make_queue, runner, recorder,
                                                           make_request):
    queue = make_queue()
    runner.hold(1)
    running = queue.submit(make_request())
    waiting = queue.submit(make_request())
    runner.wait_started(running)

    queue.stop(timeout=5)
    queue.stop(timeout=5)
    interrupted = recorder.wait_for(CANCELLED, running)
    assert "interrupted" in interrupted.error
    # Both stay pending: a restart on the same journal runs them (see test_journal.py).
    assert [info.state for info in queue.jobs()] == [JobState.QUEUED, JobState.QUEUED]
    assert queue.pending == 2
    assert runner.ran == [running]
    assert waiting not in runner.ran


def test_stop_before_start_and_start_twice(runner, recorder):
    never_started = JobQueue(runner, recorder)
    never_started.stop()
    with pytest.raises(RuntimeError, match="only once"):
        never_started.start()

    queue = JobQueue(runner, recorder)
    queue.start()
    try:
        with pytest.raises(RuntimeError, match="only once"):
            queue.start()
    finally:
        queue.stop()


def test_max_pending_must_be_positive(runner, recorder):
    with pytest.raises(ValueError, match="max_pending must be at least 1, got 0"):
        JobQueue(runner, recorder, max_pending=0)


def test_job_context_works_outside_a_queue(make_request):
    """Engine tests build a JobContext by hand: the callbacks default to doing nothing."""
    ctx = JobContext(job_id=7, request=make_request(), cancel=threading.Event())
    ctx.progress(0.5)
    ctx.writing()
    assert ctx.job_id == 7

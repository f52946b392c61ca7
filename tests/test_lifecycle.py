"""The daemon's life cycle under trouble: a second daemon on the same journal, an input that
cannot start, a full queue at shutdown, a job whose second variation cannot be written, jobs
resumed at start-up. Real Daemon on the tiny model."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge.events import DONE, FAILED, PROGRESS, STARTED, JobEvent
from bridge.jobs.journal import JournalLock
from bridge.jobs.queue import JobQueue
from bridge.request import GenerationRequest
from bridge.stopping import put_sentinel
from tests.support import make_daemon

REQUEST = GenerationRequest(prompt="dusty funk drums", bpm=120.0, bars=1)


def _events(daemon) -> list[JobEvent]:
    seen: list[JobEvent] = []
    daemon.bus.subscribe(lambda e: seen.append(e) if isinstance(e, JobEvent) else None)
    return seen


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        time.sleep(0.02)


def test_a_second_daemon_process_on_the_same_journal_is_refused(tmp_path):
    journal = tmp_path / "journal.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from bridge.jobs.journal import JournalLock\n"
         "JournalLock.acquire(Path(sys.argv[1]))\nprint('locked', flush=True)\n"
         "time.sleep(60)\n", str(journal)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=rf"another musicgen-bridge \(pid {holder.pid}\) "
                                             r"is using the job journal"):
            JobQueue(lambda ctx: (), lambda e: None, journal_path=journal)
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its process: a SIGKILLed daemon never blocks the next one.
    queue_ = JobQueue(lambda ctx: (), lambda e: None, journal_path=journal)
    queue_.stop()


def test_queues_in_one_process_share_the_lock_and_release_it(tmp_path):
    journal = tmp_path / "j.jsonl"
    first = JournalLock.acquire(journal)
    second = JournalLock.acquire(journal)
    second.release()
    first.release()
    assert str(Path(journal.with_name("j.jsonl.lock")).resolve()) not in JournalLock._held


class BrokenService:
    def __init__(self) -> None:
        self.stopped = False

    def start(self) -> None:
        raise OSError("cannot listen for OSC on 127.0.0.1:9000: Address already in use")

    def stop(self) -> None:
        self.stopped = True


class RecordingService:
    def __init__(self) -> None:
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def test_a_failed_start_rolls_back_and_counts_no_attempt(tmp_path, tiny_engine):
    before = make_daemon(tmp_path, tiny_engine)
    before.queue.submit(REQUEST)  # journaled, never run
    before.stop()
    daemon = make_daemon(tmp_path, tiny_engine)
    events = _events(daemon)
    good, broken = RecordingService(), BrokenService()
    daemon.add_service(good)
    daemon.add_service(broken)
    with pytest.raises(OSError, match="Address already in use"):
        daemon.start()
    assert good.started and good.stopped
    assert STARTED not in [e.kind for e in events]
    entries = [json.loads(line) for line in
               (tmp_path / "journal.jsonl").read_text().splitlines()[1:]]
    assert [(e["job_id"], e["attempts"]) for e in entries] == [(1, 0)]
    # The journal is free again: the next daemon runs the job.
    after = make_daemon(tmp_path, tiny_engine)
    done = _events(after)
    after.start()
    try:
        _wait(lambda: any(e.kind == DONE and e.job_id == 1 for e in done))
    finally:
        after.stop()


class SlowSubscriber:
    """An input that subscribes to the bus when it starts, and takes a moment to start (as
    the OSC server resolving its feedback targets does)."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon
        self.events: list[JobEvent] = []

    def start(self) -> None:
        time.sleep(0.3)
        self.daemon.bus.subscribe(
            lambda e: self.events.append(e) if isinstance(e, JobEvent) else None)

    def stop(self) -> None:
        pass


def test_resumed_jobs_report_progress_to_the_inputs(tmp_path, tiny_engine):
    before = make_daemon(tmp_path, tiny_engine)
    before.queue.submit(REQUEST)
    before.stop()
    daemon = make_daemon(tmp_path, tiny_engine)
    feedback = SlowSubscriber(daemon)
    daemon.add_service(feedback)
    daemon.start()
    try:
        _wait(lambda: any(e.kind == DONE for e in feedback.events))
    finally:
        daemon.stop()
    kinds = [e.kind for e in feedback.events if e.job_id == 1]
    assert STARTED in kinds and PROGRESS in kinds


def test_stop_never_blocks_on_a_full_queue():
    q: queue.Queue[object] = queue.Queue(maxsize=3)
    for i in range(3):
        q.put(i)
    done = threading.Event()
    threading.Thread(target=lambda: (put_sentinel(q, None), done.set()), daemon=True).start()
    assert done.wait(5), "putting the stop sentinel blocked on a full queue"
    assert list(q.queue)[-1] is None and len(q.queue) == 3


def test_a_failed_second_variation_leaves_no_first_one(tmp_path, tiny_engine, monkeypatch):
    daemon = make_daemon(tmp_path, tiny_engine)
    events = _events(daemon)
    writer = daemon.pipeline.writer
    real_write = writer.write
    calls = []

    def write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(writer, "write", write)
    daemon.start()
    try:
        daemon.submit(GenerationRequest(prompt="dusty funk drums", bpm=120.0, bars=1,
                                        variations=2, seed=3))
        _wait(lambda: any(e.kind in (DONE, FAILED) for e in events))
    finally:
        daemon.stop()
    [end] = [e for e in events if e.kind in (DONE, FAILED)]
    assert end.kind == FAILED and end.clips == ()
    out = daemon.out_dir
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".wav", ".json")) == []
    manifest = out / "manifest.jsonl"
    assert not manifest.exists() or manifest.read_text() == ""


def test_stop_waits_for_the_tempo_fit_warm_up(tmp_path, tiny_engine, monkeypatch):
    """A warm-up still importing when the interpreter exits prints "can't register atexit
    after shutdown": stop() lets it finish."""
    from bridge.post import tempo_fit

    release = threading.Event()
    monkeypatch.setattr(tempo_fit, "warm_up", lambda: release.wait(1.0))
    daemon = make_daemon(tmp_path, tiny_engine, {"fit": {"tempo_lock": True}})
    daemon.start()
    daemon.stop()
    assert [t.name for t in threading.enumerate() if t.name == "fit-warm-up"] == []

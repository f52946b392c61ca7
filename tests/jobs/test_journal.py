"""The job journal: pending jobs survive a restart, even a SIGKILL; damage never stops a start."""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.events import DONE, FAILED, QUEUED, JobState
from bridge.jobs.journal import Journal
from bridge.jobs.queue import MAX_ATTEMPTS

REPO = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_file_mirrors_pending_jobs(tmp_path, make_request):
    path = tmp_path / "state" / "journal.jsonl"  # the folder is made on first write
    journal = Journal(path)
    first = journal.add(make_request("one"))
    second = journal.add(make_request("two", bars=8))
    journal.started(first)

    header, *entries = _lines(path)
    assert header == {"journal": 1, "next_id": 3}
    assert [(e["job_id"], e["state"], e["attempts"]) for e in entries] == \
        [(first, "running", 1), (second, "queued", 0)]
    reloaded = Journal(path).entries
    assert [(e.job_id, e.request, e.running) for e in reloaded] == \
        [(1, make_request("one"), True), (2, make_request("two", bars=8), False)]

    journal.interrupted(first)
    assert Journal(path).entries[0].attempts == 0
    journal.remove(first)
    journal.remove(second)
    assert _lines(path) == [{"journal": 1, "next_id": 3}]
    assert sorted(p.name for p in path.parent.iterdir()) == ["journal.jsonl"]  # no temp files


def test_ids_keep_increasing_across_restarts(tmp_path, make_queue, recorder, make_request):
    path = tmp_path / "journal.jsonl"
    queue = make_queue(journal_path=path)
    ids = [queue.submit(make_request()) for _ in range(3)]
    recorder.wait_for(DONE, ids[-1])
    queue.stop()
    assert _lines(path) == [{"journal": 1, "next_id": 4}]  # finished jobs leave the journal

    again = make_queue(journal_path=path)
    assert again.submit(make_request()) == 4


def test_a_restart_resumes_pending_jobs_before_new_ones(tmp_path, make_queue, runner, recorder,
                                                        make_request):
    path = tmp_path / "journal.jsonl"
    runner.hold(1)
    old = make_queue(journal_path=path)
    interrupted = old.submit(make_request("interrupted"))
    runner.wait_started(interrupted)
    waiting = old.submit(make_request("waiting"))
    old.stop()

    runner.release(interrupted)
    new = make_queue(journal_path=path, start=False)
    fresh = new.submit(make_request("fresh"))  # before start: still runs after the resumed ones
    new.start()
    recorder.wait_for(DONE, fresh)

    assert (interrupted, waiting, fresh) == (1, 2, 3)
    assert runner.ran == [interrupted, interrupted, waiting, fresh]
    assert [runner.requests[i].prompt for i in (1, 2, 3)] == ["interrupted", "waiting", "fresh"]
    assert [info.state for info in new.jobs()] == [JobState.DONE] * 3


CHILD = textwrap.dedent("""
    import os, sys, threading
    from pathlib import Path
    from bridge.jobs.queue import JobQueue
    from bridge.request import GenerationRequest

    def say(line):  # one write per line: the worker and the main thread both print
        os.write(1, (line + "\\n").encode())

    def run(ctx):
        say(f"running {ctx.job_id}")
        threading.Event().wait()  # the model is busy until the parent kills us

    queue = JobQueue(run, lambda event: None, journal_path=Path(sys.argv[1]))
    queue.start()
    ids = [queue.submit(GenerationRequest.from_dict({"prompt": f"job {n}", "bpm": 97,
                                                      "bars": 2, "seed": 5}))
           for n in range(3)]
    say("submitted " + " ".join(map(str, ids)))
    threading.Event().wait()
""")


def _read_until(proc: subprocess.Popen, wanted: set[str], timeout: float = 20.0) -> None:
    """Wait for the child to print every line in ``wanted``.

    Reads the raw pipe: a buffered readline can swallow the next line, which select then
    never reports.
    """
    out = b""
    seen: set[str] = set()
    while not wanted <= seen:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"the daemon child printed {out!r} then stopped; stderr:\n{err.decode()}")
        out += chunk
        seen = {line.strip() for line in out.decode().splitlines()}


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and select on pipes are POSIX")
def test_jobs_resume_after_the_daemon_is_killed(tmp_path, make_queue, runner, recorder):
    path = tmp_path / "journal.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _read_until(proc, {"running 1", "submitted 1 2 3"})
    finally:
        proc.kill()  # SIGKILL: no cleanup code runs in the child
        proc.communicate()

    queue = make_queue(journal_path=path)
    recorder.wait_for(DONE, 3)
    assert runner.ran == [1, 2, 3]
    assert [runner.requests[i].prompt for i in (1, 2, 3)] == ["job 0", "job 1", "job 2"]
    assert {(r.bpm, r.bars, r.seed) for r in runner.requests.values()} == {(97.0, 2, 5)}
    assert [kind for kind, job_id in recorder.kinds() if job_id == 1][:2] == [QUEUED, "started"]
    assert queue.submit(runner.requests[1]) == 4


def test_a_job_that_keeps_killing_the_daemon_is_given_up(tmp_path, make_queue, runner, recorder,
                                                         make_request):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    crasher = journal.add(make_request("crasher"))
    innocent = journal.add(make_request("innocent"))
    for _ in range(MAX_ATTEMPTS):
        journal.started(crasher)  # each time the daemon died during it

    make_queue(journal_path=path)
    failed = recorder.wait_for(FAILED, crasher)
    recorder.wait_for(DONE, innocent)
    assert f"stopped unexpectedly {MAX_ATTEMPTS} times" in failed.error
    assert runner.ran == [innocent]


def _write_damaged_journal(path: Path, make_request) -> None:
    good = {"job_id": 4, "state": "queued", "attempts": 0, "request": make_request("good").to_dict()}
    bad_request = {**good, "job_id": 9, "request": {"prompt": "x", "bpm": 0, "bars": 4}}
    path.write_bytes(b"\n".join([
        json.dumps({"journal": 1, "next_id": 5}).encode(),
        b"\xff\xfe not utf-8",
        json.dumps(good).encode(),
        json.dumps(bad_request).encode(),
        json.dumps({**good, "request": make_request("duplicate").to_dict()}).encode(),
        b'{"job_id": 12, "state": "queued", "request": {"prompt": "cut off by a cra',
    ]))


def test_damaged_lines_are_skipped_and_the_file_kept_aside(tmp_path, make_queue, runner,
                                                           recorder, make_request, caplog):
    path = tmp_path / "journal.jsonl"
    _write_damaged_journal(path, make_request)
    damaged = path.read_bytes()

    with caplog.at_level(logging.WARNING, logger="bridge.jobs.journal"):
        queue = make_queue(journal_path=path)
        recorder.wait_for(DONE, 4)

    assert runner.ran == [4]
    assert runner.requests[4].prompt == "good"
    [aside] = tmp_path.glob("journal.jsonl.corrupt-*")
    assert aside.read_bytes() == damaged
    assert "damaged (4 bad line(s)); kept 1 job(s)" in caplog.text
    assert "line 4 skipped: bpm: bpm must be in 20..400" in caplog.text
    # Ids seen in the damaged lines are never handed out again.
    assert queue.submit(make_request()) == 13


@pytest.mark.parametrize("content", [
    b"\x00\x01\x02 garbage \xff",
    b"[1, 2, 3]\n",
    b'{"journal": 99, "next_id": 3}\n',
    b"[" * 100_000,
])
def test_an_unreadable_journal_never_stops_a_start(tmp_path, make_queue, recorder, make_request,
                                                   content):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(content)
    queue = make_queue(journal_path=path)
    job_id = queue.submit(make_request())
    recorder.wait_for(DONE, job_id)
    assert len(list(tmp_path.glob("journal.jsonl.corrupt-*"))) == 1


def test_stale_temp_files_of_a_killed_writer_are_removed(tmp_path, make_request):
    path = tmp_path / "journal.jsonl"
    Journal(path).add(make_request())
    stale = tmp_path / ".journal.jsonl.0123456789ab.part"  # a write_atomically temp name
    stale.write_text('{"journal": 1, "next_')
    users = tmp_path / ".journal.jsonl.notes"  # not ours: kept
    users.write_text("mine")
    assert [e.job_id for e in Journal(path).entries] == [1]
    assert not stale.exists() and users.exists()


def test_an_unwritable_journal_is_logged_and_jobs_still_run(tmp_path, make_queue, recorder,
                                                             make_request, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal folder should be")
    with caplog.at_level(logging.ERROR, logger="bridge.jobs.journal"):
        queue = make_queue(journal_path=blocker / "journal.jsonl")
        first = queue.submit(make_request())
        second = queue.submit(make_request())
        recorder.wait_for(DONE, second)
    assert (first, second) == (1, 2)
    failures = [r for r in caplog.records if "cannot write the job journal" in r.getMessage()]
    assert len(failures) == 1  # logged once, not on every change

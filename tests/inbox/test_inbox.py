"""The request folder, with a real Daemon on the tiny model and real files and watchdog.

Request files are written the three ways scripts write them: atomically (temporary name,
then rename), in place (possibly seen half-written), and before the daemon starts.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.events import DONE, JobEvent
from bridge.files import is_temp_name
from bridge.inbox import folder as inbox_mod
from bridge.inbox.folder import Inbox, RequestAccepted, RequestRejected
from bridge.request import REQUEST_FIELD_NAMES
from tests.support import make_daemon

FAST = {"settle_s": 0.05, "parse_grace_s": 0.6, "retry_full_s": 0.1}
VALID = {"prompt": "dusty funk drums", "bpm": 96, "bars": 1, "position_s": 4.0,
         "client_id": "test"}


def write_atomic(folder: Path, name: str, data: Any) -> Path:
    text = data if isinstance(data, str) else json.dumps(data)
    tmp = folder / f".{name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / name)
    return folder / name


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


class Box:
    """A started daemon (queue optional) with its inbox, and the inbox's bus events."""

    def __init__(self, tmp_path: Path, engine: Any, *, start_queue: bool,
                 overrides: dict[str, dict[str, Any]] | None = None, **inbox_args: Any) -> None:
        self.daemon = make_daemon(tmp_path, engine, overrides)
        self.folder = inbox_mod.request_folder(self.daemon.out_dir)
        self.events: list[object] = []
        self.daemon.bus.subscribe(self.events.append)
        self.inbox = Inbox(self.daemon, self.folder, **{**FAST, **inbox_args})
        self.started_queue = start_queue

    def start(self) -> Box:
        if self.started_queue:
            self.daemon.add_service(self.inbox)
            self.daemon.start()
        else:
            self.inbox.start()  # jobs are accepted and stay queued
        return self

    def stop(self) -> None:
        if self.started_queue:
            self.daemon.stop()
        else:
            self.inbox.stop()

    # As every reader does, files still being written (bridge.files.is_temp_name) are skipped.
    def done(self) -> list[str]:
        return sorted(p.name for p in (self.folder / "done").iterdir()
                      if not is_temp_name(p.name))

    def rejected(self) -> list[str]:
        return sorted(p.name for p in (self.folder / "rejected").iterdir()
                      if not is_temp_name(p.name))

    def error_text(self, stem: str) -> str:
        return (self.folder / "rejected" / f"{stem}.error.txt").read_text(encoding="utf-8")

    def settled(self) -> bool:
        """Idle: only meaningful once the inbox has seen the files (a scan, or a wait_for),
        since watchdog reports renames about 0.5 s late (it pairs the two halves of a move)."""
        return self.inbox.wait_idle(10.0)


@pytest.fixture
def make_box(tmp_path: Path, tiny_engine: Any) -> Iterator[Callable[..., Box]]:
    boxes: list[Box] = []

    def make(start: bool = True, start_queue: bool = False, **kwargs: Any) -> Box:
        box = Box(tmp_path / f"d{len(boxes)}", tiny_engine, start_queue=start_queue, **kwargs)
        boxes.append(box)
        return box.start() if start else box

    yield make
    for box in boxes:
        box.stop()


def test_a_valid_request_becomes_a_job_and_moves_to_done(make_box):
    box = make_box(overrides={"generation": {"top_k": 77, "key": "E minor"}})
    write_atomic(box.folder, "reaper-1.json", VALID)
    wait_for(box.done)
    assert box.done() == ["reaper-1.job1.json"]
    assert json.loads((box.folder / "done" / "reaper-1.job1.json").read_text()) == VALID
    request = box.daemon.queue.get(1).request
    assert (request.prompt, request.bpm, request.bars, request.position_s) == \
        ("dusty funk drums", 96.0, 1, 4.0)
    # Left out of the file: the daemon's own defaults (its config), not the built-in ones.
    assert (request.top_k, request.key) == (77, "E minor")
    # The event follows the move (it names the moved file), so it may trail the file by a hair.
    wait_for(lambda: any(isinstance(e, RequestAccepted) for e in box.events))
    assert [e for e in box.events if isinstance(e, RequestAccepted)] == \
        [RequestAccepted(str(box.folder / "done" / "reaper-1.job1.json"), 1)]
    assert list(box.folder.glob("*.json")) == []


BAD_VALUES: dict[str, tuple[Any, str]] = {
    "prompt": (5, "prompt: must be a string, got int"),
    "bpm": (0, "bpm: bpm must be in 20..400, got 0"),
    "meter": ("4/3", "meter: meter denominator must be a power of two"),
    "key": ("H minor", 'key: key must look like "A minor"'),
    "bars": (0, "bars: bars must be a whole number 1..512, got 0"),
    "top_k": (0, "top_k: top_k must be in 1..2048, got 0"),
    "top_p": (1.5, "top_p: top_p must be in 0..1, got 1.5"),
    "temperature": (0, "temperature: temperature must be in 0.05..4, got 0"),
    "cfg": (20, "cfg: cfg must be in 1..15, got 20"),
    "variations": (9, "variations: variations must be in 1..8, got 9"),
    "seed": (-5, "seed: seed must be an integer 0..2147483647 or -1 for random, got -5"),
    "position_s": (-1, "position_s: must be a finite number of seconds >= 0, got -1"),
    "client_id": (7, "client_id: must be a string, got int"),
    "quality": (["hi-fi"], "quality: must be a string, got list"),
    "negative_prompt": (False, "negative_prompt: must be a string, got bool"),
    "audio_prompt": (3, "audio_prompt: must be a file path string or null, got 3"),
    "prompt_seconds": (30, "prompt_seconds: must be 0.5..25 seconds, got 30"),
    "keep_prompt": ("yes", "keep_prompt: must be true or false, got 'yes'"),
    "melody_audio": (1.5, "melody_audio: must be a file path string or null, got 1.5"),
    "loop": (2, "loop: must be true or false, got 2"),
    "tempo_lock": ("x", "tempo_lock: must be true or false, got 'x'"),
    "retries": (9, "retries: must be a whole number of retries 0-5, or null, got 9"),
    "parent_job": (-1, "parent_job: must be a job id (integer >= 0) or null, got -1"),
    "style": ("../up", "style: must be a style name (letters, digits, '-', '_'; at most 48) or "
                       "empty for none, got '../up'"),
    "style_strength": (3, "style_strength: style_strength must be in 0..2, got 3"),
}


def test_each_invalid_field_is_refused_with_what_was_wrong(make_box):
    assert set(BAD_VALUES) == set(REQUEST_FIELD_NAMES), "a request field has no invalid case"
    box = make_box()
    for name, (value, _) in BAD_VALUES.items():
        write_atomic(box.folder, f"bad-{name}.json", {**VALID, name: value})
    write_atomic(box.folder, "bad-unknown.json", {**VALID, "tempo": 120})
    write_atomic(box.folder, "bad-missing.json", {"prompt": "x"})
    wait_for(lambda: len(box.rejected()) == 2 * (len(BAD_VALUES) + 2))
    assert box.done() == []
    wrong = {}
    for name, (_, message) in BAD_VALUES.items():
        text = box.error_text(f"bad-{name}")
        if f"  - {message}" not in text:
            wrong[name] = text
    assert wrong == {}
    assert "  - tempo: unknown field (known: prompt, bpm," in box.error_text("bad-unknown")
    missing = box.error_text("bad-missing")
    assert "  - bpm: missing (project tempo" in missing and "  - bars: missing" in missing
    assert f"move it back into {box.folder}" in missing
    wait_for(lambda: sum(isinstance(e, RequestRejected) for e in box.events)
             >= len(BAD_VALUES) + 2)
    rejected = [e for e in box.events if isinstance(e, RequestRejected)]
    assert len(rejected) == len(BAD_VALUES) + 2
    # The refused file itself is kept, unchanged, beside its error report.
    assert json.loads((box.folder / "rejected" / "bad-bpm.json").read_text())["bpm"] == 0


@pytest.mark.parametrize("content, message", [
    ('["prompt", "bpm"]', "a request must be a JSON object {...}, got list"),
    ('{"prompt": "a", "prompt": "b", "bpm": 90, "bars": 1}', "prompt: given twice; keep one"),
    ("{this is not json", "not valid JSON (Expecting property name enclosed in double quotes at "
                          "line 1 column 2)"),
    (b"\xff\xfe{}", "not UTF-8 text"),
])
def test_files_that_are_not_requests_are_refused(make_box, content, message):
    box = make_box()
    path = box.folder / "odd.json"
    tmp = box.folder / ".odd.json.tmp"
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
    wait_for(box.rejected)
    assert message in box.error_text("odd")


def test_requests_the_daemon_cannot_honour_are_refused_with_its_reason(make_box, tmp_path):
    box = make_box()
    audio = box.daemon.out_dir / "prompt.wav"  # audio is read from the clip folder
    audio.write_bytes(b"RIFF")
    write_atomic(box.folder, "cont.json", {**VALID, "audio_prompt": str(audio)})
    write_atomic(box.folder, "empty.json", {**VALID, "prompt": "  "})
    write_atomic(box.folder, "long.json", {**VALID, "bars": 100})
    write_atomic(box.folder, "gone.json", {**VALID, "audio_prompt": "audio/missing.wav"})
    write_atomic(box.folder, "tune.json", {**VALID, "melody_audio": str(audio)})
    wait_for(lambda: len(box.rejected()) == 10)
    assert f"audio_prompt: cannot read {str(audio)!r} as audio" in box.error_text("cont")
    assert "cannot honour melody_audio" in box.error_text("tune")
    assert "prompt is empty: say what to generate" in box.error_text("empty")
    assert "ask for fewer bars" in box.error_text("long")
    gone = box.error_text("gone")
    assert f"audio_prompt: no such file '{box.folder / 'audio' / 'missing.wav'}'" in gone


def test_a_half_written_file_is_not_read_early(make_box):
    box = make_box()
    text = json.dumps(VALID)
    with open(box.folder / "slow.json", "w", encoding="utf-8") as f:
        f.write(text[:10])  # the watcher sees the file now ("created"), unparseable
        f.flush()
        time.sleep(0.3)  # several settle periods, but within the parse grace
        f.write(text[10:])
    wait_for(box.done)
    assert box.done() == ["slow.job1.json"] and box.rejected() == []


def test_a_file_that_stays_broken_is_refused_after_the_grace_period(make_box):
    box = make_box()
    (box.folder / "stuck.json").write_text('{"prompt": "x", ', encoding="utf-8")
    started = time.monotonic()
    wait_for(box.rejected)
    assert time.monotonic() - started >= FAST["parse_grace_s"] * 0.9
    assert "not valid JSON" in box.error_text("stuck")


def test_the_same_name_twice_never_overwrites(make_box):
    box = make_box()
    write_atomic(box.folder, "a.json", VALID)
    wait_for(lambda: len(box.done()) == 1)
    write_atomic(box.folder, "a.json", {**VALID, "prompt": "second"})
    wait_for(lambda: len(box.done()) == 2)
    assert box.done() == ["a.job1.json", "a.job2.json"]
    write_atomic(box.folder, "b.json", {**VALID, "bpm": 1})
    wait_for(lambda: len(box.rejected()) == 2)
    first_report = box.error_text("b")
    write_atomic(box.folder, "b.json", {**VALID, "bars": 0})
    wait_for(lambda: len(box.rejected()) == 4)
    assert box.rejected() == ["b-2.error.txt", "b-2.json", "b.error.txt", "b.json"]
    assert box.error_text("b") == first_report
    assert "bars: bars must be" in box.error_text("b-2")


def test_requests_left_while_the_daemon_was_down_are_picked_up_at_start(make_box, caplog):
    box = make_box(start=False)
    box.folder.mkdir(parents=True)
    write_atomic(box.folder, "early.json", VALID)
    write_atomic(box.folder, "early-bad.json", {**VALID, "bars": "many"})
    (box.folder / ".unfinished.json.tmp").write_text("{", encoding="utf-8")
    (box.folder / "readme.txt").write_text("not a request", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bridge.inbox.folder"):
        box.start()
        box.settled()
    assert box.done() == ["early.job1.json"]
    assert box.rejected() == ["early-bad.error.txt", "early-bad.json"]
    # Temporary files and other files are left exactly where they are.
    assert sorted(p.name for p in box.folder.iterdir() if p.is_file()) == \
        [".unfinished.json.tmp", "readme.txt"]
    assert "only .json request files are read" in caplog.text


def test_temporary_names_wait_for_their_rename(make_box):
    box = make_box()
    for name in (".x.json", "x.json.tmp", "x.json.part"):
        (box.folder / name).write_text(json.dumps(VALID), encoding="utf-8")
    time.sleep(0.3)
    box.settled()
    assert box.done() == [] and box.rejected() == []
    os.replace(box.folder / "x.json.part", box.folder / "x.json")
    wait_for(box.done)
    assert box.done() == ["x.job1.json"]


def test_a_full_queue_keeps_the_file_and_retries(make_box, caplog):
    box = make_box(overrides={"queue": {"max_pending": 1}})  # the queue is not running
    write_atomic(box.folder, "one.json", VALID)
    wait_for(box.done)
    with caplog.at_level(logging.WARNING, logger="bridge.inbox.folder"):
        write_atomic(box.folder, "two.json", VALID)
        wait_for(lambda: "two.json waits: " in caplog.text)
    time.sleep(0.3)  # several retries
    assert caplog.text.count("two.json waits") == 1, "the wait is logged once, not per retry"
    assert (box.folder / "two.json").exists() and box.rejected() == []
    assert not box.inbox.wait_idle(0.05), "a waiting request keeps the inbox busy"
    box.daemon.queue.cancel(1)  # frees the slot
    wait_for(lambda: len(box.done()) == 2)
    assert box.done() == ["one.job1.json", "two.job2.json"]


def test_polling_mode_sees_files_written_in_place(make_box):
    box = make_box(polling=True)
    (box.folder / "polled.json").write_text(json.dumps(VALID), encoding="utf-8")
    wait_for(box.done, timeout=10.0)
    assert box.done() == ["polled.job1.json"]


def test_create_follows_the_config(tmp_path, tiny_engine):
    off = make_daemon(tmp_path / "off", tiny_engine)  # tests.support turns the inbox off
    assert inbox_mod.create(off, off.config.inbox) is None
    on = make_daemon(tmp_path / "on", tiny_engine, {"inbox": {"enabled": True, "polling": True}})
    service = inbox_mod.create(on, on.config.inbox)
    assert isinstance(service, Inbox)
    assert service.folder == on.out_dir / "requests"
    assert service._polling is True


def test_the_handler_never_raises_into_watchdog(caplog):
    def broken(path: Path) -> None:
        raise RuntimeError("boom")

    class Event:
        is_directory = False
        src_path = "/x/a.json"
        dest_path = "/x/b.json"

    handler = inbox_mod._Handler(broken)
    with caplog.at_level(logging.ERROR, logger="bridge.inbox.folder"):
        handler.on_created(Event())
        handler.on_moved(Event())
    assert caplog.text.count("inbox: could not handle") == 2


def test_end_to_end_a_request_file_becomes_a_clip(make_box):
    box = make_box(start_queue=True)
    done: list[JobEvent] = []
    box.daemon.bus.subscribe(lambda e: done.append(e) if getattr(e, "kind", "") == DONE else None)
    write_atomic(box.folder, "e2e.json", {**VALID, "bpm": 120, "position_s": 6.0})
    event = wait_for(lambda: done[0] if done else None, timeout=60.0)
    clip = event.clips[0]
    assert Path(clip.path).is_file() and Path(clip.path).parent == box.daemon.out_dir
    sidecar = json.loads(Path(clip.sidecar).read_text(encoding="utf-8"))
    assert (sidecar["position_s"], sidecar["client_id"], sidecar["duration_s"]) == (6.0, "test", 2.0)

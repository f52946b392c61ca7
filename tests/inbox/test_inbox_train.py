"""Style-training requests dropped into the request folder (what the REAPER script writes)."""

from __future__ import annotations

import threading

import pytest

from bridge import events
from bridge.engine import style_train
from bridge.inbox.folder import Inbox
from tests.engine.test_styles import FAST, clip_set
from tests.inbox.test_inbox import FAST as INBOX_FAST
from tests.inbox.test_inbox import wait_for, write_atomic
from tests.support import make_daemon


@pytest.fixture(scope="module")
def engine(own_tiny_engine):
    # Its own model: these tests add adapters to it.
    return own_tiny_engine


@pytest.fixture
def box(engine, tmp_path, monkeypatch, no_thread_leaks):
    monkeypatch.setenv("MUSICGEN_BRIDGE_STYLES", str(tmp_path / "styles"))
    monkeypatch.setattr(style_train, "TrainSettings", lambda: FAST)
    daemon = make_daemon(tmp_path, engine)
    seen: list[events.StyleEvent] = []
    lock = threading.Lock()

    def on_event(event: object) -> None:
        if isinstance(event, events.StyleEvent):
            with lock:
                seen.append(event)

    daemon.bus.subscribe(on_event)
    folder = tmp_path / "requests"
    folder.mkdir()
    inbox = Inbox(daemon, folder, polling=True, **INBOX_FAST)
    daemon.start()
    inbox.start()
    yield daemon, folder, seen
    inbox.stop()
    daemon.stop()


def test_a_training_request_file_trains_the_style(box):
    daemon, folder, seen = box
    clips = clip_set(folder / "audio")
    write_atomic(folder, "train.json", {"style_train": {
        "name": "from_reaper", "description": "pulses",
        "clips": [f"audio/{p.name}" for p in clips]}})  # relative to the request folder
    wait_for(lambda: (folder / "done" / "train.style.json").is_file())
    done = wait_for(lambda: [e for e in seen if e.kind == events.STYLE_DONE], timeout=240)
    assert done[0].name == "from_reaper"
    assert daemon.styles() == ["from_reaper"]


def test_a_bad_training_request_is_rejected_with_every_reason(box):
    _, folder, _ = box
    write_atomic(folder, "bad.json", {"style_train": {"name": "x", "clips": ["a.wav"],
                                                      "tempo": 3}})
    report = wait_for(lambda: (folder / "rejected" / "bad.error.txt").is_file()
                      and (folder / "rejected" / "bad.error.txt").read_text())
    assert "style_train.tempo: unknown" in report
    write_atomic(folder, "few.json", {"style_train": {"name": "x", "clips": ["a.wav"]}})
    report = wait_for(lambda: (folder / "rejected" / "few.error.txt").is_file()
                      and (folder / "rejected" / "few.error.txt").read_text())
    assert "needs 5 to 50 clips, got 1" in report and "a.wav: unreadable" in report

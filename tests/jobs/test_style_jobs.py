"""Styles through the daemon's job queue on the tiny model: per-job adapters, training between
generation jobs, sidecars that record the style."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge import events
from bridge.engine import style_train
from bridge.engine.style_train import train_style
from tests.engine.test_styles import FAST, clip_set
from tests.support import make_daemon


@pytest.fixture(scope="module")
def engine(own_tiny_engine):
    # Its own model: these tests add adapters to it.
    return own_tiny_engine


@pytest.fixture
def daemon(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_BRIDGE_STYLES", str(tmp_path / "styles"))
    monkeypatch.setattr(style_train, "TrainSettings", lambda: FAST)
    d = make_daemon(tmp_path, engine)
    finished: dict[int, events.JobEvent] = {}
    styles: list[events.StyleEvent] = []
    order: list[str] = []
    done = threading.Condition()

    def on_event(event: object) -> None:
        with done:
            if isinstance(event, events.JobEvent):
                order.append(f"job {event.job_id} {event.kind}")
                if event.kind in (events.DONE, events.FAILED, events.CANCELLED):
                    finished[event.job_id] = event
            elif isinstance(event, events.StyleEvent):
                order.append(f"style {event.kind}")
                styles.append(event)
            done.notify_all()

    d.bus.subscribe(on_event)
    d.finished, d.style_events, d.order, d.done = finished, styles, order, done
    yield d
    d.stop()


def wait(daemon, predicate, timeout: float = 240.0) -> None:
    with daemon.done:
        assert daemon.done.wait_for(predicate, timeout), daemon.order


def read_clip(event: events.JobEvent) -> tuple[np.ndarray, dict]:
    clip = event.clips[0]
    return sf.read(clip.path)[0], json.loads(Path(clip.sidecar).read_text())


def test_two_queued_jobs_with_two_styles_each_get_their_own(daemon, engine, tmp_path):
    root = tmp_path / "styles"
    train_style(engine, "tones", clip_set(tmp_path / "a"), root, settings=FAST)
    train_style(engine, "lows", clip_set(tmp_path / "b", base=55.0), root, settings=FAST)
    base = daemon.default_request().with_changes(prompt="pulses", bars=1, bpm=240, seed=3)
    jobs = [daemon.submit(base.with_changes(style=style, style_strength=strength))
            for style, strength in (("tones", 2.0), ("lows", 2.0), ("", 1.0), ("tones", 0.0))]
    daemon.start()
    wait(daemon, lambda: len(daemon.finished) == 4)
    (tones, tones_car), (lows, lows_car), (plain, plain_car), (zero, zero_car) = [
        read_clip(daemon.finished[j]) for j in jobs]
    assert all(daemon.finished[j].kind == events.DONE for j in jobs)
    assert not np.array_equal(tones, lows)
    assert not np.array_equal(tones, plain) and not np.array_equal(lows, plain)
    assert np.array_equal(zero, plain)  # strength 0: the base model exactly
    assert (tones_car["style"], tones_car["style_strength"]) == ("tones", 2.0)
    assert (lows_car["style"], lows_car["style_strength"]) == ("lows", 2.0)
    assert (plain_car["style"], plain_car["style_strength"]) == ("", 0.0)
    assert tones_car["full_prompt"].endswith(", tones")


def test_an_unknown_style_is_refused_before_queueing(daemon):
    request = daemon.default_request().with_changes(prompt="x", bars=1, style="nope")
    with pytest.raises(ValueError, match="no style named 'nope'"):
        daemon.submit(request)


def test_a_generation_queued_during_training_runs_before_training_ends(daemon, tmp_path):
    daemon.start()
    daemon.train_style("queued", [str(p) for p in clip_set(tmp_path / "c")],
                       description="pulses")
    wait(daemon, lambda: any(e.kind == events.STYLE_PROGRESS for e in daemon.style_events))
    job = daemon.submit(daemon.default_request().with_changes(prompt="x", bars=1, bpm=240))
    wait(daemon, lambda: any(e.kind == events.STYLE_DONE for e in daemon.style_events))
    order = daemon.order
    assert daemon.finished[job].kind == events.DONE
    # the job finished while training still had steps to go
    assert order.index(f"job {job} done") < order.index("style done")
    assert "style progress" in order[order.index(f"job {job} done"):]
    assert (tmp_path / "styles" / "queued" / "manifest.json").is_file()


def test_bad_clips_are_refused_with_reasons_before_training(daemon, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.full(RATE := 16_000, 0.2), RATE)
    with pytest.raises(ValueError, match="needs 5 to 50 clips, got 1.*short.wav: too short"):
        daemon.train_style("bad", [str(short)])
    assert daemon.queue.tasks() == []


"""Clips longer than the model's 30 s window: accepted up to [fit] max_seconds, made in windows.

One test generates past the tiny model's window for real (32 s of audio, a few seconds); the
window and seam logic itself is tested with short windows in tests/engine/test_windows.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge.engine.base import EngineError
from bridge.jobs.pipeline import check_duration, generation_seconds
from bridge.jobs.queue import JobContext
from bridge.musical_time import Meter, clip_samples
from bridge.request import GenerationRequest
from tests.support import OneWindowEngine, make_config, make_daemon, make_pipeline

TOO_LONG = ("61 bars at 120 BPM in 4/4 is 122.0 s, longer than the longest clip allowed "
            "(120 s); ask for fewer bars, or raise max_seconds under [fit] in the config file")


def request(bars: int, **changes) -> GenerationRequest:
    return GenerationRequest(prompt="dusty funk drums", bpm=120, bars=bars, seed=3, **changes)


def test_a_long_clip_is_made_in_windows_and_is_exactly_n_bars(tiny_engine, tmp_path,
                                                              monkeypatch):
    calls = []
    real = tiny_engine.generate

    def spy(spec, progress, cancel):
        calls.append((spec, real(spec, progress, cancel)))
        return calls[-1][1]

    monkeypatch.setattr(tiny_engine, "generate", spy)
    pipeline = make_pipeline(make_config(tmp_path), tiny_engine, tmp_path / "clips")
    progress: list[float] = []
    ctx = JobContext(job_id=1, request=request(16, loop=True), cancel=threading.Event(),
                     _on_progress=progress.append)
    (clip,) = pipeline.run(ctx)  # 32 s plus the loop's crossfade tail
    assert [(round(s.seconds, 2), s.prefix_codes is not None) for s, _ in calls] == [
        (30.0, False), (2.04, True)]  # 1602 whole frames in all
    first, second = calls[0][1], calls[1][0]
    np.testing.assert_array_equal(second.prefix_codes, first.codes[..., -600:])  # 12 s
    audio, rate = sf.read(clip.path, always_2d=True)
    assert len(audio) == clip_samples(16, 120, Meter(4, 4), rate) == 32 * rate
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_clips_past_the_window_are_accepted_up_to_the_configured_maximum(tiny_engine):
    assert check_duration(request(40), tiny_engine) == 80.0
    assert check_duration(request(60), tiny_engine) == 120.0
    with pytest.raises(EngineError) as refused:
        check_duration(request(61), tiny_engine)
    assert str(refused.value) == TOO_LONG
    assert check_duration(request(61), tiny_engine, 200.0) == 122.0
    with pytest.raises(EngineError, match=r"longest clip allowed \(10 s\)"):
        check_duration(request(8), tiny_engine, 10.0)


def test_what_cannot_be_made_in_windows_must_fit_one(tiny_engine):
    with pytest.raises(EngineError, match=r"16 bars at 120 BPM in 4/4 is 32\.0 s, longer than "
                                          r"the 30 s tiny can generate at once, and the fast "
                                          r"engine cannot continue past its window"):
        check_duration(request(16), OneWindowEngine())
    assert check_duration(request(15), OneWindowEngine()) == 30.0
    with pytest.raises(EngineError, match="an audio prompt is continued within one window"):
        check_duration(request(16, audio_prompt="take.wav"), tiny_engine)
    with pytest.raises(EngineError, match="a melody conditions one window"):
        check_duration(request(16, melody_audio="tune.wav"), tiny_engine)


def test_windowed_clips_get_all_their_tempo_fit_material(tiny_engine):
    slow = GenerationRequest(prompt="x", bpm=60, bars=7)  # 28 s: 35.2 s with the fit's margin
    assert generation_seconds(slow, tiny_engine, 28.0, tempo_lock=True,
                              windows=True) == pytest.approx(1.1 * (28 + 4))
    assert generation_seconds(slow, tiny_engine, 28.0, tempo_lock=True) == 30.0


def test_the_daemon_accepts_long_clips_and_names_the_maximum(tiny_engine, tmp_path: Path):
    daemon = make_daemon(tmp_path / "a", tiny_engine)
    try:
        daemon.submit(request(40))  # queued, not run: the daemon is not started
        with pytest.raises(EngineError) as refused:
            daemon.submit(request(61))
        assert str(refused.value) == TOO_LONG
    finally:
        daemon.stop()
    raised = make_daemon(tmp_path / "b", tiny_engine, {"fit": {"max_seconds": 200.0}})
    try:
        raised.submit(request(61))
    finally:
        raised.stop()

"""The job pipeline on the real tiny model: request -> engine -> musical fit -> files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import soundfile as sf

from bridge.jobs.pipeline import generation_seconds
from bridge.jobs.queue import JobContext
from bridge.musical_time import Meter, clip_seconds
from bridge.post.loop import loop_discontinuity
from bridge.request import GenerationRequest
from tests.support import make_config, make_pipeline


def _run(tmp_path: Path, engine, request: GenerationRequest, **fit):
    config = make_config(tmp_path, {"fit": fit} if fit else None)
    pipeline = make_pipeline(config, engine, tmp_path / "clips")
    ctx = JobContext(job_id=5, request=request, cancel=threading.Event())
    return pipeline.run(ctx)


def test_generation_asks_for_extra_material_only_when_fitting(tiny_engine):
    request = GenerationRequest(prompt="x", bpm=120, bars=2)
    clip_s = clip_seconds(2, 120, Meter(4, 4))
    assert generation_seconds(request, tiny_engine, clip_s, tempo_lock=False) == clip_s
    locked = generation_seconds(request, tiny_engine, clip_s, tempo_lock=True)
    assert locked == pytest.approx(1.1 * (4.0 + 2.0))
    looped = generation_seconds(request.with_changes(loop=True), tiny_engine, clip_s,
                                tempo_lock=False)
    assert clip_s < looped < clip_s + 0.1
    long = GenerationRequest(prompt="x", bpm=60, bars=7)  # 28 s: fits the window, extra cannot
    assert generation_seconds(long, tiny_engine, 28.0, tempo_lock=True) == tiny_engine.max_seconds


def test_tempo_locked_clip_is_exact_and_records_the_fit(tiny_engine, tmp_path):
    request = GenerationRequest(prompt="x", bpm=100, bars=2, meter=Meter(3, 4), seed=3,
                                position_s=12.5)
    (clip,) = _run(tmp_path, tiny_engine, request, tempo_lock=True)
    assert sf.info(clip.path).frames == 172800  # 2 bars * 3 quarters * 0.6 s = 3.6 s * 48000
    sidecar = json.loads(Path(clip.sidecar).read_text())
    assert {"tempo_locked", "tempo_confidence", "stretch_ratio", "offset_s"} <= set(sidecar)
    assert sidecar["position_s"] == 12.5 and sidecar["job_id"] == 5
    assert clip.position_s == 12.5


def test_request_switch_overrides_the_config(tiny_engine, tmp_path):
    request = GenerationRequest(prompt="x", bpm=120, bars=1, seed=3, tempo_lock=False)
    (clip,) = _run(tmp_path, tiny_engine, request, tempo_lock=True)
    assert "tempo_locked" not in json.loads(Path(clip.sidecar).read_text())


def test_loop_mode_wraps_without_a_click(tiny_engine, tmp_path):
    request = GenerationRequest(prompt="x", bpm=120, bars=1, seed=3, loop=True)
    (clip,) = _run(tmp_path, tiny_engine, request)
    audio, rate = sf.read(clip.path, always_2d=True)
    assert (rate, len(audio)) == (48000, 96000)  # one 4/4 bar at 120 BPM: 2 s
    assert json.loads(Path(clip.sidecar).read_text())["loop"] is True
    assert loop_discontinuity(audio.T) < 5

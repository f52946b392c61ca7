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


class _SeededMaterial:
    """An engine stand-in whose output depends on the seed: noise for the first seed, a
    114 BPM kick-and-hat groove for the next. Records the seeds it was asked for."""

    name = "stand-in"
    model_id = "stand-in"
    sample_rate = 32_000
    frame_rate = 50.0
    max_seconds = 30.0
    capabilities = frozenset()

    def __init__(self, groove_from_seed: int) -> None:
        self.groove_from_seed = groove_from_seed
        self.seeds: list[int] = []

    def generate(self, spec, progress, cancel):
        import numpy as np

        from bridge.engine.base import GeneratedAudio

        self.seeds.append(spec.seed)
        rate, seconds = self.sample_rate, 12.0
        n = int(seconds * rate)
        rng = np.random.default_rng(spec.seed)
        if spec.seed < self.groove_from_seed:
            mono = 0.1 * rng.standard_normal(n)
        else:
            mono = np.zeros(n)
            t = np.arange(int(0.2 * rate)) / rate
            kick = 0.8 * np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t * 35)) / rate) \
                * np.exp(-t * 14)
            for i in range(int(seconds * 114 / 60)):
                start = int(round((0.3 + i * 60 / 114) * rate))
                hat = 0.3 * rng.standard_normal(int(0.03 * rate)) * np.exp(-np.arange(
                    int(0.03 * rate)) / rate * 100)
                mono[start:start + hat.size] += hat[:max(0, n - start)]
                if i % 2 == 0:
                    mono[start:start + kick.size] += kick[:max(0, n - start)]
        return GeneratedAudio(mono[np.newaxis, np.newaxis, :].astype(np.float32), rate)


def test_a_clip_that_cannot_be_locked_is_generated_again_with_the_next_seed(tmp_path):
    engine = _SeededMaterial(groove_from_seed=41)
    request = GenerationRequest(prompt="x", bpm=120, bars=4, seed=40, retries=2)
    retried: list[tuple[int, str]] = []
    config = make_config(tmp_path, {"fit": {"tempo_lock": True}})
    pipeline = make_pipeline(config, engine, tmp_path / "clips")
    ctx = JobContext(5, request, threading.Event(),
                     _on_retry=lambda attempt, why: retried.append((attempt, why)))
    (clip,) = pipeline.run(ctx)
    sidecar = json.loads(Path(clip.sidecar).read_text())
    assert engine.seeds == [40, 41]
    assert [a for a, _ in retried] == [2] and "no clear beat" in retried[0][1]
    assert sidecar["seed"] == 41 and sidecar["attempt"] == 2
    assert sidecar["tempo_locked"] is True
    assert sidecar["attempt_reason"].startswith("attempt 1 (seed 40): variation 1: no clear beat")
    assert sidecar["attempt_reason"].endswith("kept: locked")


def test_retries_stop_at_the_limit_and_say_so(tmp_path):
    engine = _SeededMaterial(groove_from_seed=10**6)
    request = GenerationRequest(prompt="x", bpm=120, bars=4, seed=7, retries=1)
    (clip,) = _run(tmp_path, engine, request, tempo_lock=True)
    sidecar = json.loads(Path(clip.sidecar).read_text())
    assert engine.seeds == [7, 8]
    assert sidecar["attempt"] == 2 and sidecar["tempo_locked"] is False
    assert "kept: retries used up (variation 1: no clear beat" in sidecar["attempt_reason"]

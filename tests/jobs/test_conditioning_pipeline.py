"""Conditioning through the job pipeline and the daemon, on the tiny offline models: audio
files in, bar-exact clips and sidecars out, every bad file refused with its reason."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pedalboard.io
import pytest
import soundfile as sf

from bridge.daemon import check_supported
from bridge.engine.tiny_model import build_tiny_model
from bridge.engine.transformers_engine import load_engine
from bridge.events import DONE, FAILED, ErrorReport, JobEvent
from bridge.jobs.conditioning import AudioInputError
from bridge.jobs.pipeline import prepare_conditioning
from bridge.jobs.queue import JobContext
from bridge.request import GenerationRequest
from tests.support import make_config, make_daemon, make_pipeline

WAIT_S = 30.0


def write_tone(path: Path, seconds: float, rate: int = 44_100, channels: int = 2,
               gain: float = 0.4) -> Path:
    t = np.arange(int(round(seconds * rate))) / rate
    wave = gain * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    data = np.stack([wave * (1 - 0.2 * c) for c in range(channels)], axis=1).astype(np.float32)
    if path.suffix == ".mp3":
        with pedalboard.io.AudioFile(str(path), "w", rate, channels) as f:  # type: ignore[attr-defined]
            f.write(data.T)
    else:
        sf.write(path, data, rate)
    return path


@pytest.fixture(scope="module")
def melody_engine(tmp_path_factory: pytest.TempPathFactory):
    path = build_tiny_model(tmp_path_factory.mktemp("tiny-melody") / "model", melody=True)
    return load_engine(str(path), device="cpu")


class SpecSpy:
    """Wraps an engine; keeps the GenerationSpec of every generate call."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.specs: list = []

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def generate(self, spec, progress, cancel):
        self.specs.append(spec)
        return self.engine.generate(spec, progress, cancel)


def run_job(tmp_path: Path, engine, request: GenerationRequest, **fit):
    config = make_config(tmp_path, {"fit": fit} if fit else None)
    pipeline = make_pipeline(config, engine, tmp_path / "clips")
    return pipeline.run(JobContext(job_id=7, request=request, cancel=threading.Event()))


def sidecar_of(clip) -> dict:
    return json.loads(Path(clip.sidecar).read_text())


def request_for(audio: Path | None = None, **changes) -> GenerationRequest:
    base = GenerationRequest(prompt="dusty funk drums", bpm=120, bars=1, seed=5)
    if audio is not None:
        base = replace(base, audio_prompt=str(audio))
    return replace(base, **changes)


# --- continuation through the pipeline -----------------------------------------------------


def test_continuation_writes_n_bars_of_new_material_and_records_the_span(tiny_engine, tmp_path):
    audio = write_tone(tmp_path / "selection.wav", 3.0)
    spy = SpecSpy(tiny_engine)
    (clip,) = run_job(tmp_path, spy, request_for(audio, prompt_seconds=1.0, position_s=3.0))
    assert sf.info(clip.path).frames == 96_000  # one 4/4 bar at 120 BPM: 2 s * 48000
    (spec,) = spy.specs
    assert spec.seconds == pytest.approx(2.0)  # the bar: new material only
    assert len(spec.audio_prompt) == 50 * 640 and spec.prompt_rate == 32_000
    assert not spec.keep_prompt
    sidecar = sidecar_of(clip)
    assert sidecar["audio_prompt"] == str(audio)
    assert sidecar["prompt_start_s"] == pytest.approx(2.0)
    assert sidecar["prompt_end_s"] == pytest.approx(3.0)
    assert sidecar["keep_prompt"] is False and sidecar["position_s"] == 3.0


def test_keep_prompt_puts_prompt_and_new_material_in_the_n_bars(tiny_engine, tmp_path):
    audio = write_tone(tmp_path / "selection.flac", 5.0, rate=48_000, channels=1)
    spy = SpecSpy(tiny_engine)
    request = request_for(audio, bars=2, prompt_seconds=1.5, keep_prompt=True)
    (clip,) = run_job(tmp_path, spy, request)
    assert sf.info(clip.path).frames == 192_000  # two 4/4 bars at 120 BPM: 4 s * 48000
    (spec,) = spy.specs
    assert spec.keep_prompt and spec.seconds == pytest.approx(4.0 - 1.5)
    sidecar = sidecar_of(clip)
    assert (sidecar["prompt_start_s"], sidecar["prompt_end_s"]) == pytest.approx((3.5, 5.0))
    assert sidecar["keep_prompt"] is True


def test_a_file_shorter_than_prompt_seconds_is_used_whole_in_whole_frames(tiny_engine,
                                                                          tmp_path):
    audio = write_tone(tmp_path / "short.aiff", 0.73)
    plan = prepare_conditioning(request_for(audio, prompt_seconds=8.0), tiny_engine)
    assert plan.prompt is not None and plan.prompt.frames == 36  # 0.72 s
    assert plan.prompt.start_s == pytest.approx(0.01) and plan.prompt.end_s == pytest.approx(0.73)
    assert len(plan.prompt.samples) == 36 * 640


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".aiff", ".mp3"])
def test_every_supported_format_loads_mono_at_the_model_rate(tiny_engine, tmp_path, suffix):
    audio = write_tone(tmp_path / f"take{suffix}", 2.0)
    plan = prepare_conditioning(request_for(audio, prompt_seconds=1.0), tiny_engine)
    assert plan.prompt is not None
    assert plan.prompt.samples.ndim == 1 and plan.prompt.rate == 32_000
    assert len(plan.prompt.samples) == 50 * 640
    assert np.abs(plan.prompt.samples).max() > 0.1


def test_a_prompt_is_shortened_to_fit_the_window_or_refused(tiny_engine, tmp_path):
    audio = write_tone(tmp_path / "long.wav", 10.0, rate=32_000, channels=1)
    # 14 bars at 120 BPM: 28 s of new material leaves 2 s of the 30 s window.
    plan = prepare_conditioning(request_for(audio, bars=14, prompt_seconds=8.0), tiny_engine)
    assert plan.prompt is not None and plan.prompt.frames == 100 and plan.seconds == 28.0
    assert plan.prompt.start_s == pytest.approx(8.0)
    with pytest.raises(AudioInputError, match=r"leave less than 0\.5 s .* window"):
        prepare_conditioning(request_for(audio, bars=15), tiny_engine)


def test_keep_prompt_needs_room_for_new_material(tiny_engine, tmp_path):
    audio = write_tone(tmp_path / "take.wav", 10.0)
    with pytest.raises(AudioInputError, match=r"keep_prompt: the 1 bars \(2\.00 s\) must hold "
                                              r"the 3\.00 s audio prompt"):
        prepare_conditioning(request_for(audio, prompt_seconds=3.0, keep_prompt=True),
                             tiny_engine)


def test_a_continuation_is_not_tempo_locked_unless_asked(tiny_engine, tmp_path):
    audio = write_tone(tmp_path / "take.wav", 3.0)
    (clip,) = run_job(tmp_path / "a", tiny_engine, request_for(audio), tempo_lock=True)
    assert "tempo_locked" not in sidecar_of(clip)
    (clip,) = run_job(tmp_path / "b", tiny_engine, request_for(audio, tempo_lock=True))
    assert "tempo_locked" in sidecar_of(clip)


def test_negative_prompt_and_parent_job_reach_the_spec_and_sidecar(tiny_engine, tmp_path):
    spy = SpecSpy(tiny_engine)
    clips = run_job(tmp_path, spy, request_for(negative_prompt="vocals", variations=2,
                                               parent_job=3))
    assert spy.specs[0].negative_prompt == "vocals" and spy.specs[0].variations == 2
    for clip in clips:
        assert sidecar_of(clip)["negative_prompt"] == "vocals"
        assert sidecar_of(clip)["parent_job"] == 3
    (plain,) = run_job(tmp_path / "plain", tiny_engine, request_for())
    assert {"negative_prompt", "parent_job", "audio_prompt"}.isdisjoint(sidecar_of(plain))


# --- melody ----------------------------------------------------------------------------------


def test_melody_audio_conditions_a_melody_model(melody_engine, tmp_path):
    melody = write_tone(tmp_path / "hum.wav", 3.0)
    spy = SpecSpy(melody_engine)
    (clip,) = run_job(tmp_path, spy, request_for(melody_audio=str(melody)))
    (spec,) = spy.specs
    assert spec.melody is not None and spec.melody_rate == 44_100
    assert len(spec.melody) == 3 * 44_100
    assert sf.info(clip.path).frames == 96_000  # one 4/4 bar at 120 BPM: 2 s * 48000
    sidecar = sidecar_of(clip)
    assert sidecar["melody_audio"] == str(melody) and sidecar["melody_s"] == pytest.approx(3.0)


def test_a_melody_request_on_a_model_without_melody_is_refused(tiny_engine, tmp_path):
    melody = write_tone(tmp_path / "hum.wav", 3.0)
    with pytest.raises(ValueError, match="melody_audio .*facebook/musicgen-melody"):
        check_supported(request_for(melody_audio=str(melody)), tiny_engine)


# --- bad files: refused when submitted, or the job fails with the reason -----------------------


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir()
    text = folder / "notes.wav"
    text.write_text("not audio at all\n" * 20)
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    no_samples = folder / "nothing.wav"
    sf.write(no_samples, np.zeros((0, 1), np.float32), 32_000)
    silent = folder / "silent.wav"
    sf.write(silent, np.zeros((32_000, 2), np.float32), 32_000)
    quiet_end = folder / "quiet-end.wav"
    sf.write(quiet_end, np.concatenate([np.full(32_000, 0.5), np.zeros(64_000)]).astype(
        np.float32), 32_000)
    short = write_tone(folder / "short.wav", 0.3)
    junk = folder / "junk.mp3"
    junk.write_bytes(bytes(range(256)) * 20)
    return {
        "missing": (folder / "absent.wav", "no such file"),
        "folder": (folder, "is a folder, not an audio file"),
        "text": (text, "cannot read .* as audio: not a format"),
        "junk mp3": (junk, "cannot read .* as audio: not a format"),
        "empty": (empty, r"is empty \(0 bytes\)"),
        "no samples": (no_samples, r"holds no audio \(0 samples\)"),
        "silent": (silent, r"is silent \(peak digital silence\)"),
        "silent where used": (quiet_end, r"the part used \(1\.00 s from 2\.00 s\) of .* "
                                         r"is silent"),
        "too short": (short, r"lasts 0\.30 s; it needs at least 0\.5 s"),
    }


def test_every_bad_prompt_file_is_refused_at_submit_with_its_reason(tiny_engine, tmp_path):
    daemon = make_daemon(tmp_path, tiny_engine)
    try:
        for path, message in _bad_files(tmp_path / "bad").values():
            request = request_for(path, prompt_seconds=1.0)
            with pytest.raises(ValueError, match=f"audio_prompt: .*{message}"):
                daemon.submit(request)
            melody = request_for(melody_audio=str(path))
            with pytest.raises(ValueError, match="melody_audio"):  # not this model's anyway
                daemon.submit(melody)
        assert daemon.queue.jobs() == [] and daemon.last_submitted is None
    finally:
        daemon.stop()


def test_every_bad_melody_file_is_refused_with_its_reason(melody_engine, tmp_path):
    for name, (path, message) in _bad_files(tmp_path / "bad").items():
        if name == "silent where used":  # the melody is read from the start: not silent
            continue
        with pytest.raises(AudioInputError, match=f"melody_audio: .*{message}"):
            check_supported(request_for(melody_audio=str(path)), melody_engine)


def test_a_prompt_file_gone_by_the_time_the_job_runs_fails_the_job_clearly(tiny_engine,
                                                                           tmp_path):
    audio = write_tone(tmp_path / "take.wav", 2.0)
    daemon = make_daemon(tmp_path, tiny_engine)
    events: list[JobEvent] = []
    ended = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, JobEvent) and event.kind in (DONE, FAILED):
            events.append(event)
            ended.set()

    daemon.bus.subscribe(on_event)
    job = daemon.submit(request_for(audio))  # checked and queued; the worker is not running
    audio.unlink()
    daemon.start()
    try:
        assert ended.wait(WAIT_S)
    finally:
        daemon.stop()
    (event,) = events
    assert event.job_id == job and event.kind == FAILED
    assert "audio_prompt: no such file" in event.error and str(audio) in event.error


# --- negative prompt with guidance 1: a warning that reaches the user --------------------------


def test_negative_prompt_without_guidance_warns_in_the_log_and_on_the_bus(tiny_engine, tmp_path,
                                                                          caplog):
    daemon = make_daemon(tmp_path, tiny_engine)
    reports: list[ErrorReport] = []
    daemon.bus.subscribe(lambda e: reports.append(e) if isinstance(e, ErrorReport) else None)
    try:
        with caplog.at_level(logging.WARNING, logger="bridge.daemon"):
            job = daemon.submit(request_for(negative_prompt="vocals", cfg=1.0))
            daemon.submit(request_for(negative_prompt="vocals", cfg=3.0))
    finally:
        daemon.stop()
    (report,) = reports
    assert report.about == f"job {job}"
    assert report.reason == ("warning: negative prompt 'vocals' has no effect with guidance "
                             "(cfg) 1: raise cfg above 1 to steer away from it")
    assert "negative prompt 'vocals' has no effect" in caplog.text


def test_the_cli_prints_the_warning_on_stderr(tiny_model_dir, tmp_path, monkeypatch):
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "MUSICGEN_BRIDGE_CONFIG": str(tmp_path / "absent.toml")}
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "generate", "--model", str(tiny_model_dir),
         "--prompt", "funk", "--bpm", "120", "--bars", "1", "--cfg", "1",
         "--negative", "vocals", "--out", str(tmp_path / "clips")],
        capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    assert "negative prompt 'vocals' has no effect with guidance (cfg) 1" in result.stderr


def test_submit_remembers_the_last_request(tiny_engine, tmp_path):
    daemon = make_daemon(tmp_path, tiny_engine)
    try:
        first = daemon.submit(request_for())
        second_request = request_for(prompt="glassy pads")
        second = daemon.submit(second_request)
        assert first != second and daemon.last_submitted == (second, second_request)
    finally:
        daemon.stop()


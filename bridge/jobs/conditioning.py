"""Audio a request conditions on: the prompt to continue, the melody to follow.

``prepare`` loads and checks the files a request names and plans the continuation; the daemon
calls it when a request is submitted (a bad file is refused at once, with its reason) and the
job calls it again when it runs (the file may have changed since). Every problem a person can
cause is an ``AudioInputError`` (a ValueError) naming the field, the file and the fix.

Continuation, decided here:

- The last ``prompt_seconds`` of the file (or all of it, when shorter), cut to whole codec
  frames (20 ms), mixed to mono and resampled to the model's rate, become the audio prompt.
- By default the clip holds only the new material: N bars that start exactly where the prompt
  ends (the re-synthesised prompt is cut, sample-exact).
- With ``keep_prompt`` the N bars hold the prompt followed by the new material: the prompt
  must be shorter than the clip; ``position_s`` should then be where the prompt starts.
- Prompt plus new material must fit the model's window (30 s); without keep_prompt a prompt
  that does not fit is shortened (to no less than 0.5 s), else the request is refused.
- The sidecar records the file and the span used (``prompt_start_s``..``prompt_end_s``, in
  the file's own time).
"""

from __future__ import annotations

import logging
import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard.io
import soundfile
import soxr

from bridge.engine.base import Engine
from bridge.errors import UserError, shown
from bridge.reading import is_inside, kind_of
from bridge.request import GenerationRequest

log = logging.getLogger(__name__)

MIN_AUDIO_S = 0.5
# Quieter than this (peak, dBFS) is silence: nothing for a model to continue or follow.
SILENCE_DBFS = -70.0
# A melody model reads the first 30 s of its melody (MusicgenMelodyFeatureExtractor's chunk).
MAX_MELODY_S = 30.0
_FORMATS = "a wav, flac, aiff or mp3 file"
# An hour of 48 kHz 24-bit stereo is ~1 GB; only the last 25 s (or first 30 s) is decoded.
MAX_AUDIO_BYTES = 2 << 30
AUDIO_FIELDS = ("audio_prompt", "melody_audio")


def check_audio_path(value: str, field: str, allowed: Sequence[Path]) -> Path:
    """The resolved path of an audio file a request names, refused (AudioInputError) unless
    it lies inside one of the ``allowed`` folders (the clip folder and [generation]
    audio_folders) and is a regular, non-empty file under MAX_AUDIO_BYTES.

    Cheap (no decoding). Outside the allowed folders the answer is the same whether or not the
    file exists, so a request cannot probe the machine's files.
    """
    path = Path(value).expanduser()
    resolved = Path(os.path.realpath(path))  # symlinks out of an allowed folder count as outside
    folders = [Path(os.path.realpath(Path(f).expanduser())) for f in allowed]
    if not path.is_absolute() or not is_inside(resolved, folders):
        raise AudioInputError(
            f"{field}: {shown(value)} is outside the folders audio is read from (the clip "
            f"folder and [generation] audio_folders in the config); copy the file into the "
            f"clip folder or add its folder to audio_folders")
    _check_file(resolved, field, str(path))
    return resolved


def _check_file(file: Path, field: str, name: str) -> None:
    """A regular, non-empty file under MAX_AUDIO_BYTES (a FIFO would block the reader, a
    device never ends); ``name`` is how the request named it."""
    try:
        info = file.stat()
    except FileNotFoundError:
        raise AudioInputError(f"{field}: no such file {shown(name)}; give the path of "
                              f"{_FORMATS}") from None
    except OSError as err:
        raise AudioInputError(f"{field}: cannot read {shown(name)}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise AudioInputError(f"{field}: {shown(name)} is {kind_of(info.st_mode)}, not an "
                              f"audio file; give the path of {_FORMATS}")
    if info.st_size == 0:
        raise AudioInputError(f"{field}: {shown(name)} is empty (0 bytes); render or export "
                              "the audio again")
    if info.st_size > MAX_AUDIO_BYTES:
        raise AudioInputError(f"{field}: {shown(name)} is {info.st_size >> 20} MB; audio "
                              f"prompts are read up to {MAX_AUDIO_BYTES >> 20} MB")


def check_audio_paths(request: GenerationRequest, allowed: Sequence[Path]) -> None:
    """check_audio_path for every audio file ``request`` names."""
    for field in AUDIO_FIELDS:
        value = getattr(request, field)
        if value:
            check_audio_path(value, field, allowed)


class AudioInputError(UserError):
    """An audio file a request names cannot be used (the message says why and what to do)."""


@dataclass(frozen=True)
class AudioClip:
    """Mono float32 audio read from ``path``: ``start_s`` into the file, which lasts
    ``duration_s``."""

    path: str
    samples: np.ndarray
    rate: int
    start_s: float
    duration_s: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class Prompt:
    """The audio prompt: ``frames`` codec frames at the engine's rate, and where in the file
    they come from."""

    path: str
    samples: np.ndarray
    rate: int
    frames: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Conditioning:
    """What a request's audio adds to its generation."""

    seconds: float  # new audio the engine generates (the prompt not included)
    prompt: Prompt | None = None
    keep_prompt: bool = False
    melody: AudioClip | None = None

    def spec_fields(self) -> dict[str, Any]:
        """GenerationSpec fields (besides the text and knobs)."""
        fields: dict[str, Any] = {"seconds": self.seconds}
        if self.prompt is not None:
            fields.update(audio_prompt=self.prompt.samples, prompt_rate=self.prompt.rate,
                          keep_prompt=self.keep_prompt)
        if self.melody is not None:
            fields.update(melody=self.melody.samples, melody_rate=self.melody.rate)
        return fields

    def sidecar(self, request: GenerationRequest) -> dict[str, Any]:
        """Sidecar fields saying what conditioned the clip besides its text and knobs: the
        audio, the negative prompt, and the job it is a variation of (each only when used)."""
        out: dict[str, Any] = {}
        if request.negative_prompt:
            out["negative_prompt"] = request.negative_prompt
        if request.parent_job is not None:
            out["parent_job"] = request.parent_job
        if self.prompt is not None:
            out.update(audio_prompt=self.prompt.path, prompt_start_s=round(self.prompt.start_s, 6),
                       prompt_end_s=round(self.prompt.end_s, 6), keep_prompt=self.keep_prompt)
        if self.melody is not None:
            out.update(melody_audio=self.melody.path,
                       melody_s=round(self.melody.seconds, 6))
        return out


def prepare(request: GenerationRequest, engine: Engine, *, clip_s: float,
            gen_s: float) -> Conditioning:
    """Load the request's audio prompt and melody and plan the generation.

    ``clip_s``: the clip's length (N bars); ``gen_s``: the audio the clip needs from the
    engine (the clip plus what tempo lock and loop mode trim away).
    """
    melody = None
    if request.melody_audio:
        melody = read_audio(request.melody_audio, "melody_audio", first_s=MAX_MELODY_S)
    if not request.audio_prompt:
        return Conditioning(seconds=gen_s, melody=melody)
    prompt, new_s = _plan_prompt(request, engine, clip_s=clip_s, gen_s=gen_s)
    return Conditioning(seconds=new_s, prompt=prompt, keep_prompt=request.keep_prompt,
                        melody=melody)


def _plan_prompt(request: GenerationRequest, engine: Engine, *, clip_s: float,
                 gen_s: float) -> tuple[Prompt, float]:
    assert request.audio_prompt
    rate, frame_rate = int(engine.sample_rate), float(engine.frame_rate)
    hop = int(round(rate / frame_rate))
    audio = read_audio(request.audio_prompt, "audio_prompt", last_s=request.prompt_seconds)
    wanted = _frames(min(request.prompt_seconds, audio.duration_s), frame_rate)
    window = int(round(engine.max_seconds * frame_rate))
    total = int(round(gen_s * frame_rate))
    min_frames = math.ceil(MIN_AUDIO_S * frame_rate)
    if request.keep_prompt:
        clip_frames = int(round(clip_s * frame_rate))
        if wanted >= clip_frames:
            raise AudioInputError(
                f"keep_prompt: the {request.bars} bars ({clip_s:.2f} s) must hold the "
                f"{wanted / frame_rate:.2f} s audio prompt and new material after it; ask for "
                "more bars or fewer prompt_seconds, or leave keep_prompt off")
        frames, new_frames = wanted, min(total, window) - wanted
    else:
        room = window - total
        if room < min_frames:
            raise AudioInputError(
                f"audio_prompt: {request.bars} bars ({gen_s:.2f} s to generate) leave less than "
                f"{MIN_AUDIO_S:g} s of {engine.model_id}'s {engine.max_seconds:g} s window for "
                "the audio prompt; ask for fewer bars")
        frames, new_frames = min(wanted, room), total
        if frames < wanted:
            log.info("audio prompt shortened from %.2f s to %.2f s to fit the %g s window",
                     wanted / frame_rate, frames / frame_rate, engine.max_seconds)
    wave = audio.samples
    if audio.rate != rate:
        wave = soxr.resample(wave, audio.rate, rate, quality="HQ")
    need = frames * hop
    wave = np.asarray(wave[-need:], dtype=np.float32)
    if len(wave) < need:  # resampling rounded a sample away: pad the start, not the joint
        wave = np.concatenate([np.zeros(need - len(wave), np.float32), wave])
    prompt = Prompt(path=audio.path, samples=np.ascontiguousarray(wave), rate=rate,
                    frames=frames, start_s=audio.duration_s - frames / frame_rate,
                    end_s=audio.duration_s)
    return prompt, new_frames / frame_rate


def _frames(seconds: float, frame_rate: float) -> int:
    return int(math.floor(seconds * frame_rate + 1e-6))


def read_audio(path: str, field: str, *, last_s: float | None = None,
               first_s: float | None = None) -> AudioClip:
    """Mono float32 audio from ``path`` (wav, flac, aiff, mp3, ...): its last ``last_s`` or
    first ``first_s`` seconds, or all of it. Refuses (AudioInputError) a missing, empty,
    unreadable, too short (< 0.5 s) or silent file."""
    file = Path(path).expanduser()
    _check_file(file, field, str(file))
    data, rate, start, frames = _read(file, field, last_s=last_s, first_s=first_s)
    duration = frames / rate
    if frames == 0:
        raise AudioInputError(f"{field}: {str(file)!r} holds no audio (0 samples); render or "
                              "export the audio again")
    if duration < MIN_AUDIO_S:
        raise AudioInputError(f"{field}: {str(file)!r} lasts {duration:.2f} s; it needs at "
                              f"least {MIN_AUDIO_S:g} s of audio")
    if not np.isfinite(data).all():
        raise AudioInputError(f"{field}: {str(file)!r} has invalid (NaN or infinite) samples; "
                              "export it again as 16 or 24 bit")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = f"{20 * math.log10(peak):.0f} dBFS" if peak > 0 else "digital silence"
        where = "" if start == 0 and len(mono) == frames else \
            f"the part used ({len(mono) / rate:.2f} s from {start / rate:.2f} s) of "
        raise AudioInputError(f"{field}: {where}{str(file)!r} is silent (peak {level}); "
                              "choose audio with sound in it")
    return AudioClip(path=str(file), samples=np.ascontiguousarray(mono, dtype=np.float32),
                     rate=rate, start_s=start / rate, duration_s=duration)


def _read(file: Path, field: str, *, last_s: float | None,
          first_s: float | None) -> tuple[np.ndarray, int, int, int]:
    """(samples (n, channels) float32, rate, first sample read, the file's length in
    samples). libsndfile first (wav, flac, aiff, ogg, mp3); pedalboard for what it lacks."""
    try:
        with soundfile.SoundFile(str(file)) as f:
            rate, frames = int(f.samplerate), int(f.frames)
            start, stop = _span(rate, frames, last_s, first_s)
            f.seek(start)
            data = f.read(stop - start, dtype="float32", always_2d=True)
        return data, rate, start, frames
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        first_error = err
    try:
        with pedalboard.io.AudioFile(str(file)) as f:
            rate, frames = int(f.samplerate), int(f.frames)
            start, stop = _span(rate, frames, last_s, first_s)
            f.seek(start)
            data = np.asarray(f.read(stop - start), dtype=np.float32).T
        return np.ascontiguousarray(data), rate, start, frames
    except (ValueError, RuntimeError, OSError) as err:
        log.debug("%s: libsndfile: %s; pedalboard: %s", file, first_error, err)
        raise AudioInputError(f"{field}: cannot read {str(file)!r} as audio: not a format "
                              f"libsndfile or pedalboard can decode; give {_FORMATS}") from err


def _span(rate: int, frames: int, last_s: float | None,
          first_s: float | None) -> tuple[int, int]:
    start, stop = 0, frames
    if last_s is not None:
        start = max(0, frames - int(math.ceil(last_s * rate)))
    if first_s is not None:
        stop = min(frames, int(math.ceil(first_s * rate)))
    return start, stop


"""Clip finishing: from raw model audio to a bar-exact, click-free, loudness-matched clip.

Every step is a plain callable on float32 arrays shaped (channels, samples), the layout
pedalboard uses, so steps compose and each can be tested alone. ``finish`` is the order the
daemon runs them in; the tempo-fit and loop steps slot in between ``resample`` and
``fit_length``.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
import pedalboard
import pyloudnorm
import soxr

from bridge.musical_time import Meter
from bridge.output.settings import OutputSettings
from bridge.post.arrays import as_audio, check_rate
from bridge.post.loop import DEFAULT_CROSSFADE_S, make_loop
from bridge.post.tempo_fit import TempoFit, fit_tempo

log = logging.getLogger(__name__)

# BS.1770 gates 400 ms blocks; shorter clips are measured as one ungated block instead.
MIN_GATED_SECONDS = 0.4
# Lifting a whisper to -14 LUFS only amplifies hiss: never add more gain than this.
MAX_GAIN_DB = 30.0
# Pushing harder than this into the limiter is audible distortion; miss the target instead.
MAX_DRIVE_DB = 6.0
LIMIT_PASSES = 6
# First guess of loudness gained per dB of drive once the limiter works (measured on drum
# mixes: 0.3..0.7); the secant step replaces it after one pass.
INITIAL_SLOPE = 0.5
TOLERANCE_LU = 0.2
# Headroom for the clipper inside pedalboard's Limiter: a hard clip makes inter-sample overs,
# and the final true-peak scale would otherwise have to take back more loudness.
CLIP_MARGIN_DB = 1.5
# The knee of the limiter's 4:1 first stage, below the ceiling: quieter material passes
# untouched, so a clip only gets compressed where its peaks actually are.
KNEE_BELOW_CEILING_DB = 4.0
# True-peak meters disagree by up to about 0.1 dB on material with energy near Nyquist (a
# clipped transient): their interpolation filters differ. Stay under the ceiling on all of them.
METER_MARGIN_DB = 0.1


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono <-> stereo. Stereo folds to mono by averaging: summing would add 6 dB to a centred
    sound and clip it, and loudness normalisation sets the level afterwards anyway."""
    x = as_audio(audio)
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 (mono) or 2 (stereo), got {channels!r}")
    have = x.shape[0]
    if have == channels:
        return x.copy()
    if channels == 1:
        mono: np.ndarray = x.mean(axis=0, keepdims=True, dtype=np.float32)
        return mono
    if have == 1:
        return np.repeat(x, 2, axis=0)
    raise ValueError(f"cannot map {have} channels to stereo; downmix to mono or stereo first")


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited sample-rate conversion (libsoxr, very high quality, linear phase).

    soxr's one-shot call removes its filter delay, so a downbeat on sample 0 stays on sample 0;
    the output holds about ``samples * rate_out / rate_in`` samples (``fit_length`` makes it
    exact).
    """
    x = as_audio(audio)
    rate_in = check_rate("rate_in", rate_in)
    rate_out = check_rate("rate_out", rate_out)
    if rate_in == rate_out:
        return x.copy()
    if x.shape[1] == 0:
        return np.zeros((x.shape[0], 0), dtype=np.float32)
    out = soxr.resample(np.ascontiguousarray(x.T), rate_in, rate_out, quality="VHQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Cut, or pad with silence, to exactly ``n_samples``."""
    x = as_audio(audio)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < 0:
        raise ValueError(f"n_samples must be a whole number >= 0, got {n_samples!r}")
    have = x.shape[1]
    if have >= n_samples:
        return x[:, :n_samples].copy()
    log.debug("padding clip from %d to %d samples with silence", have, n_samples)
    out = np.zeros((x.shape[0], int(n_samples)), dtype=np.float32)
    out[:, :have] = x
    return out


def fade(audio: np.ndarray, rate: int, ms: float) -> np.ndarray:
    """Raised-cosine fade in and out of ``ms`` each, so the clip starts and ends on zero.

    A raised cosine (half a Hann window) has no corner at either end, unlike a linear ramp,
    so the fade itself does not click; equal-power curves suit crossfades, not fades to zero.
    Fades never overlap: on a clip shorter than two fades each takes half.
    """
    x = as_audio(audio).copy()
    rate = check_rate("rate", rate)
    if not _is_number(ms) or not math.isfinite(ms) or ms < 0:
        raise ValueError(f"fade ms must be a number >= 0, got {ms!r}")
    if ms == 0:
        return x
    n = min(max(1, round(ms * rate / 1000.0)), x.shape[1] // 2)
    if n == 0:
        return x
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)
    x[:, :n] *= ramp
    x[:, -n:] *= ramp[::-1]
    return x


def measure_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS, BS.1770-4) by pyloudnorm; -inf for silence.

    Clips shorter than one 400 ms gating block are measured as a single ungated block, which
    is what the gated measure of a steady sound converges to.
    """
    x = as_audio(audio)
    rate = check_rate("rate", rate)
    n = x.shape[1]
    if n == 0:
        return -math.inf
    # pyloudnorm refuses audio shorter than its block; half a sample of slack avoids rounding.
    block = MIN_GATED_SECONDS if n >= MIN_GATED_SECONDS * rate + 1 else (n - 0.5) / rate
    meter = pyloudnorm.Meter(rate, block_size=block)
    return float(meter.integrated_loudness(np.ascontiguousarray(x.T)))


def measure_true_peak(audio: np.ndarray, rate: int) -> float:
    """True peak in dBTP: the peak of the 4x-oversampled signal (BS.1770-4 Annex 2)."""
    x = as_audio(audio)
    rate = check_rate("rate", rate)
    if x.size == 0:
        return -math.inf
    up = soxr.resample(np.ascontiguousarray(x.T), rate, rate * 4, quality="HQ")
    # max and -min instead of abs(): no 4x-sized temporary array.
    peak = max(float(x.max()), -float(x.min()), float(up.max()), -float(up.min()))
    return gain_to_db(peak)


def normalize_loudness(audio: np.ndarray, rate: int, lufs: float,
                       true_peak_db: float) -> np.ndarray:
    """Bring the clip to ``lufs`` integrated loudness with true peaks at most ``true_peak_db``.

    A plain gain when the peaks allow it; otherwise pedalboard's Limiter takes the peaks and
    the drive is raised until the limited clip reaches the target (at most MAX_DRIVE_DB more).
    The true-peak ceiling always wins over the loudness target. Digital silence and clips
    below the -70 LUFS gate are returned unchanged, with a warning.
    """
    x = as_audio(audio)
    rate = check_rate("rate", rate)
    for name, value in (("lufs", lufs), ("true_peak_db", true_peak_db)):
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not np.any(x):
        if x.size:
            log.warning("clip is digital silence: left silent, no loudness gain "
                        "(check the prompt and the model)")
        return x.copy()
    loudness = measure_loudness(x, rate)
    if not math.isfinite(loudness):
        log.warning("clip is quieter than the -70 LUFS gate: left as it is, no loudness gain "
                    "(check the prompt and the model)")
        return x.copy()
    gain_db = lufs - loudness
    if gain_db > MAX_GAIN_DB:
        log.warning("clip measures %.1f LUFS; reaching %.1f LUFS needs +%.1f dB, capped at "
                    "+%g dB so as not to amplify noise", loudness, lufs, gain_db, MAX_GAIN_DB)
        gain_db = MAX_GAIN_DB
    y = x * np.float32(db_to_gain(gain_db))
    if measure_true_peak(y, rate) <= true_peak_db - METER_MARGIN_DB:
        return y
    return _drive_into_limiter(x, rate, gain_db, lufs, true_peak_db)


def _drive_into_limiter(x: np.ndarray, rate: int, gain_db: float, lufs: float,
                        ceiling_db: float) -> np.ndarray:
    """Limit, measure, and correct the drive by what is missing (a secant step): above the
    knee each dB of drive gives back less than a dB of loudness, so a plain step undershoots.
    The response is not strictly monotonic (a hard-clipped over can cost the whole clip a
    fraction of a dB at the true-peak cap), so the closest pass wins, not the last."""
    max_drive_db = gain_db + MAX_DRIVE_DB
    drive_db, slope, previous = gain_db, INITIAL_SLOPE, None
    best: tuple[float, np.ndarray, float] | None = None
    for _ in range(LIMIT_PASSES):
        y = _cap_true_peak(_limit(x * np.float32(db_to_gain(drive_db)), rate, ceiling_db),
                           rate, ceiling_db)
        reached = measure_loudness(y, rate)
        missing = lufs - reached
        if best is None or abs(missing) < best[0]:
            best = (abs(missing), y, reached)
        if abs(missing) <= TOLERANCE_LU or (missing > 0 and drive_db >= max_drive_db):
            break
        if previous is not None and drive_db != previous[0]:
            # 4:1 above the knee: never assume less than a quarter LU per dB of drive.
            slope = min(1.0, max(0.25, (reached - previous[1]) / (drive_db - previous[0])))
        previous = (drive_db, reached)
        drive_db = min(drive_db + missing / slope, max_drive_db)
    assert best is not None  # LIMIT_PASSES >= 1
    error, y, reached = best
    if error > 0.5:
        log.warning("clip reaches %.1f LUFS, not the %.1f LUFS target, under the %.1f dBTP "
                    "ceiling without audible distortion; lower [output] lufs or raise "
                    "true_peak_db", reached, lufs, ceiling_db)
    return y


def _limit(audio: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """pedalboard's Limiter placed so that it limits at the ceiling and is unity below it.

    It is JUCE's dsp::Limiter: a 4:1 compressor whose knee is fixed at -10 dBFS, a make-up
    gain of (3.75 - threshold) dB, then a hard clip at 0 dBFS (its second stage sits above
    that clip and never acts). Scaling in by ``in_db`` puts the knee KNEE_BELOW_CEILING_DB
    under the clip level; the threshold is chosen so make-up and the scale back out cancel
    ``in_db`` (unity gain below the knee), and the clip lands at ceiling - CLIP_MARGIN_DB.
    """
    clip_db = ceiling_db - CLIP_MARGIN_DB
    in_db = -10.0 - (clip_db - KNEE_BELOW_CEILING_DB)
    threshold_db = in_db + 3.75 + clip_db
    limiter = pedalboard.Limiter(threshold_db=threshold_db)
    limited = limiter(np.ascontiguousarray(audio * np.float32(db_to_gain(in_db))), rate)
    return (limited * np.float32(db_to_gain(clip_db))).astype(np.float32, copy=False)


def _cap_true_peak(audio: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """Final safety: a hard clip leaves inter-sample overs, so scale down to the ceiling."""
    limit_db = ceiling_db - METER_MARGIN_DB
    peak_db = measure_true_peak(audio, rate)
    if peak_db <= limit_db:
        return audio
    return audio * np.float32(db_to_gain(limit_db - peak_db))


@dataclass(frozen=True)
class Grid:
    """The project grid a clip must sit on (tempo lock)."""

    bpm: float
    meter: Meter
    bars: int


def finish(audio: np.ndarray, rate_in: int, n_samples: int,
           settings: OutputSettings) -> np.ndarray:
    """Raw model audio at ``rate_in`` -> the clip to write: ``settings.channels`` x exactly
    ``n_samples`` samples at ``settings.sample_rate`` (``clip_samples(..., rate=that)``)."""
    return finish_to_grid(audio, rate_in, n_samples, settings)[0]


def finish_to_grid(audio: np.ndarray, rate_in: int, n_samples: int, settings: OutputSettings,
                   *, grid: Grid | None = None, loop: bool = False
                   ) -> tuple[np.ndarray, TempoFit | None]:
    """``finish`` with the musical-fit stages: tempo lock onto ``grid`` and loop mode.

    Returns the clip and the tempo fit's result (None when no grid was given) for the
    sidecar. The material should run past ``n_samples`` (see tempo_fit.extra_seconds and
    loop.DEFAULT_CROSSFADE_S); a shortfall is padded with silence.
    """
    rate = settings.sample_rate
    # Resample before widening: the model's output is mono, so this converts one channel.
    x = resample(audio, rate_in, rate)
    x = to_channels(x, settings.channels)
    fit = None
    if grid is not None:
        x, fit = fit_tempo(x, rate, bpm=grid.bpm, meter=grid.meter, bars=grid.bars)
    if loop:
        tail = int(round(DEFAULT_CROSSFADE_S * rate))
        x = make_loop(fit_length(x, max(x.shape[-1], n_samples + tail)), rate, n_samples)
    x = fit_length(x, n_samples)
    if not loop:
        # In loop mode the wrap is already seamless; fades would put a dip exactly there.
        x = fade(x, rate, settings.fade_ms)
    x = normalize_loudness(x, rate, settings.lufs, settings.true_peak_db)
    assert x.shape == (settings.channels, n_samples), x.shape
    return x, fit

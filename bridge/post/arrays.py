"""Argument checks shared by every post-processing stage: audio arrays and rates."""

from __future__ import annotations

import math

import numpy as np


def as_audio(audio: np.ndarray) -> np.ndarray:
    """Validate and return (channels, samples) float32; 1-D input is taken as mono.

    float32 because pedalboard (limiter, time_stretch) takes nothing else.
    """
    x = np.asarray(audio)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(
            f"audio must be shaped (channels, samples), got shape {x.shape}; "
            "squeeze the batch axis first (audio[i] of a batch)"
        )
    if x.shape[0] > 8 and x.shape[1] <= 8:
        raise ValueError(
            f"audio must be shaped (channels, samples), got {x.shape}, which looks like "
            "(samples, channels); pass audio.T"
        )
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    # A sum is finite only if every sample is (NaN and inf propagate), and costs no temporary
    # array: every step calls this, so the cheap test runs first.
    if not math.isfinite(float(np.sum(x, dtype=np.float64))) and not np.isfinite(x).all():
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise ValueError(
            f"audio has {bad} NaN or infinite samples; the model output is broken "
            "(float16 overflow?): run the model in float32 or re-run the job"
        )
    return x


def positive_int(name: str, value: object, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        what = f"a positive whole number of {unit}" if unit else "a positive whole number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_rate(name: str, rate: object) -> int:
    return positive_int(name, rate, "Hz")

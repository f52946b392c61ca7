"""Loop mode: cut a clip to exactly N samples that play around seamlessly.

The engine generates a little past the clip's end. What follows sample N is the music
carrying on into the next bar, which after the tempo fit is the bar the loop starts again
at, so fading that tail in over the head makes the wrap from the last sample to the first
the same step the music itself took from sample N-1 to N: no click, no gap, and the length
stays sample-exact. The head's own first moments are blended in over the crossfade.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from bridge.post.arrays import as_audio, positive_int

log = logging.getLogger(__name__)

# Long enough that two unrelated waveforms blend without a bump you hear as an edit, short
# enough not to smear the downbeat the loop starts on.
DEFAULT_CROSSFADE_S = 0.05
# loop_discontinuity compares the seam with this much audio either side of it.
CONTEXT_SAMPLES = 480


def make_loop(audio: np.ndarray, rate: int, n_samples: int, *,
              crossfade_s: float = DEFAULT_CROSSFADE_S) -> np.ndarray:
    """Exactly ``n_samples`` of ``audio`` (channels, samples) with the tail past n_samples
    crossfaded, equal-power, into the head, so the clip loops without a click or a gap.

    ``audio`` should run at least ``n_samples`` plus the crossfade; with less tail the
    crossfade shortens to what there is (logged), and with no tail the cut is plain.
    """
    x = as_audio(audio)
    rate = positive_int("rate", rate)
    n = positive_int("n_samples", n_samples)
    if not (isinstance(crossfade_s, (int, float)) and math.isfinite(crossfade_s)
            and crossfade_s >= 0):
        raise ValueError(f"crossfade_s must be a number of seconds >= 0, got {crossfade_s!r}")
    if x.shape[1] < n:
        raise ValueError(
            f"loop needs at least n_samples={n} samples of audio, got {x.shape[1]}; "
            "generate the clip with extra material past its end"
        )
    fade = min(int(round(crossfade_s * rate)), n)
    tail = x.shape[1] - n
    if tail < fade:
        log.warning("only %d samples past the loop end for a %d-sample crossfade; "
                    "crossfading over %d", tail, fade, tail)
        fade = tail
    out = x[:, :n].copy()
    if fade > 0:
        # Starts fully on the tail, so the first sample is the one that followed the last.
        angle = 0.5 * np.pi * np.arange(fade) / fade
        out[:, :fade] = x[:, :fade] * np.sin(angle) + x[:, n:n + fade] * np.cos(angle)
    return out


def loop_discontinuity(audio: np.ndarray, *, context: int = CONTEXT_SAMPLES) -> float:
    """How much the wrap from the last sample to the first stands out, played as a loop.

    The largest second difference across the seam over the RMS second difference of the
    ``context`` samples either side (the seam excluded), worst channel. A second difference
    sees a step or a kink and hardly sees the waveform itself: a continuous seam reads about
    1 to 3, a naive cut through a tonal passage reads in the tens to thousands.
    """
    x = as_audio(audio).astype(np.float64)
    k = min(int(context), x.shape[1] // 2)
    if k < 3:
        raise ValueError(f"audio too short to measure a loop seam: {x.shape[1]} samples")
    wrapped = np.concatenate((x[:, -k:], x[:, :k]), axis=1)
    second = np.abs(np.diff(wrapped, n=2, axis=1))
    # second[:, i] spans wrapped[i..i+2]: the two that straddle the seam are k-2 and k-1.
    seam = second[:, k - 2:k].max(axis=1)
    around = np.delete(second, [k - 2, k - 1], axis=1)
    typical = np.sqrt(np.mean(around ** 2, axis=1))
    ratios = np.where(typical > 0, seam / np.maximum(typical, 1e-30),
                      np.where(seam > 0, np.inf, 0.0))
    return float(ratios.max())



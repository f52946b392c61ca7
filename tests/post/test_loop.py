"""Loop mode: exact length, and a wrap-around you cannot hear, measured against a naive cut."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from bridge.post.loop import DEFAULT_CROSSFADE_S, loop_discontinuity, make_loop
from bridge.post.tempo_fit import fit_tempo

RATE = 48000
# loop_discontinuity of a seam no one hears: about 1-3 (the music's own curvature).
SEAMLESS = 5.0


def tonal_groove(bpm: float, seconds: float, seed: int) -> np.ndarray:
    """Four sustained tones at random phases, a kick on every beat and a little hiss: a
    naive cut through this lands mid-waveform, so it clicks."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    freqs = rng.choice([110, 130.8, 146.8, 164.8, 196, 220, 261.6, 293.7, 329.6], 4,
                       replace=False)
    out = sum(0.12 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    kt = np.arange(int(0.25 * RATE)) / RATE
    kick = 0.6 * np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-kt * 35)) / RATE)
    kick *= np.exp(-kt * 14)
    beat = 60.0 / bpm
    for i in range(int(seconds / beat)):
        start = int(round(i * beat * RATE))
        out[start:start + kick.size] += kick[:n - start]
    out = out + 0.003 * rng.standard_normal(n)
    return np.stack([out, np.roll(out, 37)]).astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
def test_crossfaded_wrap_is_seamless_where_a_naive_cut_clicks(seed):
    n = 8 * RATE + 1237 * seed  # not a whole number of any tone's periods
    audio = tonal_groove(120, 9.0, seed)
    naive = loop_discontinuity(audio[:, :n])
    looped = loop_discontinuity(make_loop(audio, RATE, n))
    # The naive cut must fail the threshold, or this test could not fail either.
    assert naive > SEAMLESS
    assert looped < SEAMLESS, f"seam reads {looped:.1f} (naive cut {naive:.1f})"


@pytest.mark.parametrize(("channels", "n"), [(1, 1), (1, 96001), (2, 88200), (2, 96000)])
def test_output_is_exactly_n_samples_of_float32(channels, n):
    audio = np.random.default_rng(0).standard_normal((channels, n + RATE)).astype(np.float32)
    out = make_loop(audio, RATE, n)
    assert out.shape == (channels, n) and out.dtype == np.float32


def test_first_sample_is_the_one_that_followed_the_last_and_the_rest_is_untouched():
    audio = tonal_groove(120, 5.0, 1)
    n, fade = 4 * RATE, round(DEFAULT_CROSSFADE_S * RATE)
    out = make_loop(audio, RATE, n)
    np.testing.assert_array_equal(out[:, 0], audio[:, n])
    np.testing.assert_array_equal(out[:, fade:], audio[:, fade:n])


def test_crossfade_keeps_the_level_of_unrelated_material_equal_power():
    # Head and tail independent noise: an equal-gain fade would dip 3 dB at its middle.
    rng = np.random.default_rng(2)
    audio = rng.standard_normal((1, 3 * RATE)).astype(np.float32)
    fade = int(0.2 * RATE)
    out = make_loop(audio, RATE, 2 * RATE, crossfade_s=0.2)
    middle = out[:, fade * 2 // 5:fade * 3 // 5]
    level_db = 20 * np.log10(np.sqrt(np.mean(middle ** 2)))
    assert abs(level_db) < 0.5


def test_short_tail_shortens_the_crossfade_and_says_so(caplog):
    audio = tonal_groove(120, 3.0, 3)
    n = audio.shape[1] - 100
    with caplog.at_level(logging.WARNING, logger="bridge.post.loop"):
        out = make_loop(audio, RATE, n)
    assert out.shape[1] == n
    assert "only 100 samples past the loop end" in caplog.text
    np.testing.assert_array_equal(out[:, 0], audio[:, n])


def test_no_tail_or_no_crossfade_is_a_plain_cut():
    audio = tonal_groove(120, 3.0, 4)
    n = audio.shape[1]
    np.testing.assert_array_equal(make_loop(audio, RATE, n), audio)
    np.testing.assert_array_equal(make_loop(audio, RATE, RATE, crossfade_s=0), audio[:, :RATE])


def test_too_little_audio_and_bad_arguments_are_refused():
    audio = np.zeros((2, RATE), np.float32)
    with pytest.raises(ValueError, match="at least n_samples=48001 samples of audio, got 48000"):
        make_loop(audio, RATE, RATE + 1)
    with pytest.raises(ValueError, match="n_samples must be a positive whole number"):
        make_loop(audio, RATE, 0)
    with pytest.raises(ValueError, match="crossfade_s must be a number of seconds >= 0"):
        make_loop(audio, RATE, RATE // 2, crossfade_s=-0.1)
    with pytest.raises(ValueError, match=r"\(channels, samples\).*squeeze the batch axis"):
        make_loop(np.zeros((1, 2, RATE), np.float32), RATE, RATE // 2)
    # Mono given as a plain 1-D array is taken as one channel, as in every post stage.
    assert make_loop(np.zeros(RATE, np.float32), RATE, RATE // 2).shape == (1, RATE // 2)


def test_discontinuity_metric_reads_a_continuous_wrap_low_and_a_step_high():
    t = np.arange(RATE) / RATE
    whole_periods = np.sin(2 * np.pi * 100 * t)[np.newaxis, :]  # 100 periods in 1 s
    assert loop_discontinuity(whole_periods) < 2
    half_period_short = whole_periods[:, : RATE - 240]
    assert loop_discontinuity(half_period_short) > 100
    assert loop_discontinuity(np.zeros((2, 1000))) == 0.0


def test_tempo_fitted_clip_loops_seamlessly_at_exactly_n_samples():
    # The whole loop-mode path: off-tempo material, generated long, fitted, then looped.
    # Starting mid-beat, so the fit cuts into sounding tones (4 ms before a kick), not into
    # the silence it would pad in front of a kick on sample 0.
    source = tonal_groove(117, 12.0, 5)[:, int(0.3 * RATE):]
    audio, fit = fit_tempo(source, RATE, bpm=120, meter="4/4", bars=4)
    assert fit.applied
    n = 4 * 2 * RATE
    out = make_loop(audio, RATE, n)
    assert out.shape == (2, n)
    assert loop_discontinuity(out) < SEAMLESS < loop_discontinuity(audio[:, :n])

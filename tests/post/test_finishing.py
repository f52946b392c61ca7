"""Clip finishing: exact length, real resampling, fades, loudness and true peak.

Loudness is checked with pyloudnorm's meter directly and true peak with scipy's polyphase
resampler, not with the module's own helpers, so a bug there cannot hide itself.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly
from scipy.signal.windows import kaiser

from bridge import config as config_mod
from bridge.musical_time import Meter, clip_seconds
from bridge.output.settings import OutputSettings
from bridge.post import finishing
from bridge.post.finishing import (
    fade,
    finish,
    fit_length,
    normalize_loudness,
    resample,
    to_channels,
)

MODEL_RATE = 32000


def music(seconds: float, rate: int = MODEL_RATE, seed: int = 0) -> np.ndarray:
    """Kick, snare, bass and a chord: the peaks and crest factor of a real mix, mono."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = 0.12 * np.sin(2 * np.pi * 55 * t) + sum(
        0.03 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (220.0, 277.2, 329.6))
    for start in np.arange(0.0, seconds, 0.5):
        i = int(start * rate)
        m = min(n - i, int(0.3 * rate))
        tt = np.arange(m) / rate
        x[i:i + m] += 0.45 * np.sin(2 * np.pi * (50 * tt + 2 * (1 - np.exp(-tt * 30)))) \
            * np.exp(-tt * 12)
        if int(start / 0.5) % 2:
            x[i:i + m] += 0.2 * rng.standard_normal(m) * np.exp(-tt * 25)
    return x.astype(np.float32)[np.newaxis]


def lufs(audio: np.ndarray, rate: int) -> float:
    return pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64))


def true_peak(audio: np.ndarray) -> float:
    up = resample_poly(audio.astype(np.float64), 4, 1, axis=1)
    return 20 * np.log10(max(np.abs(audio).max(), np.abs(up).max()))


def spectrum_db(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectrum in dB relative to its peak; a Kaiser window keeps leakage < -150 dB."""
    x = x.astype(np.float64)
    mag = np.abs(np.fft.rfft(x * kaiser(len(x), 20.0)))
    return np.fft.rfftfreq(len(x), 1 / rate), 20 * np.log10(mag / mag.max() + 1e-300)


def sine(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate).astype(np.float32)


# ---- exact length ----

# Two bars each; a bar is numerator * 4 / denominator quarter notes of 60 / bpm seconds.
@pytest.mark.parametrize(("bpm", "meter", "rate", "n"), [
    (120.0, "4/4", 44100, 176400),  # 2 * 4 * 0.5 s = 4 s * 44100
    (120.0, "3/4", 48000, 144000),  # 2 * 3 * 0.5 s = 3 s * 48000
    (120.0, "6/8", 48000, 144000),  # 2 * 3 quarters * 0.5 s = 3 s * 48000
    (140.0, "7/8", 48000, 144000),  # 2 * 3.5 * 60/140 s = 3 s * 48000
    (140.0, "7/8", 44100, 132300),  # 3 s * 44100
    (93.7, "4/4", 48000, 245891),  # 2 * 4 * 60/93.7 s * 48000 = 230400000/937 = 245891.14
    (93.7, "6/8", 44100, 169434),  # 2 * 3 * 60/93.7 s * 44100 = 158760000/937 = 169434.36
    (97.3, "4/4", 48000, 236793),  # 2 * 4 * 60/97.3 s * 48000 = 230400000/973 = 236793.42
    (97.3, "4/4", 44100, 217554),  # 2 * 4 * 60/97.3 s * 44100 = 30240000/139 = 217553.96
])
def test_finish_is_sample_exact(bpm, meter, rate, n):
    settings = OutputSettings(sample_rate=rate, lufs=-23.0)
    bars = 2
    frames = round(clip_seconds(bars, bpm, Meter.parse(meter)) * 50)  # the model's 20 ms frames
    for model_frames in (frames - 3, frames + 3):  # a little short, a little long
        raw = music(model_frames * 640 / MODEL_RATE)
        out = finish(raw, MODEL_RATE, n, settings)
        assert out.shape == (2, n)
        assert out.dtype == np.float32


def test_fit_length_cuts_and_pads():
    x = np.arange(10, dtype=np.float32)[np.newaxis]
    assert fit_length(x, 4).tolist() == [[0, 1, 2, 3]]
    assert fit_length(x, 12).tolist() == [list(range(10)) + [0, 0]]
    assert fit_length(x, 0).shape == (1, 0)
    with pytest.raises(ValueError, match="n_samples must be a whole number >= 0"):
        fit_length(x, -1)


# ---- resampling ----

@pytest.mark.parametrize("rate_out", [44100, 48000])
def test_resampling_keeps_a_sines_frequency(rate_out):
    out = resample(sine(1000.0, MODEL_RATE), MODEL_RATE, rate_out)
    assert abs(out.shape[1] - rate_out) <= 1
    freqs, db = spectrum_db(out[0], rate_out)
    assert freqs[np.argmax(db)] == pytest.approx(1000.0, abs=1.0)


def test_downsampling_does_not_alias():
    # 20 kHz cannot exist at 32 kHz; a naive converter folds it to 12 kHz.
    x = 0.5 * sine(1000.0, 48000) + 0.5 * sine(20000.0, 48000)
    out = resample(x, 48000, MODEL_RATE)[0]
    freqs, db = spectrum_db(out[2000:-2000], MODEL_RATE)
    assert db[np.argmin(np.abs(freqs - 1000.0))] > -1.0
    assert db[(freqs > 11000) & (freqs < 13000)].max() < -100.0


def test_upsampling_leaves_no_images_above_the_old_nyquist():
    # A 12 kHz tone at 32 kHz has its image at 20 kHz; a band-limited converter removes it.
    out = resample(sine(12000.0, MODEL_RATE), MODEL_RATE, 48000)[0]
    freqs, db = spectrum_db(out[2000:-2000], 48000)
    assert db[freqs > 16500].max() < -100.0


def test_resampling_keeps_time_alignment():
    # A downbeat on sample k at 32 kHz must stay on sample 1.5 k at 48 kHz: no filter delay.
    x = np.zeros((1, MODEL_RATE), dtype=np.float32)
    x[0, 1000] = 1.0
    assert int(np.argmax(resample(x, MODEL_RATE, 48000)[0])) == 1500


def test_resampling_edge_cases():
    x = music(0.1)
    assert np.array_equal(resample(x, 48000, 48000), x)
    assert resample(np.zeros((2, 0), np.float32), MODEL_RATE, 48000).shape == (2, 0)
    with pytest.raises(ValueError, match="rate_out must be a positive whole number"):
        resample(x, MODEL_RATE, 0)


# ---- channels, fades ----

def test_to_channels():
    mono = music(0.1)
    stereo = to_channels(mono, 2)
    assert stereo.shape == (2, mono.shape[1])
    assert np.array_equal(stereo[0], stereo[1])
    pair = np.stack([mono[0], 0.5 * mono[0]])
    assert np.allclose(to_channels(pair, 1)[0], 0.75 * mono[0])
    assert to_channels(mono[0], 1).shape == mono.shape  # 1-D is mono


def test_wrong_shapes_name_the_fix():
    with pytest.raises(ValueError, match=r"looks like \(samples, channels\); pass audio.T"):
        to_channels(np.zeros((1000, 2), np.float32), 2)
    with pytest.raises(ValueError, match="squeeze the batch axis"):
        to_channels(np.zeros((1, 1, 100), np.float32), 2)
    with pytest.raises(ValueError, match="channels must be 1 .mono. or 2 .stereo."):
        to_channels(music(0.1), 3)


def test_fades_start_and_end_on_zero_and_leave_the_middle_alone():
    x = np.ones((2, 48000), np.float32)
    out = fade(x, 48000, 4.0)
    n = 192  # 4 ms at 48 kHz
    assert np.all(out[:, 0] == 0) and np.all(out[:, -1] == 0)
    assert np.all(np.diff(out[0, :n]) > 0) and np.all(np.diff(out[0, -n:]) < 0)
    assert np.all(out[:, n:-n] == 1.0)
    assert np.array_equal(fade(x, 48000, 0.0), x)
    assert np.all(x == 1.0)  # the input is not touched


def test_fades_on_a_clip_shorter_than_two_fades_meet_in_the_middle():
    out = fade(np.ones((1, 100), np.float32), 48000, 50.0)
    assert out[0, 0] == 0 and out[0, -1] == 0 and out.max() <= 1.0
    with pytest.raises(ValueError, match="fade ms must be a number >= 0"):
        fade(out, 48000, -1.0)


# ---- loudness and true peak ----

@pytest.mark.parametrize("target", [-23.0, -18.0, -14.0])
def test_loudness_lands_on_target_under_the_ceiling(target, caplog):
    x = to_channels(resample(music(6.0), MODEL_RATE, 48000), 2)
    with caplog.at_level(logging.WARNING, logger="bridge.post.finishing"):
        out = normalize_loudness(x, 48000, target, -1.0)
    assert lufs(out, 48000) == pytest.approx(target, abs=0.5)
    assert true_peak(out) <= -1.0
    assert not caplog.records


def test_an_unreachable_target_keeps_the_ceiling_and_says_so(caplog):
    x = to_channels(resample(music(4.0), MODEL_RATE, 48000), 2)
    with caplog.at_level(logging.WARNING, logger="bridge.post.finishing"):
        out = normalize_loudness(x, 48000, -3.0, -6.0)
    assert true_peak(out) <= -6.0
    assert "lower [output] lufs or raise true_peak_db" in caplog.text


def test_digital_silence_stays_silent(caplog):
    with caplog.at_level(logging.WARNING, logger="bridge.post.finishing"):
        out = finish(np.zeros((1, 64000), np.float32), MODEL_RATE, 96000, OutputSettings())
    assert out.shape == (2, 96000) and not out.any()
    assert "digital silence: left silent" in caplog.text


def test_near_silence_below_the_gate_is_not_blown_up(caplog):
    x = (1e-6 * np.random.default_rng(1).standard_normal((1, 48000))).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="bridge.post.finishing"):
        out = normalize_loudness(x, 48000, -14.0, -1.0)
    assert np.array_equal(out, x)
    assert "quieter than the -70 LUFS gate" in caplog.text


def test_gain_is_capped_for_a_very_quiet_clip(caplog):
    x = to_channels(resample(music(2.0), MODEL_RATE, 48000), 2) * np.float32(10 ** (-50 / 20))
    with caplog.at_level(logging.WARNING, logger="bridge.post.finishing"):
        out = normalize_loudness(x, 48000, -14.0, -1.0)
    assert np.allclose(out, x * 10 ** (finishing.MAX_GAIN_DB / 20), rtol=1e-5, atol=0)
    assert "so as not to amplify noise" in caplog.text


def test_a_clip_shorter_than_one_gating_block_is_still_normalized():
    x = 0.1 * sine(440.0, 48000, 0.2)[np.newaxis]
    out = normalize_loudness(x, 48000, -14.0, -1.0)
    # A steady tone repeated measures what one period of it measures.
    assert lufs(np.tile(out, 10), 48000) == pytest.approx(-14.0, abs=0.5)


def test_broken_model_output_is_refused():
    x = music(0.5)
    x[0, 100] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite samples.*float32"):
        finish(x, MODEL_RATE, 24000, OutputSettings())


# ---- the composition ----

@pytest.mark.parametrize("channels", [1, 2])
def test_finish_end_to_end(channels):
    settings = OutputSettings(channels=channels, sample_rate=44100)
    raw = music(4.1)
    original = raw.copy()
    n = 176400  # 2 bars of 4/4 at 120 BPM: 4 s * 44100
    out = finish(raw, MODEL_RATE, n, settings)
    assert out.shape == (channels, n)
    assert np.all(out[:, 0] == 0) and np.all(out[:, -1] == 0)
    assert lufs(out, 44100) == pytest.approx(settings.lufs, abs=0.5)
    assert true_peak(out) <= settings.true_peak_db
    assert np.array_equal(raw, original)


# ---- settings ----

def test_settings_come_from_config():
    assert config_mod.defaults().output == OutputSettings()
    config = config_mod.defaults().with_overrides({
        ("output", "format"): "flac", ("output", "sample_rate"): 44100,
        ("output", "channels"): 1, ("output", "bit_depth"): 16, ("output", "lufs"): -18.0,
        ("output", "true_peak_db"): -2.0, ("output", "fade_ms"): 10.0,
    })
    assert config.output == OutputSettings(
        format="flac", sample_rate=44100, channels=1, bit_depth=16, lufs=-18.0,
        true_peak_db=-2.0, fade_ms=10.0)


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("format", "mp3", "expected one of 'wav', 'flac'"),
    ("bit_depth", 20, "expected one of 16, 24, 32"),
    ("channels", 6, "expected an integer 1..2"),
    ("lufs", 3.0, "expected a number -40..0"),
])
def test_bad_settings_name_the_value_and_the_fix(field, value, expected):
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.defaults().with_overrides({("output", field): value})
    assert str(err.value) == f"command line: [output] {field} = {value!r} is invalid: {expected}"
    with pytest.raises(ValueError, match=re.escape(expected)):  # built directly (a bench)
        OutputSettings(**{field: value})

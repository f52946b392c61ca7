import pytest

from bridge.musical_time import (
    Meter,
    bar_seconds,
    check_bars,
    check_bpm,
    clip_samples,
    format_bpm,
    normalize_key,
)


@pytest.mark.parametrize("bpm, meter, seconds", [
    (120, "4/4", 2.0), (120, "6/8", 1.5), (120, "3/4", 1.5), (140, "7/8", 1.5), (90, "4/4", 8 / 3),
])
def test_bar_seconds_follow_quarter_note_tempo(bpm, meter, seconds):
    assert bar_seconds(bpm, Meter.parse(meter)) == pytest.approx(seconds)


def test_clip_samples_exact():
    assert clip_samples(4, 120, Meter(4, 4), 48000) == 384000
    # 7/8 is 3.5 quarters: 3 bars * 3.5 * 60/97 s * 44100 = 27783000/97 = 286422.68
    assert clip_samples(3, 97, Meter(7, 8), 44100) == 286423
    assert clip_samples(2, 120, Meter(6, 8), 48000) == 144000  # 2 * 1.5 s * 48000
    assert clip_samples(2, 140, Meter(7, 8), 48000) == 144000  # 2 * 3.5 * 60/140 s = 3 s
    # 2 * 4 * 60/97.3 s * 48000 = 230400000/973 = 236793.42
    assert clip_samples(2, 97.3, Meter(4, 4), 48000) == 236793


@pytest.mark.parametrize("text", ["4/0", "0/4", "5/3", "four/4", "4-4", ""])
def test_bad_meters_are_refused_with_the_rule(text):
    with pytest.raises(ValueError, match="meter"):
        Meter.parse(text)


def test_meter_denominator_error_names_the_fix():
    with pytest.raises(ValueError, match="power of two"):
        Meter.parse("5/3")


@pytest.mark.parametrize("bpm", [0, -120, 401, float("nan"), float("inf"), "fast"])
def test_bad_bpm(bpm):
    with pytest.raises(ValueError, match="bpm"):
        check_bpm(bpm)


@pytest.mark.parametrize("bars", [0, -1, 1.5, "x", True])
def test_bad_bars(bars):
    with pytest.raises(ValueError, match="bars must be a whole number"):
        check_bars(bars)


def test_format_bpm_rounds_sensibly():
    assert format_bpm(120.0) == "120"
    assert format_bpm(119.996) == "120"
    assert format_bpm(92.5) == "92.5"
    assert format_bpm(128.04) == "128"


@pytest.mark.parametrize("text, key", [
    ("A minor", "A minor"), ("am", "A minor"), ("F# maj", "F# major"), ("bb", "Bb major"),
    ("C#m", "C# minor"), ("", ""), (None, ""),
])
def test_keys_normalize(text, key):
    assert normalize_key(text) == key


def test_bad_key():
    with pytest.raises(ValueError, match='"A minor"'):
        normalize_key("H dorian")

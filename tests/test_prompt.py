import pytest

from bridge.musical_time import Meter
from bridge.prompt import build_prompt, check_template


def test_prompt_carries_tempo_meter_key_and_quality():
    text = build_prompt("dusty  funk drums", bpm=120, meter=Meter(4, 4), key="A minor")
    assert text == "dusty funk drums, 120 BPM, 4/4 time signature, in A minor, 320kbps, 48kHz"


def test_unknown_key_leaves_no_dangling_words():
    text = build_prompt("pads", bpm=92.5, meter=Meter(6, 8))
    assert text == "pads, 92.5 BPM, 6/8 time signature, 320kbps, 48kHz"
    assert " in ," not in text


def test_lo_fi_preset_and_literal_quality_words():
    assert build_prompt("x", bpm=90, meter=Meter(4, 4), quality="lo-fi").endswith("64kbps, 16kHz")
    assert build_prompt("x", bpm=90, meter=Meter(4, 4), quality="none").endswith("time signature")
    assert build_prompt("x", bpm=90, meter=Meter(4, 4), quality="tape").endswith(", tape")


def test_user_template():
    template = "{bpm} BPM {prompt}, {quality}"
    assert build_prompt("jazz", bpm=100, meter=Meter(3, 4), template=template) == (
        "100 BPM jazz, 320kbps, 48kHz")


def test_template_checks():
    with pytest.raises(ValueError, match="unknown placeholder"):
        check_template("{prompt} {tempo}")
    with pytest.raises(ValueError, match=r"must contain \{prompt\}"):
        check_template("{bpm} BPM")

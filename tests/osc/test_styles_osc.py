"""Styles over OSC on the tiny model: collect clips, train, follow progress, list, use."""

from __future__ import annotations

import pytest

from bridge.engine import style_train
from tests.engine.test_styles import FAST, clip_set


@pytest.fixture(scope="module")
def engine(own_tiny_engine):
    # Its own model: these tests add adapters to it.
    return own_tiny_engine


@pytest.fixture
def styled_bridge(make_bridge, engine, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_BRIDGE_STYLES", str(tmp_path / "styles"))
    monkeypatch.setattr(style_train, "TrainSettings", lambda: FAST)
    return make_bridge(engine=engine)


def test_train_a_style_over_osc_then_pick_it_from_the_list(styled_bridge, tmp_path):
    c = styled_bridge.client
    c.send("/musicgen/styles")
    assert c.expect("/musicgen/style_list") == [""]
    clips = clip_set(tmp_path / "clips with spaces")
    for count, path in enumerate(clips, start=1):
        c.send("/musicgen/style_clip", "s", str(path))
        assert c.expect("/musicgen/style_clips") == [count]
    c.send("/musicgen/train", "ss", "daw_style", "pulsed sines")
    assert c.expect("/musicgen/training") == ["daw_style"]
    seen = c.until("/musicgen/style_done", timeout=240)
    progress = [args[1] for address, args in seen if address == "/musicgen/style_progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) >= 3
    assert seen[-1][1] == ["daw_style", str(tmp_path / "styles" / "daw_style")]
    c.send("/musicgen/styles")
    assert c.expect("/musicgen/style_list") == ["daw_style"]
    # and it is usable: a job with the style and a strength runs to a clip
    c.send("/musicgen/style", "s", "daw_style")
    assert c.expect("/musicgen/style") == ["daw_style"]
    c.send("/musicgen/knob/style_strength", "f", 0.75)
    assert c.expect("/musicgen/style_strength") == [1.5]
    c.send("/musicgen/bars", "i", 1)
    c.send("/musicgen/generate", "s", "pulses")
    assert c.until("/musicgen/clip", timeout=120)[-1][0] == "/musicgen/clip"


def test_training_with_too_few_clips_is_refused_with_the_reason(styled_bridge, tmp_path):
    c = styled_bridge.client
    c.send("/musicgen/style_clip", "s", str(tmp_path / "nowhere.wav"))
    c.expect("/musicgen/style_clips")
    c.send("/musicgen/train", "s", "few")
    about, reason = c.expect("/musicgen/error")
    assert about == "/musicgen/train"
    assert "needs 5 to 50 clips, got 1" in reason and "nowhere.wav: unreadable" in reason

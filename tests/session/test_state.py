import threading

import pytest

from bridge.musical_time import Meter
from bridge.request import GenerationRequest
from bridge.session.state import SessionState, StateChanged


def _state():
    events = []
    state = SessionState(GenerationRequest(prompt="x", bpm=120, bars=4), publish=events.append)
    return state, events


def test_set_publishes_the_applied_value_after_clamping():
    state, events = _state()
    assert state.set("cfg", 40, source="osc") == 15.0
    assert events == [StateChanged("cfg", 15.0, "osc")]
    assert state.set("meter", "6/8") == Meter(6, 8)


def test_bad_value_leaves_state_unchanged_and_publishes_nothing():
    state, events = _state()
    with pytest.raises(ValueError, match="bpm must be in"):
        state.set("bpm", 0)
    with pytest.raises(ValueError, match="unknown setting"):
        state.set("volume", 3)
    assert state.get("bpm") == 120 and events == []


def test_knob_goes_through_the_curve():
    state, _ = _state()
    assert state.set_knob("top_k", 1.0) == 2048
    with pytest.raises(ValueError, match="not a knob"):
        state.set_knob("bars", 0.5)


def test_snapshot_is_frozen_against_later_changes():
    state, _ = _state()
    job_request = state.snapshot()
    state.set("temperature", 2.0)
    assert job_request.temperature == 1.0 and state.snapshot().temperature == 2.0


def test_concurrent_setters_publish_in_applied_order():
    state, events = _state()

    def turn(offset):
        for i in range(200):
            state.set("top_k", 1 + offset + i)

    threads = [threading.Thread(target=turn, args=(o * 1000,)) for o in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(events) == 800
    assert events[-1].value == state.get("top_k")

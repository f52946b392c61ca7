"""Tempo-source arbitration: which of OSC, MIDI clock and manual input sets the tempo."""

from __future__ import annotations

import pytest

from bridge.events import EventBus
from bridge.request import GenerationRequest
from bridge.session.state import SessionState, StateChanged
from bridge.session.tempo_source import CLOCK_TIMEOUT_S, SOURCE_CLASSES, TempoArbiter


class Clock:
    """Injected time: the arbiter's clock-timeout is tested without sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup():
    bus = EventBus()
    events: list[StateChanged] = []
    bus.subscribe(lambda e: events.append(e) if isinstance(e, StateChanged) else None)
    state = SessionState(GenerationRequest(prompt="x", bpm=120.0, bars=4), publish=bus.publish)
    clock = Clock()
    return state, clock, events


def arbiter(setup, policy):
    state, clock, _ = setup
    return TempoArbiter(state, policy, now=clock)


def test_auto_follows_the_most_recent(setup):
    a = arbiter(setup, "auto")
    assert a.offer(100, "clock") == 100.0
    assert a.offer(90, "osc") == 90.0
    assert a.offer(95, "cli") == 95.0
    assert setup[0].get("bpm") == 95.0
    assert [(e.value, e.source) for e in setup[2]] == [(100.0, "clock"), (90.0, "osc"),
                                                        (95.0, "cli")]


def test_osc_wins_once_it_spoke(setup):
    a = arbiter(setup, "osc")
    assert a.offer(100, "clock") == 100.0  # no OSC tempo yet: the clock may set it
    assert a.offer(128, "reaper") == 128.0  # Reaper's OSC is the osc class
    assert a.offer(100, "clock") is None
    assert a.offer(90, "midi") is None
    assert a.offer(129, "abletonosc") == 129.0
    assert setup[0].get("bpm") == 129.0 and a.active() == "osc"


def test_clock_wins_while_it_runs_and_gives_the_tempo_back_when_it_stops(setup):
    state, clock, _ = setup
    a = arbiter(setup, "clock")
    assert a.offer(140, "osc") == 140.0  # no clock yet
    assert a.offer(120, "clock") == 120.0
    clock.t += 1.0
    a.heartbeat("clock")  # steady clock, no change
    clock.t += 1.0
    assert a.offer(90, "osc") is None
    clock.t += CLOCK_TIMEOUT_S + 0.1  # the clock went silent
    assert a.active() is None
    assert a.offer(90, "osc") == 90.0
    assert a.offer(121, "clock") == 121.0  # back: it wins again
    assert a.offer(91, "osc") is None


def test_manual_wins_over_the_daw(setup):
    a = arbiter(setup, "manual")
    assert a.offer(128, "osc") == 128.0
    assert a.offer(100, "cli") == 100.0
    assert a.offer(128, "osc") is None and a.offer(128, "clock") is None


def test_bad_values_and_sources_raise(setup):
    a = arbiter(setup, "auto")
    with pytest.raises(ValueError, match="bpm must be in 20..400"):
        a.offer(1000, "osc")
    with pytest.raises(ValueError, match="unknown tempo source 'daw'"):
        a.offer(120, "daw")
    with pytest.raises(ValueError, match="tempo_source must be one of auto, osc, clock, manual"):
        TempoArbiter(setup[0], "loudest")
    assert {"osc", "clock", "midi", "cli"} <= set(SOURCE_CLASSES)


def test_the_daemon_holds_one_arbiter_with_the_configured_rule(tmp_path, tiny_engine):
    from tests.support import make_daemon

    daemon = make_daemon(tmp_path, tiny_engine, {"midi": {"tempo_source": "manual"}})
    assert daemon.tempo.offer(99, "osc") == 99.0  # manual has not spoken yet: OSC is obeyed
    assert daemon.tempo.offer(101, "cli") == 101.0
    assert daemon.tempo.offer(98, "osc") is None  # once the user set it, manual wins
    assert daemon.state.get("bpm") == 101.0


def test_a_refused_tempo_does_not_lock_the_other_sources_out(setup):
    a = arbiter(setup, "osc")
    with pytest.raises(ValueError, match="bpm must be in"):
        a.offer(999, "osc")  # a typo on the DAW side
    assert a.active() is None
    assert a.offer(100, "clock") == 100.0  # the clock still sets the tempo

"""MIDI feedback under a flood: changes to one parameter never crowd out another's."""

from __future__ import annotations

import threading
import time

from bridge.events import EventBus
from bridge.midi.feedback import MidiFeedback
from bridge.midi.mapping import parse_mappings
from bridge.request import GenerationRequest
from bridge.session.state import SessionState, StateChanged


class SlowOutput:
    """An output port that stalls once armed, until released (a stalled USB device)."""

    retry_s = 0.05
    is_open = True

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.sent: list[int] = []

    def check(self) -> bool:
        return False

    def send(self, msg) -> bool:
        if self.armed.is_set():
            self.stalled.set()
            self.release.wait(10)
        self.sent.append(msg.control)
        return True

    def close(self) -> None:
        pass


def test_a_flood_of_one_parameter_does_not_drop_another(no_thread_leaks):
    bus = EventBus()
    state = SessionState(GenerationRequest(prompt="x", bpm=120.0, bars=4), publish=bus.publish)
    bindings = parse_mappings({"top_k": {"cc": 21}, "cfg": {"cc": 24}})
    output = SlowOutput()
    feedback = MidiFeedback(bus, state, lambda: bindings, output)
    feedback.start()
    try:
        deadline = time.monotonic() + 10
        while sorted(output.sent) != [21, 24] and time.monotonic() < deadline:
            time.sleep(0.02)  # the first full refresh: every mapped value once
        assert sorted(output.sent) == [21, 24]
        output.armed.set()
        bus.publish(StateChanged("top_k", 9, "osc"))
        assert output.stalled.wait(10)  # the sender is stuck sending top_k
        for i in range(2000):
            bus.publish(StateChanged("top_k", 10 + i % 100, "osc"))
        bus.publish(StateChanged("cfg", 5.0, "osc"))
        output.release.set()
        while 24 not in output.sent[2:] and time.monotonic() < deadline + 10:
            time.sleep(0.02)
        assert 24 in output.sent[2:], "the cfg update was dropped behind the top_k flood"
    finally:
        output.release.set()
        feedback.stop()

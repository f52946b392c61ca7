"""The AbletonOSC follower against a fake Live that speaks AbletonOSC's addresses over UDP.

The fake answers like AbletonOSC's song handler: ``/live/song/start_listen/<prop>`` registers
a listener and replies with the current value on ``/live/song/get/<prop>`` at once and on every
change; ``/live/test`` replies ``/live/test ok``; a restart forgets every listener.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from bridge.events import ErrorReport, EventBus
from bridge.musical_time import Meter
from bridge.osc import abletonosc
from bridge.osc.abletonosc import AbletonOscFollower
from bridge.request import GenerationRequest
from bridge.session.state import SessionState, StateChanged
from tests.osc.osc_helpers import WAIT_S


class FakeLive:
    def __init__(self, tempo: float = 120.0, numerator: int = 4, denominator: int = 4) -> None:
        self.values: dict[str, float | int] = {"tempo": tempo, "signature_numerator": numerator,
                                               "signature_denominator": denominator}
        self.reply_port = 0  # the follower's port, set once it is started
        self.received: list[str] = []
        self.listening: set[str] = set()
        self.running = True  # False: Live is closed, nothing answers
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-live", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            address = OscMessage(data).address
            with self._lock:
                if not self.running:
                    continue
                self.received.append(address)
                if address.startswith("/live/song/start_listen/"):
                    prop = address.rsplit("/", 1)[1]
                    self.listening.add(prop)
                    self._push(prop)
                elif address == "/live/test":
                    self._send("/live/test", "ok")

    def _push(self, prop: str) -> None:
        self._send(f"/live/song/get/{prop}", self.values[prop])

    def _send(self, address: str, *args: object) -> None:
        # AbletonOSC replies to the sender's IP on its fixed reply port; until the test has
        # told the fake that port, replies are lost, as UDP to a closed port would be.
        if self.reply_port:
            self.sock.sendto(build_msg(address, list(args)).dgram,
                             ("127.0.0.1", self.reply_port))

    def set(self, prop: str, value: float | int) -> None:
        with self._lock:
            self.values[prop] = value
            if prop in self.listening and self.running:
                self._push(prop)

    def quit(self) -> None:
        with self._lock:
            self.running = False
            self.listening.clear()

    def launch(self, announce: bool = False) -> None:
        with self._lock:
            self.running = True
            if announce:
                self._send("/live/startup")

    def subscriptions(self) -> int:
        with self._lock:
            return self.received.count("/live/song/start_listen/tempo")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


class Recorded:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[object] = []
        self._cond = threading.Condition()
        bus.subscribe(self._add)

    def _add(self, event: object) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[object], bool]) -> object:
        with self._cond:
            found = self._cond.wait_for(
                lambda: next((e for e in self.events if predicate(e)), None), WAIT_S)
        assert found, f"nothing matched; events: {self.events}"
        return found


@pytest.fixture
def live(no_thread_leaks: None) -> Iterator[FakeLive]:
    fake = FakeLive(tempo=123.0, numerator=7, denominator=8)
    yield fake
    fake.close()


@pytest.fixture
def follow(live: FakeLive) -> Iterator[Callable[..., tuple[AbletonOscFollower, SessionState,
                                                            Recorded]]]:
    followers = []

    def make(**timing: float) -> tuple[AbletonOscFollower, SessionState, Recorded]:
        bus = EventBus()
        state = SessionState(GenerationRequest(prompt="", bpm=100.0, bars=4),
                             publish=bus.publish)
        recorded = Recorded(bus)
        live.reply_port = _free_port()  # AbletonOSC's fixed 11001, here a free one
        follower = AbletonOscFollower(state, bus, live_port=live.port,
                                      reply_port=live.reply_port, **timing)
        follower.start()
        followers.append(follower)
        return follower, state, recorded

    yield make
    for follower in followers:
        follower.stop()


def _free_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def changed(name: str, value: object) -> Callable[[object], bool]:
    return lambda e: e == StateChanged(name, value, "abletonosc")


def test_follows_lives_tempo_and_meter(live, follow):
    follower, state, recorded = follow(heartbeat_s=0.2)
    recorded.wait_for(changed("bpm", 123.0))
    recorded.wait_for(changed("meter", Meter(7, 8)))
    live.set("tempo", 99.7)  # 99.69999695 as the 32-bit float AbletonOSC sends
    recorded.wait_for(changed("bpm", 99.7))
    live.set("signature_numerator", 5)
    recorded.wait_for(changed("meter", Meter(5, 8)))
    assert (state.get("bpm"), state.get("meter")) == (99.7, Meter(5, 8))
    subscribed = live.subscriptions()
    time.sleep(0.5)  # heartbeats go on; a confirmed subscription is not renewed
    assert live.subscriptions() == subscribed
    assert "/live/test" in live.received


def test_resubscribes_when_live_comes_back_after_a_restart(live, follow):
    follower, state, recorded = follow(heartbeat_s=0.1, silence_s=0.3)
    recorded.wait_for(changed("bpm", 123.0))
    live.quit()  # Live closes: listeners gone, nothing answers
    time.sleep(0.6)
    live.values["tempo"] = 140.0
    live.launch()  # answers the next /live/test; the follower must subscribe again
    recorded.wait_for(changed("bpm", 140.0))
    live.set("tempo", 141.0)
    recorded.wait_for(changed("bpm", 141.0))


def test_live_started_after_the_daemon_is_followed_once_it_answers(live, follow):
    live.quit()
    follower, state, recorded = follow(heartbeat_s=0.1)
    time.sleep(0.3)
    assert live.subscriptions() == 0
    live.launch()
    recorded.wait_for(changed("meter", Meter(7, 8)))
    assert state.get("bpm") == 123.0


def test_resubscribes_on_live_startup(live, follow):
    follower, state, recorded = follow(heartbeat_s=5.0)  # no heartbeat during this test
    recorded.wait_for(changed("meter", Meter(7, 8)))  # the last reply to the subscription
    before = live.subscriptions()
    assert before == 1
    live.quit()
    live.values["tempo"] = 90.0
    live.launch(announce=True)  # AbletonOSC sends /live/startup when it loads
    recorded.wait_for(changed("bpm", 90.0))
    assert live.subscriptions() == before + 1


def test_values_the_state_refuses_are_reported_not_applied(live, follow):
    follower, state, recorded = follow(heartbeat_s=0.2)
    recorded.wait_for(changed("bpm", 123.0))
    recorded.wait_for(changed("meter", Meter(7, 8)))
    live.set("tempo", 999.0)  # Live goes to 999 BPM; the daemon stops at 400
    report = recorded.wait_for(lambda e: isinstance(e, ErrorReport))
    assert report.about == "/live/song/get/tempo"
    assert "Live's tempo is not followed: bpm must be in 20..400" in report.reason
    live.set("signature_numerator", 64)
    recorded.wait_for(lambda e: isinstance(e, ErrorReport) and "numerator must be 1..32"
                      in e.reason)
    assert (state.get("bpm"), state.get("meter")) == (123.0, Meter(7, 8))


def test_live_changes_reach_the_osc_feedback_targets(make_bridge, live):
    live.reply_port = _free_port()
    bridge = make_bridge(start_queue=False, overrides={"osc": {
        "abletonosc": True, "abletonosc_port": live.port,
        "abletonosc_reply_port": live.reply_port}})
    follower = abletonosc.create(bridge.daemon, bridge.daemon.config.osc)
    assert isinstance(follower, AbletonOscFollower)
    follower.start()
    try:
        assert follower.port == live.reply_port
        assert bridge.target.expect("/musicgen/tempo") == [123.0]
        assert bridge.target.expect("/musicgen/meter") == [7, 8]
        live.set("tempo", 1000.0)
        assert bridge.target.expect("/musicgen/error")[0] == "/live/song/get/tempo"
    finally:
        follower.stop()


def test_off_unless_configured(bridge):
    assert abletonosc.create(bridge.daemon, bridge.daemon.config.osc) is None


def test_a_tempo_the_arbiter_refused_is_offered_again(live, follow):
    offers: list[float] = []
    accept = threading.Event()

    def offer(bpm: float, source: str) -> float | None:
        offers.append(bpm)
        return bpm if accept.is_set() else None  # the MIDI clock wins for now

    follow(heartbeat_s=0.2, offer_tempo=offer)
    deadline = time.monotonic() + 5
    while offers != [123.0] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert offers == [123.0]
    accept.set()  # the clock stopped
    live.set("tempo", 123.0)  # Live sends its tempo again
    while len(offers) < 2 and time.monotonic() < deadline + 5:
        time.sleep(0.02)
    assert offers == [123.0, 123.0], "the refused tempo was cached and never offered again"

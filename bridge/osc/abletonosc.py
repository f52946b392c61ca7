"""Follow Ableton Live's tempo and meter through AbletonOSC, without the Max for Live device.

AbletonOSC (a Live Remote Script) listens on UDP 11000 and replies to the sender's address on
port 11001. We send ``/live/song/start_listen/{tempo,signature_numerator,
signature_denominator}``; it answers with the current value at once and again on every change,
on ``/live/song/get/<property>``. Each new value goes into the session state with source
"abletonosc".

Live restarts (and other AbletonOSC clients, since its listeners follow only the most recent
one) silently drop our listeners, so: a ``/live/test`` heartbeat every few seconds, and a fresh
subscription when Live announces ``/live/startup``, when it answers again after a silence, and
on every heartbeat until a subscription has been confirmed by a value.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pythonosc.osc_message_builder import build_msg

from bridge.events import ErrorReport, EventBus
from bridge.musical_time import Meter
from bridge.osc.coerce import shortest_float32
from bridge.osc.dispatch import PacketError, human_reason, parse_packet
from bridge.osc.hosts import host_address
from bridge.osc.settings import OscSettings
from bridge.session.state import SessionState

if TYPE_CHECKING:
    from bridge.session.control import Control

log = logging.getLogger(__name__)

SOURCE = "abletonosc"
PROPERTIES = ("tempo", "signature_numerator", "signature_denominator")
GET = "/live/song/get/"
HEARTBEAT_S = 5.0
SILENCE_S = 12.0  # no answer this long: Live is gone; the next answer means it came back
_TICK_S = 0.2  # receive timeout: how long stop() may wait


TempoOffer = Callable[[float, str], "float | None"]


class AbletonOscFollower:
    """``offer_tempo(bpm, source)`` applies a tempo or declines it (the daemon passes its
    tempo arbiter, so [midi] tempo_source decides; the default applies every tempo)."""

    def __init__(self, state: SessionState, bus: EventBus, *, live_host: str = "127.0.0.1",
                 live_port: int = 11000, reply_port: int = 11001,
                 heartbeat_s: float = HEARTBEAT_S, silence_s: float = SILENCE_S,
                 clock: Callable[[], float] = time.monotonic,
                 offer_tempo: TempoOffer | None = None) -> None:
        self._state = state
        self._bus = bus
        self._offer_tempo: TempoOffer = offer_tempo or (
            lambda bpm, source: state.set("bpm", bpm, source=source))
        self._live = (live_host, live_port)
        self._reply_port = reply_port
        self._heartbeat_s = heartbeat_s
        self._silence_s = silence_s
        self._clock = clock
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Owned by the follower thread.
        self._live_ip: str = live_host
        self._last_heard: float | None = None
        self._alive = False
        self._confirmed = False
        self._tempo: float | None = None
        self._numerator: int | None = None
        self._denominator: int | None = None
        self._meter: Meter | None = None
        self.subscriptions = 0  # how many times we subscribed (tests, logs)

    @property
    def port(self) -> int:
        """The port Live's replies arrive on (the bound one when reply_port was 0)."""
        if self._sock is None:
            raise RuntimeError("the AbletonOSC follower is not started")
        return int(self._sock.getsockname()[1])

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the AbletonOSC follower is already started")
        self._live_ip = host_address(self._live[0])
        loopback = ipaddress.ip_address(self._live_ip).is_loopback
        listen = "127.0.0.1" if loopback else "0.0.0.0"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((listen, self._reply_port))
        except OSError as err:
            sock.close()
            raise OSError(err.errno, f"cannot listen for AbletonOSC replies on {listen}:"
                                     f"{self._reply_port}: {err.strerror or err}; is another "
                                     "AbletonOSC client running?") from err
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="bridge-abletonosc", daemon=True)
        self._thread.start()
        log.info("following Live's tempo and meter through AbletonOSC at %s:%d (replies on %d)",
                 self._live[0], self._live[1], self.port)

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- the follower thread ---------------------------------------------------------------

    def _run(self) -> None:
        assert self._sock is not None
        self._subscribe("start")
        next_beat = self._clock() + self._heartbeat_s
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([self._sock], [], [], _TICK_S)
                if readable:
                    data, sender = self._sock.recvfrom(65535)
                    self._receive(data, sender[0])
                now = self._clock()
                if now >= next_beat:
                    next_beat = now + self._heartbeat_s
                    self._heartbeat(now)
            except OSError as err:
                # Windows reports an unreachable Live as a receive error; keep following.
                log.debug("AbletonOSC socket: %s", err)
            except Exception:
                log.exception("the AbletonOSC follower failed on a message; going on")

    def _heartbeat(self, now: float) -> None:
        if self._alive and self._last_heard is not None and \
                now - self._last_heard > self._silence_s:
            self._alive = False
            self._confirmed = False
            log.info("Live (AbletonOSC) stopped answering; waiting for it to come back")
        if not self._confirmed:
            self._subscribe("no value yet")
        self._send("/live/test")

    def _receive(self, data: bytes, host: str) -> None:
        if host != self._live_ip:
            log.debug("AbletonOSC port: ignored a datagram from %s (Live is %s)", host,
                      self._live_ip)
            return
        try:
            messages = parse_packet(data)
        except PacketError as err:
            log.warning("malformed datagram from AbletonOSC: %s", err)
            return
        self._last_heard = self._clock()
        if not self._alive:
            self._alive = True
            log.info("Live (AbletonOSC) is answering")
            addresses = {m.address for m in messages}
            # A value means our listeners are alive; /live/startup subscribes in _handle.
            if "/live/startup" not in addresses and not any(a.startswith(GET) for a in addresses):
                self._subscribe("Live answered after a silence")
        for message in messages:
            self._handle(message.address, message.args)

    def _handle(self, address: str, args: tuple[object, ...]) -> None:
        if address == "/live/startup":
            self._subscribe("Live started")
        elif address == "/live/error":
            log.warning("AbletonOSC reports an error: %s", " ".join(map(str, args)))
        elif address.startswith(GET) and address[len(GET):] in PROPERTIES:
            self._confirmed = True
            # Listener replies carry just the value; some AbletonOSC versions prefix ids.
            value = args[-1] if args else None
            self._apply(address[len(GET):], value)
        else:
            log.debug("AbletonOSC %s %r ignored", address, args)

    def _apply(self, prop: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            self._report(prop, f"Live sent {value!r} for {prop}, not a number")
            return
        try:
            if prop == "tempo":
                bpm = shortest_float32(float(value))  # AbletonOSC sends 32-bit floats
                if bpm != self._tempo:
                    # Remembered only once applied: a refused tempo (out of range, or another
                    # source winning) is offered again when Live sends it again.
                    self._tempo = None
                    if self._offer_tempo(bpm, SOURCE) is not None:
                        self._tempo = bpm
                return
            if prop == "signature_numerator":
                self._numerator = int(value)
            else:
                self._denominator = int(value)
            if self._numerator is None or self._denominator is None:
                return  # the other half comes with the same subscription
            meter = Meter(self._numerator, self._denominator)
            if meter != self._meter:
                self._meter = meter
                self._state.set("meter", meter, source=SOURCE)
        except ValueError as err:
            self._report(prop, f"Live's {prop} is not followed: {err}")

    def _report(self, prop: str, reason: str) -> None:
        reason = human_reason(reason)
        log.warning("%s", reason)
        self._bus.publish(ErrorReport(f"{GET}{prop}", reason))

    def _subscribe(self, why: str) -> None:
        self.subscriptions += 1
        # Apply whatever the fresh subscription reports, even if equal to what Live said
        # before: after a restart the state may have moved on (another source) meanwhile.
        self._tempo = self._numerator = self._denominator = self._meter = None
        log.debug("subscribing to Live's tempo and meter (%s)", why)
        for prop in PROPERTIES:
            self._send(f"/live/song/start_listen/{prop}")

    def _send(self, address: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto(build_msg(address).dgram, (self._live_ip, self._live[1]))
        except OSError as err:
            log.debug("AbletonOSC %s not sent: %s", address, err)


def create(daemon: Control, osc: OscSettings) -> AbletonOscFollower | None:
    """The follower when ``[osc] abletonosc`` is on; None otherwise."""
    if not osc.abletonosc:
        return None
    return AbletonOscFollower(daemon.state, daemon.bus, live_host=osc.abletonosc_host,
                              live_port=osc.abletonosc_port,
                              reply_port=osc.abletonosc_reply_port,
                              offer_tempo=daemon.tempo.offer)

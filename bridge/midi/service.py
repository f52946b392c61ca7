"""The MIDI input service: ports -> one bounded queue -> one handler thread -> Controller.

mido calls ``receive`` on the driver's thread; it only filters, timestamps and queues (never
blocks, never touches state), so a flood costs the driver thread almost nothing and the OSC
server and the job queue keep their CPU. Sysex is dropped in the driver (see
``ports.drop_sysex_at_driver``) and again here; when the queue is full, messages are dropped and
counted rather than piling up. One handler thread applies what is left, in order.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

import mido

from bridge.midi.controller import Controller
from bridge.midi.feedback import MidiFeedback
from bridge.midi.learn import ConfigFile, check_learnable
from bridge.midi.ports import RETRY_S, InputPorts, OutputPort, describe, load_backend
from bridge.midi.settings import MidiSection, MidiSettings
from bridge.session.control import Control
from bridge.stopping import put_sentinel

log = logging.getLogger(__name__)

QUEUE_SIZE = 2048  # ~2 s of a dense USB controller; beyond that it is a flood
BATCH = 256  # messages handled per wake-up (absolute knob moves in one batch collapse)
LEARN_POLL_S = 0.05  # while learning, wake up to close the learn window on time
DROP_REPORT_S = 5.0
# What the handler acts on; anything else (sysex, aftertouch, pitch bend, MTC ...) is dropped
# in the driver callback before it costs a queue slot.
ACCEPTED_TYPES = frozenset({"control_change", "note_on", "program_change", "clock", "start",
                            "stop", "continue", "songpos"})


@dataclass(frozen=True, slots=True)
class Incoming:
    time: float  # arrival, taken on the driver thread so queueing adds no clock jitter
    port: str
    message: mido.Message


@dataclass(frozen=True)
class StartLearn:
    param: str


_STOP = object()

T = TypeVar("T")


def coalesce(items: list[T], key: Callable[[T], Hashable | None]) -> list[T]:
    """Keep only the last of the items that share a (non-None) key, in their original order."""
    last: dict[Hashable, int] = {}
    keys = [key(item) for item in items]
    for i, k in enumerate(keys):
        if k is not None:
            last[k] = i
    return [item for i, (item, k) in enumerate(zip(items, keys, strict=True))
            if k is None or last[k] == i]


class MidiService:
    def __init__(self, daemon: Control, settings: MidiSettings, *, backend: mido.Backend | None,
                 config_file: ConfigFile | None, retry_s: float = RETRY_S,
                 now: Callable[[], float] = time.perf_counter,
                 platform: str = sys.platform) -> None:
        self.settings = settings
        self._daemon = daemon
        self._now = now
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
        self.controller = Controller(daemon, settings, tempo=daemon.tempo,
                                     config_file=config_file)
        self.ports = (InputPorts(backend, settings.inputs, self.receive, retry_s=retry_s,
                                 platform=platform) if backend is not None else None)
        self.feedback = (MidiFeedback(daemon.bus, daemon.state, lambda: self.controller.bindings,
                                      OutputPort(backend, settings.output, retry_s=retry_s))
                         if backend is not None and settings.output else None)
        self.dropped = 0  # written by driver threads, read by the handler for its reports
        self._reported_drops = 0
        self._next_drop_report = 0.0
        self._thread: threading.Thread | None = None

    # ---- driver threads ----

    def receive(self, port: str, msg: mido.Message) -> None:
        """mido's input callback: filter, timestamp, queue; never block, never raise."""
        if msg.type not in ACCEPTED_TYPES:
            return
        try:
            self._queue.put_nowait(Incoming(self._now(), port, msg))
        except queue.Full:
            self.dropped += 1  # two ports' threads may race here: it only feeds a log line

    # ---- any thread ----

    def start_learn(self, param: str) -> None:
        """Bind the next moved control to ``param``; the result arrives on the bus as Learned
        or LearnFailed. Raises ValueError for a non-knob parameter or a flooded input."""
        check_learnable(param)
        try:
            self._queue.put_nowait(StartLearn(param))  # callers are OSC handlers: never wait
        except queue.Full:
            raise ValueError("MIDI input is flooded (its queue is full); stop the flood and "
                             "try learn again") from None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="midi-handler", daemon=True)
        self._thread.start()
        self._daemon.register_learner(self.start_learn)
        if self.ports is not None:
            self.ports.start()
        if self.feedback is not None:
            self.feedback.start()

    def stop(self) -> None:
        self._daemon.register_learner(None)
        if self.ports is not None:
            self.ports.stop()  # no producers after this, so the sentinel is the last item
        if self.feedback is not None:
            self.feedback.stop()
        if self._thread is not None:
            put_sentinel(self._queue, _STOP)
            self._thread.join(timeout=5)
            self._thread = None
        self.controller.close()

    # ---- the handler thread ----

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not any(isinstance(item, StartLearn) for item in batch):
                batch = coalesce(batch, self._knob_key)  # learn must see every value
            for item in batch:
                if item is _STOP:
                    return
                try:
                    self._dispatch(item)
                except Exception:  # one bad message must not end MIDI input
                    log.exception("MIDI: handling %r failed; going on", item)
            try:
                self.controller.poll(self._now())
            except Exception:
                log.exception("MIDI learn failed; going on")
            self._report_drops()

    def _next_batch(self) -> list[object]:
        timeout = LEARN_POLL_S if self.controller.learning else None
        try:
            batch = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(batch) < BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _dispatch(self, item: object) -> None:
        if isinstance(item, Incoming):
            self.controller.handle(item.message, item.time)
        elif isinstance(item, StartLearn):
            self.controller.start_learn(item.param, self._now())

    def _knob_key(self, item: object) -> Hashable | None:
        """Absolute 7-bit knob moves collapse to the latest within a batch: only the last
        position matters, and a flood of them must not turn into a flood of state changes.
        (Not for a knob waiting for soft takeover: it needs every position to see it pass.)"""
        if not isinstance(item, Incoming) or self.controller.learning:
            return None  # a control being learned is classified from all its values
        msg = item.message
        if msg.type != "control_change":
            return None
        if not self.controller.coalescible(msg.channel, msg.control):
            return None
        return msg.channel, msg.control

    def _report_drops(self) -> None:
        dropped = self.dropped
        now = self._now()
        if dropped != self._reported_drops and now >= self._next_drop_report:
            log.warning("MIDI input flood: %d messages dropped (queue of %d full); the daemon "
                        "keeps going", dropped - self._reported_drops, QUEUE_SIZE)
            self._reported_drops = dropped
            self._next_drop_report = now + DROP_REPORT_S


def create(daemon: Control, midi: MidiSection, config_file: ConfigFile
           ) -> MidiService | None:
    """The MIDI input service for ``daemon`` from the ``[midi]`` section, or None when MIDI is
    off or unusable (logged; the daemon runs on without MIDI). Learned mappings are saved into
    ``config_file``."""
    if not midi.enabled:
        log.info("MIDI off ([midi] enabled = false)")
        return None
    try:
        backend = load_backend(midi.backend)
    except OSError as err:
        log.error("MIDI off: %s", err)
        return None
    log.info("MIDI backend %s", describe(backend))
    return MidiService(daemon, MidiSettings.from_section(midi), backend=backend,
                       config_file=config_file)

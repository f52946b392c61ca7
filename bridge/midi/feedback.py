"""MIDI feedback: mapped parameters changed from elsewhere are sent back as CC values, so LED
rings and motor faders show the truth (and soft takeover has less to do).

A bus subscriber only notes which parameter changed (it runs on the publisher's thread and
must not block); one sender thread reads the current value from the session state and sends
it. Reading the value at send time collapses a burst of changes into the latest one. Changes
made by MIDI itself are not echoed: the hardware already shows them, and echoing a fader's own
move back fights the hand on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import mido

from bridge.events import Learned
from bridge.midi.mapping import Binding
from bridge.midi.ports import OutputPort
from bridge.session.state import StateChanged

log = logging.getLogger(__name__)

MIDI_SOURCE = "midi"
FEEDBACK_CHANNEL = 0  # bindings on "any channel" are shown on channel 1
_STOP = object()
_ALL = object()  # send every mapped value (the output just (re)opened)


class MidiFeedback:
    def __init__(self, bus: Any, state: Any, bindings: Callable[[], tuple[Binding, ...]],
                 output: OutputPort) -> None:
        self._bus = bus
        self._state = state
        self._bindings = bindings
        self._output = output
        # Parameters whose value changed since the last send: a set, so a burst of changes to
        # one parameter is one entry and no burst can crowd out another parameter's update.
        self._pending: set[object] = set()
        self._wake = threading.Condition()
        self._unsubscribe: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self.sent = 0  # messages sent (for tests and the benchmark)

    def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(self._on_event)
        self._mark(_ALL)  # open the output now and show every mapped value
        self._thread = threading.Thread(target=self._run, name="midi-feedback", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._mark(_STOP)
            self._thread.join(timeout=5)
            self._thread = None
        self._output.close()

    def _on_event(self, event: object) -> None:
        if isinstance(event, StateChanged):
            if event.source == MIDI_SOURCE:
                return
            name = event.name
        elif isinstance(event, Learned):
            name = event.param  # show the value on the control that was just bound
        else:
            return
        if any(b.param == name for b in self._bindings()):
            self._mark(name)

    def _mark(self, item: object) -> None:
        with self._wake:
            self._pending.add(item)
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._pending:
                    self._wake.wait(timeout=self._output.retry_s)
                pending, self._pending = self._pending, set()
            if _STOP in pending:
                return
            try:
                if self._output.check():
                    pending.add(_ALL)
                self._send(pending)
            except Exception:  # the sender must outlive any one failure
                log.exception("MIDI feedback failed; going on")

    def _send(self, pending: set[object]) -> None:
        if not pending or not self._output.is_open:
            return
        for binding in self._bindings():
            if _ALL in pending or binding.param in pending:
                channel = FEEDBACK_CHANNEL if binding.channel is None else binding.channel
                for cc, value in binding.cc_values(self._state.get(binding.param)):
                    msg = mido.Message("control_change", channel=channel, control=cc,
                                       value=value)
                    if self._output.send(msg):
                        self.sent += 1

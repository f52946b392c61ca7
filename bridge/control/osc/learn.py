"""MIDI learn over OSC: /musicgen/learn <param> binds the next moved MIDI control.

The result comes back through the bus: ``Learned`` as /musicgen/learned, a failure as
/musicgen/error.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bridge.control.midi.service import start_learn
from bridge.control.osc.dispatcher import Call, Dispatcher
from bridge.control.osc_addresses import PREFIX

if TYPE_CHECKING:
    from bridge.daemon import Daemon


def _learn(daemon: Daemon, call: Call) -> None:
    start_learn(daemon, str(call.args[0]).strip())


def register(dispatcher: Dispatcher, daemon: Daemon) -> None:
    dispatcher.register(f"{PREFIX}/learn", partial(_learn, daemon))

"""MIDI learn over OSC: /musicgen/learn <param> binds the next moved MIDI control.

The result comes back through the bus: ``Learned`` as /musicgen/learned, a failure as
/musicgen/error.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bridge.osc.addresses import PREFIX
from bridge.osc.dispatch import Call, Dispatcher

if TYPE_CHECKING:
    from bridge.session.control import Control


def _learn(daemon: Control, call: Call) -> None:
    daemon.start_learn(str(call.args[0]).strip())


def register(dispatcher: Dispatcher, daemon: Control) -> None:
    dispatcher.register(f"{PREFIX}/learn", partial(_learn, daemon))

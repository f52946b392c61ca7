"""Sampling knobs over OSC: each in its own units, and as a normalized 0..1 knob.

``/musicgen/top_k 250`` sets the value; ``/musicgen/knob/top_k 0.73`` maps a dial's 0..1
through the parameter's curve (log for top-k and temperature), so a controller that only sends
0..1 needs no scaling. Both are clamped into range and echoed, as applied, on
``/musicgen/<param>``.
"""

from __future__ import annotations

from functools import partial

from bridge.osc.addresses import PREFIX
from bridge.osc.dispatch import Call, Dispatcher
from bridge.params import KNOB_PARAMS
from bridge.session.state import SessionState

SOURCE = "osc"


def _set(state: SessionState, name: str, call: Call) -> None:
    state.set(name, call.args[0], source=SOURCE)


def _set_knob(state: SessionState, name: str, call: Call) -> None:
    state.set_knob(name, float(call.args[0]), source=SOURCE)


def register(dispatcher: Dispatcher, state: SessionState) -> None:
    for name in KNOB_PARAMS:
        dispatcher.register(f"{PREFIX}/{name}", partial(_set, state, name))
        dispatcher.register(f"{PREFIX}/knob/{name}", partial(_set_knob, state, name))

"""Settings over OSC: prompt, tempo, meter, key, bars, seed, variations, position, ...

Each address sets one session-state field. The state validates (out-of-range values are
refused, knob-like ones clamped) and publishes the applied value, which the feedback echoes on
the same address; a handler here only turns OSC arguments into the field's value. The tempo
goes through the tempo arbiter ([midi] tempo_source decides whether the DAW or a MIDI clock
wins).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from bridge.musical_time import Meter
from bridge.osc.addresses import SETTING_FIELDS
from bridge.osc.dispatch import Call, Dispatcher
from bridge.params import KNOB_PARAMS
from bridge.session.state import SessionState

if TYPE_CHECKING:
    from bridge.session.control import Control

SOURCE = "osc"
UNSET = -1  # on the wire: seed random, no position, tempo_lock "the daemon's setting"


def _meter(numerator: int, denominator: int) -> Meter:
    return Meter(numerator, denominator)


def _position(seconds: float) -> float | None:
    if seconds == UNSET:
        return None
    if seconds < 0:
        raise ValueError(f"position must be seconds >= 0, or -1 for none, got {seconds:g}")
    return seconds


def _tempo_lock(value: int) -> bool | None:
    if value == UNSET:
        return None
    if value not in (0, 1):
        raise ValueError("tempo_lock must be 1 (fit clips to the tempo grid), 0 (leave timing "
                         f"alone) or -1 (the daemon's [fit] setting), got {value}")
    return bool(value)


def _retries(value: int) -> int | None:
    if value == UNSET:
        return None
    if not 0 <= value <= 5:
        raise ValueError(f"retries must be 0-5, or -1 (the daemon's [fit] setting), got {value}")
    return value


def _loop(value: int) -> bool:
    if value not in (0, 1):
        raise ValueError(f"loop must be 1 (seamless loop) or 0, got {value}")
    return bool(value)


def _one(value: object) -> object:
    return value


CONVERT: dict[str, Callable[..., object]] = {
    "meter": _meter,
    "position_s": _position,
    "tempo_lock": _tempo_lock,
    "loop": _loop,
    "retries": _retries,
}


def _set(state: SessionState, field: str, call: Call) -> None:
    value = CONVERT.get(field, _one)(*call.args)
    state.set(field, value, source=SOURCE)


def _tempo(daemon: Control, call: Call) -> None:
    arbiter = daemon.tempo
    if arbiter.offer(call.args[0], SOURCE) is None:
        raise ValueError(f"tempo {call.args[0]:g} not applied: [midi] tempo_source = "
                         f"{arbiter.policy!r} and that source is active; set tempo_source = "
                         '"auto" to follow the most recent')


def register(dispatcher: Dispatcher, daemon: Control) -> None:
    for address, field in SETTING_FIELDS.items():
        if field == "bpm":
            dispatcher.register(address, partial(_tempo, daemon))
        elif field not in KNOB_PARAMS:  # bridge.osc.handlers.knobs
            dispatcher.register(address, partial(_set, daemon.state, field))

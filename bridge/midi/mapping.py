"""MIDI control mappings: config rows -> bindings -> parameter values, as pure data and functions.

A binding ties one knob parameter to one controller (channel, CC). ``MODES`` and
``MAPPING_KEYS`` are the contract: the config check, the learn writer and docs/midi.md all read
them. Knob positions go through the parameter's own curve (``ParamSpec.from_knob`` /
``to_knob``); a sub-range (``min``/``max``) is a slice of that curve's travel, so a knob limited
to top_k 20..400 still feels logarithmic.

Nothing here touches a port: ``move`` takes the control's previous ``Knob`` state, one CC value
and the parameter's current value, and returns the new state and the value to apply (if any).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bridge.params import KNOB_PARAMS, PARAMS, ParamSpec

MAX_CC = 119  # 120..127 are channel mode messages (all notes off, reset, ...), never knobs
ANY_CHANNEL = None

# Roles a CC plays for a binding: the whole value, or one half of a 14-bit pair.
VALUE, MSB, LSB = "value", "msb", "lsb"


def _twos_complement(value: int) -> int:
    return value - 128 if value >= 64 else value


def _binary_offset(value: int) -> int:
    return value - 64


def _sign_magnitude(value: int) -> int:
    magnitude = value & 0x3F
    return -magnitude if value & 0x40 else magnitude


@dataclass(frozen=True)
class ModeSpec:
    name: str
    relative: bool
    bits: int  # resolution of an absolute position; relative encoders send 7-bit steps
    decode: Callable[[int], int] | None  # relative: CC value -> signed encoder ticks
    doc: str


MODES: dict[str, ModeSpec] = {m.name: m for m in (
    ModeSpec("absolute", False, 7, None,
             "knob or fader sending its position 0..127"),
    ModeSpec("absolute14", False, 14, None,
             "high-resolution knob: MSB on cc, LSB on lsb (default cc + 32), 0..16383"),
    ModeSpec("relative-twos", True, 7, _twos_complement,
             "endless encoder, two's complement: 1, 2, ... up; 127, 126, ... down"),
    ModeSpec("relative-offset", True, 7, _binary_offset,
             "endless encoder, binary offset 64: 65, 66, ... up; 63, 62, ... down"),
    ModeSpec("relative-sign", True, 7, _sign_magnitude,
             "endless encoder, sign-magnitude: 1, 2, ... up; 65, 66, ... down"),
)}
RELATIVE_MODES = tuple(name for name, m in MODES.items() if m.relative)

# The mapping that works out of the box. CC 20-31 are undefined in the MIDI spec, so knob
# banks are often put there and nothing else (mod wheel, volume, sustain) is taken over.
DEFAULT_CCS: dict[str, int] = {"top_k": 21, "top_p": 22, "temperature": 23, "cfg": 24}
DEFAULT_STEPS = 127  # relative: encoder ticks from one end of the range to the other
PICKUP_TOLERANCE = 1.0 / 127  # soft takeover engages within one 7-bit step of the value


@dataclass(frozen=True)
class Binding:
    param: str
    cc: int
    channel: int | None = ANY_CHANNEL  # 0..15 as mido numbers them; None: any channel
    mode: str = "absolute"
    lsb: int | None = None  # absolute14: the LSB controller
    minimum: float | None = None  # sub-range in the parameter's units; None: its full range
    maximum: float | None = None
    takeover: bool = True  # absolute: soft takeover ("pickup"); False: jump to the knob
    steps: int = DEFAULT_STEPS  # relative: ticks for the whole (sub-)range

    @property
    def spec(self) -> ParamSpec:
        return PARAMS[self.param]

    @property
    def mode_spec(self) -> ModeSpec:
        return MODES[self.mode]

    def _travel(self) -> tuple[float, float]:
        """The slice of the parameter's knob travel (0..1) this control sweeps."""
        spec = self.spec
        lo = spec.to_knob(spec.minimum if self.minimum is None else self.minimum)
        hi = spec.to_knob(spec.maximum if self.maximum is None else self.maximum)
        return lo, hi

    def value_at(self, position: float) -> int | float:
        """The parameter value this control shows at position 0..1 (clamped)."""
        spec = self.spec
        x = min(1.0, max(0.0, position))
        if x in (0.0, 1.0):  # the ends exactly, not through log/exp rounding
            end = self.minimum if x == 0.0 else self.maximum
            return spec.clamp(end if end is not None else spec.minimum if x == 0.0
                              else spec.maximum)
        lo, hi = self._travel()
        return spec.from_knob(lo + x * (hi - lo))

    def position_of(self, value: object) -> float:
        """Where on this control (0..1) ``value`` lies; values outside the sub-range clamp."""
        lo, hi = self._travel()
        if hi == lo:
            return 0.0
        return min(1.0, max(0.0, (self.spec.to_knob(value) - lo) / (hi - lo)))

    def controllers(self) -> tuple[tuple[int, str], ...]:
        """(cc, role) pairs this binding listens to."""
        if self.mode == "absolute14":
            return ((self.cc, MSB), (self.lsb if self.lsb is not None else self.cc + 32, LSB))
        return ((self.cc, VALUE),)

    def cc_values(self, value: object) -> tuple[tuple[int, int], ...]:
        """(cc, data) messages that show ``value`` on the controller (LED rings, motor faders)."""
        x = self.position_of(value)
        if self.mode == "absolute14":
            (msb_cc, _), (lsb_cc, _) = self.controllers()
            fine = round(x * 16383)
            return ((msb_cc, fine >> 7), (lsb_cc, fine & 0x7F))
        return ((self.cc, round(x * 127)),)


# ---- config rows: [midi] mappings = { param = { cc = 21, channel = 1, mode = "...", ... } } ----

def _int_in(key: str, lo: int, hi: int, hint: str = "") -> Callable[[str, object], int]:
    def check(param: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{param}: {key} must be an integer {lo}..{hi}{hint}, got {value!r}")
        return value

    return check


def _mode(param: str, value: object) -> str:
    if value not in MODES:
        raise ValueError(f"{param}: mode must be one of {', '.join(MODES)}, got {value!r}")
    return str(value)


def _bound(key: str) -> Callable[[str, object], float]:
    def check(param: str, value: object) -> float:
        try:
            return PARAMS[param].check(value)
        except ValueError as err:
            raise ValueError(f"{param}: {key}: {err}") from None

    return check


def _takeover(param: str, value: object) -> str:
    if value not in ("pickup", "jump"):
        raise ValueError(f'{param}: takeover must be "pickup" or "jump", got {value!r}')
    return str(value)


@dataclass(frozen=True)
class MappingKey:
    key: str
    check: Callable[[str, object], Any]
    doc: str


MAPPING_KEYS: dict[str, MappingKey] = {k.key: k for k in (
    MappingKey("cc", _int_in("cc", 0, MAX_CC, " (120..127 are channel mode messages)"),
               "controller number (required); the MSB for absolute14"),
    MappingKey("channel", _int_in("channel", 1, 16, " as printed on controllers"),
               "MIDI channel 1..16; leave it out for any channel"),
    MappingKey("mode", _mode, f"one of {', '.join(MODES)} (default absolute)"),
    MappingKey("lsb", _int_in("lsb", 0, MAX_CC), "absolute14: the LSB controller (default cc + 32)"),
    MappingKey("min", _bound("min"), "low end of the knob's sub-range, in the parameter's units"),
    MappingKey("max", _bound("max"), "high end (max below min turns the knob around)"),
    MappingKey("takeover", _takeover,
               'absolute: "pickup" (default; soft takeover) or "jump"'),
    MappingKey("steps", _int_in("steps", 1, 16383),
               f"relative: encoder ticks across the whole range (default {DEFAULT_STEPS})"),
)}


def parse_binding(param: str, row: object) -> Binding | None:
    """One config row -> a Binding; ``false`` means "not mapped". Raises ValueError naming the fix."""
    if param not in PARAMS or not PARAMS[param].knob:
        raise ValueError(f"{param!r} is not a knob parameter (knobs: {', '.join(KNOB_PARAMS)})")
    if row is False:
        return None
    if not isinstance(row, Mapping):
        raise ValueError(f'{param}: expected a table like {{ cc = 21, channel = 1 }} or false, '
                         f'got {row!r}')
    unknown = [k for k in row if k not in MAPPING_KEYS]
    if unknown:
        raise ValueError(f"{param}: unknown key {unknown[0]!r} (known: {', '.join(MAPPING_KEYS)})")
    if "cc" not in row:
        raise ValueError(f"{param}: cc is missing (the controller number, 0..{MAX_CC})")
    v = {k: MAPPING_KEYS[k].check(param, row[k]) for k in row}
    mode = v.get("mode", "absolute")
    relative = MODES[mode].relative
    if "lsb" in v and mode != "absolute14":
        raise ValueError(f'{param}: lsb only applies to mode = "absolute14"')
    if mode == "absolute14" and "lsb" not in v and v["cc"] > 31:
        raise ValueError(f"{param}: absolute14 on cc {v['cc']} needs lsb (cc + 32 only exists "
                         f"for cc 0..31)")
    if v.get("lsb") == v["cc"]:
        raise ValueError(f"{param}: lsb must differ from cc")
    if "takeover" in v and relative:
        raise ValueError(f"{param}: takeover only applies to absolute modes (an encoder has no "
                         f"position to pick up)")
    if "steps" in v and not relative:
        raise ValueError(f"{param}: steps only applies to relative modes")
    if "min" in v and "max" in v and v["min"] == v["max"]:
        raise ValueError(f"{param}: min and max are equal; the knob would do nothing")
    return Binding(
        param=param, cc=v["cc"], channel=v["channel"] - 1 if "channel" in v else ANY_CHANNEL,
        mode=mode, lsb=v.get("lsb"), minimum=v.get("min"), maximum=v.get("max"),
        takeover=v.get("takeover", "pickup") == "pickup", steps=v.get("steps", DEFAULT_STEPS),
    )


def parse_mappings(table: Mapping[str, object]) -> tuple[Binding, ...]:
    """The config's mapping table -> bindings; an empty table means ``DEFAULT_BINDINGS``."""
    if not isinstance(table, Mapping):
        raise ValueError('expected a table like { top_k = { cc = 21 } }')
    if not table:
        return DEFAULT_BINDINGS
    bindings = tuple(b for param, row in table.items()
                     if (b := parse_binding(str(param), row)) is not None)
    index_bindings(bindings)  # refuses two parameters on one control
    return bindings


def check_mappings(value: object) -> dict[str, Any]:
    """The ``[midi] mappings`` config check: validates, returns the plain table unchanged."""
    plain = to_plain(value)
    parse_mappings(plain)
    return plain


def binding_row(binding: Binding) -> dict[str, Any]:
    """A Binding as a config row, without keys that hold their defaults (what learn writes)."""
    row: dict[str, Any] = {}
    if binding.channel is not None:
        row["channel"] = binding.channel + 1
    row["cc"] = binding.cc
    row["mode"] = binding.mode
    if binding.lsb is not None:
        row["lsb"] = binding.lsb
    if binding.minimum is not None:
        row["min"] = binding.minimum
    if binding.maximum is not None:
        row["max"] = binding.maximum
    if not binding.mode_spec.relative and not binding.takeover:
        row["takeover"] = "jump"
    if binding.mode_spec.relative and binding.steps != DEFAULT_STEPS:
        row["steps"] = binding.steps
    return row


def to_plain(value: object) -> Any:
    """tomlkit containers -> plain dicts (config values must not keep document objects)."""
    if hasattr(value, "unwrap"):
        value = value.unwrap()
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


DEFAULT_BINDINGS: tuple[Binding, ...] = tuple(Binding(p, cc) for p, cc in DEFAULT_CCS.items())

# ---- lookup: (channel, cc) -> (binding, role) ----

Index = dict[tuple[int | None, int], tuple[Binding, str]]


def index_bindings(bindings: tuple[Binding, ...]) -> Index:
    """Build the lookup; a control claimed twice (on the same channel or both "any") raises."""
    index: Index = {}
    seen_params: set[str] = set()
    for binding in bindings:
        if binding.param in seen_params:
            raise ValueError(f"{binding.param} is mapped twice")
        seen_params.add(binding.param)
        for cc, role in binding.controllers():
            key = (binding.channel, cc)
            if key in index:
                other = index[key][0].param
                where = "any channel" if binding.channel is None else f"channel {binding.channel + 1}"
                raise ValueError(f"CC {cc} on {where} drives both {other} and {binding.param}; "
                                 f"give one of them another cc or channel")
            index[key] = (binding, role)
    return index


def lookup(index: Index, channel: int, cc: int) -> tuple[Binding, str] | None:
    """A binding on this exact channel wins over one on any channel."""
    return index.get((channel, cc)) or index.get((ANY_CHANNEL, cc))


def with_binding(bindings: tuple[Binding, ...], learned: Binding) -> tuple[Binding, ...]:
    """``bindings`` with ``learned`` in place of its parameter's old binding, and any binding
    that claimed one of the same controls dropped (a control drives one parameter)."""
    taken = {(learned.channel, cc) for cc, _ in learned.controllers()}
    kept = tuple(b for b in bindings if b.param != learned.param
                 and not taken & {(b.channel, cc) for cc, _ in b.controllers()})
    return (*kept, learned)


# ---- what one CC message does to a bound parameter ----

@dataclass(frozen=True)
class Knob:
    """What the mapping layer remembers about one control between messages."""

    msb: int | None = None  # absolute14: the last MSB
    lsb_seen: bool = False  # absolute14: the controller sends LSBs (else MSBs act alone)
    position: float | None = None  # absolute: last hardware position; relative: accumulator
    engaged: bool = False  # soft takeover: the knob is driving the value
    applied: object = None  # the value this control last applied


def move(binding: Binding, knob: Knob, role: str, data: int, current: object
         ) -> tuple[Knob, int | float | None]:
    """Apply one CC value (0..127) to ``binding``; returns the new Knob and the value to set
    (None: nothing to set, e.g. a soft-takeover knob not yet picked up, or half a 14-bit pair)."""
    if not 0 <= data <= 127:
        return knob, None
    if binding.mode_spec.relative:
        return _relative(binding, knob, data, current)
    position, knob = _absolute_position(binding, knob, role, data)
    if position is None:
        return knob, None
    if binding.takeover and not _picked_up(binding, knob, position, current):
        return replace(knob, position=position, engaged=False), None
    value = binding.value_at(position)
    knob = replace(knob, position=position, engaged=True, applied=value)
    return knob, (None if value == current else value)


def _absolute_position(binding: Binding, knob: Knob, role: str, data: int
                       ) -> tuple[float | None, Knob]:
    if role == VALUE:
        return data / 127, knob
    if role == MSB:
        # A controller that sends LSBs is applied when its LSB arrives, so one move is one
        # change; one that never sends them still works at 7-bit resolution.
        knob = replace(knob, msb=data)
        return (None, knob) if knob.lsb_seen else (data / 127, knob)
    knob = replace(knob, lsb_seen=True)
    if knob.msb is None:
        return None, knob
    return ((knob.msb << 7) | data) / 16383, knob


def _picked_up(binding: Binding, knob: Knob, position: float, current: object) -> bool:
    """Soft takeover: a knob drives the value only after passing through it; a change from
    elsewhere (OSC, a preset) lets go until the knob passes through the new value."""
    if knob.engaged and knob.applied == current:
        return True
    target = binding.position_of(current)
    if abs(position - target) <= PICKUP_TOLERANCE:
        return True
    previous = knob.position
    return previous is not None and (previous - target) * (position - target) < 0


def _relative(binding: Binding, knob: Knob, data: int, current: object
              ) -> tuple[Knob, int | float | None]:
    decode = binding.mode_spec.decode
    assert decode is not None
    ticks = decode(data)
    if ticks == 0:
        return knob, None
    # Keep our own fractional position while nobody else changed the value: an integer
    # parameter on a log curve (top_k near 1) would otherwise round back and never move.
    if knob.position is not None and knob.applied == current:
        position = knob.position
    else:
        position = binding.position_of(current)
    position = min(1.0, max(0.0, position + ticks / binding.steps))
    value = binding.value_at(position)
    knob = replace(knob, position=position, applied=value)
    return knob, (None if value == current else value)

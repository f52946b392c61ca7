"""The sampling parameters: ranges, defaults and knob curves, defined once.

Every input (CLI, OSC, MIDI, request files, the Max device) and every doc reads this table.
A knob position is a normalized float 0..1; ``from_knob`` maps it onto the parameter's range
with the curve that feels right on a physical knob, ``to_knob`` maps back (for LED rings,
motor faders and soft takeover).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bridge.schema import Check

LINEAR = "linear"
LOG = "log"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    label: str
    type: type  # int or float
    minimum: float
    maximum: float
    default: float
    curve: str  # LINEAR or LOG
    unit: str
    help: str
    knob: bool = True  # exposed as a knob (OSC /musicgen/knob/<name>, MIDI CC, Max dial)

    def check(self, value: object) -> int | float:
        """Validate ``value`` exactly: wrong type or out of range raises ValueError naming the fix."""
        number = _as_number(self, value)
        if not self.minimum <= number <= self.maximum:
            raise ValueError(
                f"{self.name} must be in {_fmt(self.minimum)}..{_fmt(self.maximum)}, "
                f"got {_fmt(number)}"
            )
        return self.cast(number)

    def clamp(self, value: object) -> int | float:
        """Coerce into range (what a knob or a sloppy controller gets); NaN/inf still raise."""
        number = _as_number(self, value)
        return self.cast(min(self.maximum, max(self.minimum, number)))

    def from_knob(self, position: float) -> int | float:
        """Map a normalized knob position 0..1 (clamped) to a value in range."""
        x = float(position)
        if not math.isfinite(x):
            raise ValueError(f"knob position for {self.name} must be a finite number in 0..1")
        if x <= 0.0:
            return self.cast(self.minimum)  # exact ends: float log/exp round-trips are not
        if x >= 1.0:
            return self.cast(self.maximum)
        if self.curve == LOG:
            lo, hi = math.log(self.minimum), math.log(self.maximum)
            value = math.exp(lo + x * (hi - lo))
        else:
            value = self.minimum + x * (self.maximum - self.minimum)
        return self.clamp(value)

    def to_knob(self, value: object) -> float:
        """Inverse of ``from_knob``: the knob position 0..1 that shows ``value``."""
        v = float(self.clamp(value))
        if self.curve == LOG:
            lo, hi = math.log(self.minimum), math.log(self.maximum)
            return (math.log(v) - lo) / (hi - lo)
        return (v - self.minimum) / (self.maximum - self.minimum)

    def cast(self, number: float) -> int | float:
        return int(round(number)) if self.type is int else float(number)

    def json_schema(self) -> dict[str, Any]:
        """The range as JSON Schema, plus what the Max device's dials and the knob docs need
        (``x-`` keys: JSON Schema ignores them)."""
        return {"type": "integer" if self.type is int else "number",
                "minimum": self.type(self.minimum), "maximum": self.type(self.maximum),
                "x-label": self.label, "x-curve": self.curve, "x-knob": self.knob,
                "x-unit": self.unit}

    def schema_check(self) -> Check:
        """``Annotated[int, spec.schema_check()]``: a schema field holding this parameter."""
        return Check(self.check, self.json_schema())


def _as_number(spec: ParamSpec, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value).strip())
        except ValueError:
            raise ValueError(
                f"{spec.name} must be a number in {_fmt(spec.minimum)}..{_fmt(spec.maximum)}, "
                f"got {value!r}"
            ) from None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{spec.name} must be a finite number, got {value!r}")
    return number


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


PARAMS: dict[str, ParamSpec] = {
    spec.name: spec
    for spec in (
        ParamSpec("top_k", "Top-K", int, 1, 2048, 250, LOG, "",
                  "sample only among the k most likely tokens; lower is safer, higher is wilder"),
        ParamSpec("top_p", "Top-P", float, 0.0, 1.0, 0.0, LINEAR, "",
                  "nucleus sampling mass; 0 means off (top-k alone decides)"),
        ParamSpec("temperature", "Temperature", float, 0.05, 4.0, 1.0, LOG, "",
                  "randomness of sampling; below 1 is conservative, above 1 adventurous"),
        ParamSpec("cfg", "CFG", float, 1.0, 15.0, 3.0, LINEAR, "",
                  "classifier-free guidance: how strongly the prompt steers; 1 turns it off"),
        ParamSpec("style_strength", "Style", float, 0.0, 2.0, 1.0, LINEAR, "",
                  "how strongly the chosen style (a trained LoRA adapter) applies; 0 is the "
                  "base model exactly"),
        ParamSpec("variations", "Variations", int, 1, 8, 1, LINEAR, "",
                  "clips generated side by side in one batched call", knob=False),
    )
}

KNOB_PARAMS: tuple[str, ...] = tuple(name for name, spec in PARAMS.items() if spec.knob)

SEED_RANDOM = -1
SEED_MAX = 2**31 - 1


def check_seed(value: object) -> int | None:
    """-1 or None means a fresh random seed per job; otherwise 0..2**31-1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"seed must be an integer 0..{SEED_MAX} or -1 for random, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(
            f"seed must be an integer 0..{SEED_MAX} or -1 for random, got {value!r}"
        ) from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"seed must be an integer 0..{SEED_MAX} or -1 for random, got {value!r}")
    seed = int(number)
    if seed == SEED_RANDOM:
        return None
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer 0..{SEED_MAX} or -1 for random, got {seed}")
    return seed


def transformers_top_p(top_p: float) -> float:
    """Our 0 means "off"; in transformers 0.0 makes sampling greedy, so off must be 1.0."""
    return 1.0 if top_p <= 0.0 else float(top_p)


def defaults() -> dict[str, int | float]:
    return {name: spec.cast(spec.default) for name, spec in PARAMS.items()}

"""MIDI learn: bind the next moved control to a parameter and save it into the config file.

``Learner`` watches CC messages (pure: fed values and times) and, a moment after the first
one, says which control moved and how it talks: absolute 7-bit, a 14-bit MSB/LSB pair, or a
relative encoder in one of the three encodings. ``save_binding`` writes the result into
``[midi] mappings`` with tomlkit, so the user's comments, layout and other settings survive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import tomlkit
from tomlkit.items import InlineTable, Table

from bridge.files import write_atomically
from bridge.midi.mapping import (
    DEFAULT_STEPS,
    MAX_CC,
    Binding,
    binding_row,
    parse_mappings,
    with_binding,
)
from bridge.params import KNOB_PARAMS, PARAMS

WINDOW_S = 0.6  # how long after the first message a control is watched
MAX_MESSAGES = 24  # ... or until it sent this many
TIMEOUT_S = 30.0  # nothing moved: give up
# Controllers learn never binds: bank select (sent before program changes), (N)RPN selects
# and the channel mode messages; none of them is a knob being turned.
NOT_KNOBS = frozenset({0, 32, 98, 99, 100, 101, *range(MAX_CC + 1, 128)})

# Value bands each relative encoding sends for small moves (up, down).
_LOW = range(1, 16)  # +1..+15: two's complement and sign-magnitude up
_HIGH = range(113, 128)  # -15..-1 in two's complement
_ABOVE_64 = range(65, 80)  # binary offset up, sign-magnitude down
_BELOW_64 = range(49, 64)  # binary offset down
_CENTRE = range(64, 65)  # binary offset "no move"


def classify(values: Sequence[int]) -> str:
    """The mode a control's values suggest: "absolute" or one of the relative modes.

    Relative encoders repeat a value while turned at an even speed (1, 1, 1) and jump across
    their centre when the direction changes (1 -> 127, 65 -> 63); an absolute knob sends each
    position once and passes through the values in between. Two such signs are needed, so one
    fast knob move that skips a value is not taken for an encoder. Turned one way only, some
    encodings look alike (1, 1, 1 is two's complement or sign-magnitude): the first match in
    the order below wins, which is why the docs say to turn the control both ways.
    """
    pairs = list(zip(values, values[1:], strict=False))
    present = set(values)

    def fits(*bands: range) -> bool:
        return all(any(v in band for band in bands) for v in present)

    def evidence(up: range, down: range) -> int:
        repeats = sum(a == b for a, b in pairs)
        jumps = sum((a in up and b in down) or (a in down and b in up) for a, b in pairs)
        return repeats + jumps

    if fits(_LOW, _HIGH) and evidence(_LOW, _HIGH) >= 2:
        return "relative-twos"
    if fits(_ABOVE_64, _BELOW_64, _CENTRE) and evidence(_ABOVE_64, _BELOW_64) >= 2:
        return "relative-offset"
    if fits(_LOW, _ABOVE_64) and evidence(_LOW, _ABOVE_64) >= 2:
        return "relative-sign"
    return "absolute"


@dataclass(frozen=True)
class Capture:
    """The control that moved first: its channel (0..15) and CC, and what it sent."""

    channel: int
    cc: int
    values: tuple[int, ...] = ()
    partners: frozenset[int] = field(default_factory=frozenset)  # cc +- 32 also seen
    started: float = 0.0


class Learner:
    """Waits for the next moved control (pure: the caller passes times)."""

    def __init__(self, param: str, now: float, *, timeout_s: float = TIMEOUT_S,
                 window_s: float = WINDOW_S) -> None:
        check_learnable(param)
        self.param = param
        self._deadline = now + timeout_s
        self._window_s = window_s
        self._capture: Capture | None = None

    def feed(self, channel: int, cc: int, value: int, now: float) -> None:
        c = self._capture
        if c is None:
            if cc not in NOT_KNOBS:
                self._capture = Capture(channel, cc, (value,), started=now)
            return
        if channel != c.channel or len(c.values) >= MAX_MESSAGES:
            return
        if cc == c.cc:
            self._capture = replace(c, values=(*c.values, value))
        elif abs(cc - c.cc) == 32:
            self._capture = replace(c, partners=c.partners | {cc})

    def done(self, now: float) -> bool:
        c = self._capture
        if c is None:
            return now >= self._deadline
        return now - c.started >= self._window_s or len(c.values) >= MAX_MESSAGES

    def result(self, previous: Binding | None = None) -> Binding | None:
        """The learned binding (None if nothing moved); keeps the previous binding's
        sub-range and options where they still apply."""
        c = self._capture
        if c is None:
            return None
        if c.partners and min(c.cc, *c.partners) < 32:
            msb = min(c.cc, *c.partners)
            learned = Binding(self.param, msb, c.channel, "absolute14", lsb=msb + 32)
        else:
            learned = Binding(self.param, c.cc, c.channel, classify(c.values))
        if previous is None:
            return learned
        relative = learned.mode_spec.relative
        return replace(learned, minimum=previous.minimum, maximum=previous.maximum,
                       takeover=previous.takeover if not relative else True,
                       steps=previous.steps if relative else DEFAULT_STEPS)


def check_learnable(param: str) -> str:
    if param not in PARAMS or not PARAMS[param].knob:
        raise ValueError(f"cannot learn {param!r}: not a knob parameter "
                         f"(knobs: {', '.join(KNOB_PARAMS)})")
    return param


# ---- saving into the config file ----

@dataclass(frozen=True)
class ConfigFile:
    """Where learned mappings are saved, with the daemon's own check of a config file (raises
    ValueError), so learning never writes a config the daemon would then refuse to load."""

    path: Path
    check: Callable[[Path], object]


def save_binding(target: ConfigFile, binding: Binding) -> Path:
    """Write ``binding`` into ``[midi] mappings`` of the TOML file at ``path`` (created if
    missing), keeping every comment, layout choice and other setting. A mapping table that was
    empty (the built-in defaults in effect) gets the defaults written out first, so learning
    one knob does not unmap the other three. Rows for parameters whose control was taken over
    are removed. Returns the file written (symlinks are followed)."""
    file = Path(target.path).expanduser()
    file = file.resolve() if file.exists() else file
    text = file.read_text(encoding="utf-8") if file.exists() else ""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as err:
        raise ValueError(f"{file}: not valid TOML ({err}); fix it, then learn again") from None
    table = _mappings_table(document, file)
    current = parse_mappings(table.unwrap())  # {} -> the defaults
    updated = with_binding(current, binding)
    wanted = {b.param: binding_row(b) for b in updated}
    if isinstance(table, InlineTable):
        # Rebuilt rather than edited: tomlkit appends to a parsed inline table without the
        # space after each comma. Inline tables hold no comments, so nothing is lost.
        rebuilt = tomlkit.inline_table()
        for param, row in wanted.items():
            keep = param != binding.param and param in table
            rebuilt[param] = table[param] if keep else _inline(row)
        document["midi"]["mappings"] = rebuilt
    else:
        for param in [p for p in table if p not in wanted]:
            del table[param]
        for param, row in wanted.items():
            if param == binding.param or param not in table:
                table[param] = _inline(row)
    _save_checked(file, tomlkit.dumps(document), target.check)
    return file


def _mappings_table(document: tomlkit.TOMLDocument, file: Path) -> Table | InlineTable:
    midi = document.get("midi")
    if midi is None:
        midi = tomlkit.table()
        document.add("midi", midi)
    if not isinstance(midi, (Table, InlineTable)):
        raise ValueError(f"{file}: [midi] is not a table; fix it, then learn again")
    mappings = midi.get("mappings")
    if mappings is None:
        mappings = tomlkit.table()
        midi.add("mappings", mappings)
    if not isinstance(mappings, (Table, InlineTable)):
        raise ValueError(f"{file}: [midi] mappings is not a table; fix it, then learn again")
    return mappings


def _inline(row: dict[str, object]) -> InlineTable:
    inline = tomlkit.inline_table()
    inline.update(row)
    return inline


def _save_checked(file: Path, text: str, check: Callable[[Path], object]) -> None:
    """A crash mid-write must not leave the user's config half written, and a working config
    is never replaced with one the daemon would refuse."""
    try:
        write_atomically(file, text, check=check)
    except ValueError as err:
        raise ValueError(f"learned mapping not saved: the result would be invalid: {err}"
                         ) from None

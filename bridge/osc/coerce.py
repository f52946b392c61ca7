"""OSC arguments -> the Python values the address table promises, or a clear refusal.

Senders disagree about types: Max sends floats from dials and ints from number boxes, TouchOSC
sends floats for everything, Pd and REAPER send what they like. So an ``i`` argument takes an
int, a float (rounded) or an OSC true/false, and an ``f`` argument takes an int or a float.
Max also splits a message's words into separate arguments (``/musicgen/prompt dusty funk``
arrives as two strings), so a trailing ``s`` argument absorbs the extra words, joined by spaces.

OSC floats are 32-bit: a dial set to 92.3 arrives as 92.30000305. Floats are read back as the
shortest decimal that maps to the same 32-bit value (92.3), which is what the sender meant,
so a tempo, a position or a knob value does not carry float32 noise into clip lengths and
sidecars.

Refused: NaN and infinity, strings where numbers belong and numbers where strings belong,
blobs, nil, arrays, MIDI and time-tag arguments, strings longer than MAX_STRING_CHARS, and the
wrong number of arguments. Ranges are the state's business (bridge.request, bridge.params).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from bridge.osc.addresses import OscAddress

# Longer than any setting accepts (prompts stop at 2000, paths at 4096): a string this long
# is a mistake or an attack, and refusing it here keeps it out of logs and error replies.
MAX_STRING_CHARS = 4096
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_TYPE_NAMES = {"i": "an integer", "f": "a number", "s": "a string"}

# What an argument is once coerced: an int for "i", a float for "f", a str for "s".
OscValue = int | float | str


class ArgumentError(ValueError):
    """The arguments do not fit the address; the message says what it expects."""


def usage(spec: OscAddress) -> str:
    """``numerator:i denominator:i`` / ``[prompt:s]`` for error messages and docs."""
    parts = []
    for arg in spec.args:
        part = f"{arg.name}:{arg.type}"
        parts.append(f"[{part}]" if arg.optional else part)
    return " ".join(parts) or "no arguments"


def coerce_args(spec: OscAddress, raw: Sequence[object]) -> tuple[OscValue, ...]:
    values = list(raw)
    expected = spec.args
    if expected and expected[-1].type == "s" and len(values) > len(expected):
        head = len(expected) - 1
        values = [*values[:head], _join_words(spec, values[head:])]
    required = sum(1 for arg in expected if not arg.optional)
    if not required <= len(values) <= len(expected):
        count = f"{len(values)} argument{'s' if len(values) != 1 else ''}"
        raise ArgumentError(f"{spec.address} takes {usage(spec)}, got {count}")
    return tuple(_coerce(spec, index, value) for index, value in enumerate(values))


def _coerce(spec: OscAddress, index: int, value: object) -> OscValue:
    arg = spec.args[index]
    where = f"{spec.address} {arg.name}" if len(spec.args) > 1 else spec.address
    if arg.type == "s":
        if not isinstance(value, str):
            raise ArgumentError(f"{where} must be a string, got {_describe(value)}")
        if len(value) > MAX_STRING_CHARS:
            raise ArgumentError(f"{where} is {len(value)} characters long; the most accepted "
                                f"is {MAX_STRING_CHARS}")
        return value
    if isinstance(value, bool) and arg.type == "i":
        return int(value)  # OSC T/F from a toggle
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentError(f"{where} must be {_TYPE_NAMES[arg.type]}, got {_describe(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ArgumentError(f"{where} must be a finite number, got {value}")
    if arg.type == "f":
        return shortest_float32(value) if isinstance(value, float) else float(value)
    number = round(value) if isinstance(value, float) else value
    if not INT32_MIN <= number <= INT32_MAX:
        raise ArgumentError(f"{where} must fit in 32 bits, got {_describe(value)}")
    return int(number)


def shortest_float32(value: float) -> float:
    """The shortest decimal with the same 32-bit float as ``value``; other values unchanged."""
    try:
        bits = struct.pack(">f", value)
    except OverflowError:
        return value
    if struct.unpack(">f", bits)[0] != value:
        return value  # not a 32-bit float (an OSC double, or an int): exact already
    for digits in range(1, 10):
        shorter = float(f"{value:.{digits}g}")
        if struct.pack(">f", shorter) == bits:
            return shorter
    return value


def _join_words(spec: OscAddress, words: Sequence[object]) -> str:
    parts = []
    for word in words:
        if isinstance(word, str):
            parts.append(word)
        elif isinstance(word, int) and not isinstance(word, bool):
            parts.append(str(word))
        elif isinstance(word, float) and math.isfinite(word):
            parts.append(f"{word:g}")
        else:
            raise ArgumentError(f"{spec.address} takes {usage(spec)}; the words of its text "
                                f"may be strings or numbers, got {_describe(word)}")
    return " ".join(parts)


def _describe(value: object) -> str:
    if value is None:
        return "nil"
    kind = {bool: "true/false", int: "integer", float: "float", str: "string",
            bytes: "blob", list: "array"}.get(type(value), "MIDI or time-tag")
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{kind} {shown}"

"""Musical time: tempo, meter, key and the bar arithmetic every clip length comes from.

DAWs report tempo in quarter notes per minute, so a bar of n/d lasts n * (4/d) * 60 / bpm
seconds, and a clip of B bars is exactly round(B * bar_seconds * rate) samples.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MIN_BPM = 20.0
MAX_BPM = 400.0
MAX_BARS = 512
DENOMINATORS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Meter:
    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if not 1 <= self.numerator <= 32:
            raise ValueError(f"meter numerator must be 1..32, got {self.numerator}")
        if self.denominator not in DENOMINATORS:
            raise ValueError(
                f"meter denominator must be a power of two ({', '.join(map(str, DENOMINATORS))}), "
                f"got {self.denominator}"
            )

    @classmethod
    def parse(cls, text: object) -> Meter:
        if isinstance(text, Meter):
            return text
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not match:
            raise ValueError(f'meter must look like "4/4" or "6/8", got {text!r}')
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def quarters_per_bar(self) -> float:
        return self.numerator * 4.0 / self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def check_bpm(bpm: object) -> float:
    try:
        value = float(bpm)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"bpm must be a number, got {bpm!r}") from None
    if not math.isfinite(value) or not MIN_BPM <= value <= MAX_BPM:
        raise ValueError(f"bpm must be in {MIN_BPM:g}..{MAX_BPM:g}, got {bpm!r}")
    return value


def check_bars(bars: object) -> int:
    if isinstance(bars, bool):
        raise ValueError(f"bars must be a whole number 1..{MAX_BARS}, got {bars!r}")
    try:
        value = float(bars)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"bars must be a whole number 1..{MAX_BARS}, got {bars!r}") from None
    if not math.isfinite(value) or value != int(value) or not 1 <= value <= MAX_BARS:
        raise ValueError(f"bars must be a whole number 1..{MAX_BARS}, got {bars!r}")
    return int(value)


def bar_seconds(bpm: float, meter: Meter) -> float:
    return meter.quarters_per_bar * 60.0 / bpm


def beat_seconds(bpm: float, meter: Meter) -> float:
    """Length of one beat of the meter's denominator (an eighth in 6/8)."""
    return (4.0 / meter.denominator) * 60.0 / bpm


def clip_seconds(bars: int, bpm: float, meter: Meter) -> float:
    return bars * bar_seconds(bpm, meter)


def clip_samples(bars: int, bpm: float, meter: Meter, rate: int) -> int:
    return int(round(bars * bar_seconds(bpm, meter) * rate))


def format_bpm(bpm: float) -> str:
    """Tempo as prompt text: whole BPM when within a hundredth, else one decimal ("92.5")."""
    if abs(bpm - round(bpm)) < 0.01:
        return str(int(round(bpm)))
    return f"{bpm:.1f}".rstrip("0").rstrip(".")


_TONICS = {"c", "c#", "db", "d", "d#", "eb", "e", "f", "f#", "gb", "g", "g#", "ab", "a", "a#",
           "bb", "b", "cb", "e#", "fb", "b#"}
_MODES = {"": "major", "maj": "major", "major": "major", "m": "minor", "min": "minor",
          "minor": "minor"}


def normalize_key(text: object) -> str:
    """"a minor", "Am", "F# maj", "bb" -> "A minor", "A minor", "F# major", "Bb major"; "" clears."""
    if text is None:
        return ""
    raw = str(text).strip()
    if not raw:
        return ""
    match = re.fullmatch(r"([A-Ga-g])\s*([#b♯♭]?)\s*([A-Za-z]*)", raw)
    if match:
        letter, accidental, mode = match.groups()
        accidental = {"♯": "#", "♭": "b"}.get(accidental, accidental)
        mode_key = mode.lower() if mode != "M" else "major"
        if (letter.lower() + accidental) in _TONICS and mode_key in _MODES:
            return f"{letter.upper()}{accidental} {_MODES[mode_key]}"
    raise ValueError(f'key must look like "A minor", "F# major" or "Bbm" (empty clears), got {raw!r}')

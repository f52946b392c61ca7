"""Events that feedback outputs show, published on the daemon bus by any stage.

They live here, apart from any one input or output, so that inputs (MIDI, AbletonOSC, the
daemon) can publish them and outputs (OSC, MIDI echo) can show them without importing each
other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorReport:
    """Something went wrong or deserves a warning: shown on /musicgen/error (about, reason)."""

    about: str
    reason: str


@dataclass(frozen=True)
class Learned:
    """MIDI learn bound a control to a parameter (and saved it into the config file)."""

    param: str
    channel: int  # 1..16, as in the config file and on controllers
    cc: int  # the controller number (the MSB for absolute14)
    mode: str = "absolute"  # a bridge.control.midi.mapping.MODES name

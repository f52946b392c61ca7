"""Events the MIDI input publishes on ``daemon.bus`` (beside the StateChanged its changes make).

Errors use the project's ``ErrorReport`` (OSC feedback sends it as ``/musicgen/error s s``);
``LearnFailed`` is one, so a failed learn reaches OSC clients without special handling.
``Learned`` (in bridge.events) becomes ``/musicgen/learned s i i`` over OSC.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.events import ErrorReport

LEARN_ADDRESS = "/musicgen/learn"


@dataclass(frozen=True)
class LearnFailed(ErrorReport):
    """``about`` is "/musicgen/learn <param>"; ``reason`` says why and what to do."""

    param: str = ""

    @classmethod
    def of(cls, param: str, reason: str) -> LearnFailed:
        return cls(f"{LEARN_ADDRESS} {param}", reason, param)


@dataclass(frozen=True)
class Transport:
    """MIDI transport: published on Start, Stop, Continue and Song Position Pointer."""

    playing: bool
    position_beats: float  # quarter notes since the song start
    started: bool = False  # a Start or Continue was seen (else the position is only the SPP)

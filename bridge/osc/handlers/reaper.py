"""REAPER's OSC control surface (reaper_scripts/MusicGen.ReaperOSC) talking to the daemon.

REAPER sends ``/tempo/raw <bpm>`` whenever the project tempo changes (and on a surface
refresh); the daemon follows it into the state with source "reaper". Everything else such a
surface sends (play, stop, time, track and FX state) is ignored quietly: REAPER cannot read
error replies, and answering each transport message with one would only add traffic. A tempo
the daemon cannot use is logged and reported to the feedback targets, not to REAPER.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bridge.osc.addresses import REAPER, REAPER_IGNORED_ROOTS, REAPER_TEMPO
from bridge.osc.dispatch import Call, Dispatcher

if TYPE_CHECKING:
    from bridge.session.control import Control

SOURCE = "reaper"


def _tempo(daemon: Control, call: Call) -> None:
    bpm = float(call.args[0])
    try:
        # None: [midi] tempo_source prefers an active MIDI clock or manual tempo; the
        # arbiter logs that once, and REAPER will say its tempo again on the next change.
        daemon.tempo.offer(bpm, SOURCE)
    except ValueError as err:
        raise ValueError(f"REAPER's tempo {bpm:g} BPM is not followed: {err}") from None


def register(dispatcher: Dispatcher, daemon: Control) -> None:
    dispatcher.register(REAPER_TEMPO, partial(_tempo, daemon), surface=REAPER)
    dispatcher.ignore(REAPER_IGNORED_ROOTS, REAPER)

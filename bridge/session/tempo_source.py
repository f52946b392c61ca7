"""Which tempo wins when the DAW (OSC), a MIDI clock and the user all say one.

``[midi] tempo_source`` picks the rule:

- ``auto``: every source is obeyed; the most recent change wins.
- ``osc`` / ``clock`` / ``manual``: that source always wins; the others are obeyed only while it
  is silent: OSC and manual until they first set a tempo this session, the clock while no
  ticks arrived for ``CLOCK_TIMEOUT_S`` (a stopped clock gives the tempo back).

Every input that sets "bpm" goes through the daemon's one arbiter (``daemon.tempo.offer(bpm,
source)``) instead of ``state.set`` so the rule lives in one place. Sources are the ``StateChanged.source`` strings;
``SOURCE_CLASSES`` says which class each belongs to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bridge.musical_time import check_bpm
from bridge.session.state import SessionState

log = logging.getLogger(__name__)

AUTO, OSC, CLOCK, MANUAL = "auto", "osc", "clock", "manual"
POLICIES = (AUTO, OSC, CLOCK, MANUAL)

# StateChanged.source -> the class the tempo_source setting names.
SOURCE_CLASSES: dict[str, str] = {
    "osc": OSC, "reaper": OSC, "abletonosc": OSC, "live": OSC, "inbox": OSC,
    "clock": CLOCK,
    "manual": MANUAL, "cli": MANUAL, "midi": MANUAL, "config": MANUAL,
}
CLOCK_TIMEOUT_S = 2.0  # a MIDI clock silent this long has stopped (DAW closed, cable out)


class TempoArbiter:
    """Decides, under one lock, whether an offered tempo is applied to the session state."""

    def __init__(self, state: SessionState, policy: str = AUTO, *,
                 now: Callable[[], float] = time.monotonic,
                 clock_timeout_s: float = CLOCK_TIMEOUT_S) -> None:
        if policy not in POLICIES:
            raise ValueError(f"tempo_source must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.state = state
        self.policy = policy
        self._now = now
        self._clock_timeout_s = clock_timeout_s
        self._lock = threading.Lock()
        self._heard: dict[str, float] = {}  # source class -> last time it spoke
        self._refusing: set[str] = set()  # classes whose refusal was already logged

    def offer(self, bpm: object, source: str) -> float | None:
        """Apply ``bpm`` from ``source`` if the policy lets it win; returns the applied tempo,
        or None when refused. Raises ValueError for a bad tempo or an unknown source."""
        kind = source_class(source)
        bpm = check_bpm(bpm)  # a refused value must not make its source the live one
        with self._lock:
            self._heard[kind] = self._now()
            if not self._allowed(kind):
                if kind not in self._refusing:
                    self._refusing.add(kind)
                    log.info("tempo %s from %s ignored: [midi] tempo_source = %r and %s is "
                             "active (set tempo_source = \"auto\" to follow the most recent)",
                             bpm, source, self.policy, self.policy)
                return None
            self._refusing.discard(kind)
            # Set under our lock so two sources cannot interleave decide-then-apply.
            return self.state.set("bpm", bpm, source=source)

    def heartbeat(self, source: str) -> None:
        """A source is alive without changing the tempo (a steady MIDI clock)."""
        kind = source_class(source)
        with self._lock:
            self._heard[kind] = self._now()

    def active(self) -> str | None:
        """The class that currently wins outright, or None (auto, or the preferred is silent)."""
        with self._lock:
            return self.policy if self.policy != AUTO and self._live(self.policy) else None

    def _allowed(self, kind: str) -> bool:
        return self.policy in (AUTO, kind) or not self._live(self.policy)

    def _live(self, kind: str) -> bool:
        heard = self._heard.get(kind)
        if heard is None:
            return False
        return kind != CLOCK or self._now() - heard <= self._clock_timeout_s


def source_class(source: str) -> str:
    try:
        return SOURCE_CLASSES[source]
    except KeyError:
        raise ValueError(f"unknown tempo source {source!r} (known: "
                         f"{', '.join(SOURCE_CLASSES)})") from None

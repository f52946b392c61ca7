"""Session state: the current prompt, musical context and knobs, shared by every input.

Inputs (OSC, MIDI, inbox, CLI) call ``set``/``set_knob``; a trigger takes a ``snapshot`` (a
frozen GenerationRequest) and enqueues it, so a knob turned while a job runs changes the next
job only. Every applied change is published as a ``StateChanged`` with the value actually
applied (after clamping), in the order the changes were applied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.params import PARAMS
from bridge.request import REQUEST_FIELD_NAMES, GenerationRequest


@dataclass(frozen=True)
class StateChanged:
    name: str
    value: Any  # as applied; Meter for "meter"
    source: str  # "osc", "midi", "clock", "inbox", "cli", "config", ...


class SessionState:
    def __init__(self, initial: GenerationRequest, *,
                 publish: Callable[[object], None] | None = None) -> None:
        self._lock = threading.RLock()
        self._request = initial
        self._publish = publish or (lambda event: None)

    def snapshot(self) -> GenerationRequest:
        with self._lock:
            return self._request

    def get(self, name: str) -> Any:
        with self._lock:
            return getattr(self._request, name)

    def set(self, name: str, value: object, *, source: str = "") -> Any:
        """Validate and apply one value; knob params are clamped, the rest checked strictly.

        Returns the applied value; raises ValueError (state unchanged) with a message that
        names the value and the allowed range.
        """
        if name not in REQUEST_FIELD_NAMES:
            raise ValueError(f"unknown setting {name!r} (known: {', '.join(REQUEST_FIELD_NAMES)})")
        if name in PARAMS:
            value = PARAMS[name].clamp(value)
        with self._lock:
            self._request = self._request.with_changes(**{name: value})
            applied = getattr(self._request, name)
            # Published under the lock so subscribers see changes in applied order.
            self._publish(StateChanged(name, applied, source))
        return applied

    def set_knob(self, name: str, position: float, *, source: str = "") -> Any:
        """Apply a normalized 0..1 knob position through the parameter's curve."""
        if name not in PARAMS or not PARAMS[name].knob:
            knobs = [n for n, s in PARAMS.items() if s.knob]
            raise ValueError(f"{name!r} is not a knob parameter (knobs: {', '.join(knobs)})")
        return self.set(name, PARAMS[name].from_knob(position), source=source)

    def update(self, changes: dict[str, object], *, source: str = "") -> GenerationRequest:
        """Apply several values atomically: all or none."""
        clamped = {k: PARAMS[k].clamp(v) if k in PARAMS else v for k, v in changes.items()}
        with self._lock:
            self._request = self._request.with_changes(**clamped)
            for name in clamped:
                self._publish(StateChanged(name, getattr(self._request, name), source))
            return self._request

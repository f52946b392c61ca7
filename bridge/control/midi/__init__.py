"""MIDI control: knobs, pads, program changes and clock drive the daemon (mido + python-rtmidi).

Pure layers (``mapping``, ``triggers``, ``clock``, ``learn``) are separate from the port code
(``ports``) and the service that wires them to a daemon (``service``). The service entry points
are imported lazily: ``bridge.config`` imports the mapping checks from this package, and the
service imports ``bridge.config``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Learned", "LearnFailed", "Transport", "create", "start_learn"]


def __getattr__(name: str) -> Any:
    if name in ("create", "start_learn"):
        from bridge.control.midi import service

        return getattr(service, name)
    if name in ("Learned", "LearnFailed", "Transport"):
        from bridge.control.midi import events

        return getattr(events, name)
    raise AttributeError(name)

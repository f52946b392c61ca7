"""The [midi] config section as the MIDI input uses it: parsed once, frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.midi.mapping import DEFAULT_BINDINGS, Binding, parse_mappings
from bridge.midi.triggers import DEFAULT_NOTES, NoteTrigger, parse_notes


@dataclass(frozen=True)
class MidiSettings:
    inputs: tuple[str, ...] = ()
    output: str = ""
    backend: str = ""
    tempo_source: str = "auto"
    bindings: tuple[Binding, ...] = DEFAULT_BINDINGS
    triggers: tuple[NoteTrigger, ...] = tuple(NoteTrigger(a, n) for a, n in DEFAULT_NOTES.items())
    presets: tuple[str, ...] = ()

    @classmethod
    def from_section(cls, midi: Any) -> MidiSettings:
        """From ``config.midi`` (already validated by bridge.config's checks)."""
        return cls(
            inputs=tuple(midi.inputs), output=midi.output, backend=midi.backend,
            tempo_source=midi.tempo_source, bindings=parse_mappings(midi.mappings),
            triggers=parse_notes(midi.notes), presets=tuple(midi.presets),
        )

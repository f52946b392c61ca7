"""The [midi] config section (``MidiSection``, as written in the file) and ``MidiSettings``,
the form the MIDI input uses: mappings and notes parsed once, frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from bridge.midi.mapping import DEFAULT_BINDINGS, Binding, check_mappings, parse_mappings
from bridge.midi.triggers import (
    DEFAULT_NOTES,
    MAX_PRESETS,
    NoteTrigger,
    check_notes,
    check_presets,
    parse_notes,
)
from bridge.schema import Check, Flag, Section, Text, TextList, choice

Mappings = Annotated[dict[str, Any], Check(check_mappings, {
    "type": "object", "x-inline": True,
    "additionalProperties": {"type": "object", "properties": {
        "cc": {"type": "integer"}, "channel": {"type": "integer"}, "mode": {"type": "string"},
        "lsb": {"type": "integer"}, "min": {"type": "number"}, "max": {"type": "number"},
        "takeover": {"type": "string"}, "steps": {"type": "number"}}}})]
Notes = Annotated[dict[str, Any], Check(check_notes, {
    "type": "object", "x-inline": True,
    "additionalProperties": {"type": ["integer", "object"]}})]
Presets = Annotated[list[str], Check(check_presets, {
    "type": "array", "items": {"type": "string"}, "maxItems": MAX_PRESETS})]


class MidiSection(Section):
    enabled: Flag = Field(True, description="listen for MIDI")
    inputs: TextList = Field(default_factory=list, description=(
        "input port names (exact or a substring); empty: a virtual port 'MusicGen Bridge'"))
    output: Text = Field("", description=(
        "port for CC feedback to LED rings / motor faders (exact or a substring); empty: none"))
    backend: Text = Field("", description=(
        'mido backend, e.g. "mido.backends.rtmidi/UNIX_JACK"; empty: MIDO_BACKEND or rtmidi'))
    tempo_source: Annotated[str, choice("auto", "osc", "clock", "manual")] = Field(
        "auto", description=("which tempo wins: osc (the DAW), clock (MIDI clock), manual; "
                             "auto: the most recent"))
    presets: Presets = Field(default_factory=list, description=(
        "prompts selected by program change 0, 1, ..."))
    # x-inline: `config init` writes these as inline tables; a [midi.mappings] table would land
    # at the end of the section, away from its comment.
    mappings: Mappings = Field(default_factory=dict, description=(
        'param = { cc = 21, channel = 1, mode = "absolute" }; empty: CC 21-24 on any '
        "channel -> top_k, top_p, temperature, cfg; see docs/midi.md"))
    notes: Notes = Field(default_factory=dict, description=(
        "generate/cancel/variations = note number; empty: 36, 37, 38 on any channel"))


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
    def from_section(cls, midi: MidiSection) -> MidiSettings:
        """From ``config.midi`` (already validated)."""
        return cls(
            inputs=tuple(midi.inputs), output=midi.output, backend=midi.backend,
            tempo_source=midi.tempo_source, bindings=parse_mappings(midi.mappings),
            triggers=parse_notes(midi.notes), presets=tuple(midi.presets),
        )

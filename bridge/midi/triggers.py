"""Note triggers and program-change presets: config rows -> lookups, as pure data and functions.

``[midi] notes = { generate = 36, cancel = { note = 37, channel = 10 } }``: a note-on (velocity
above 0; a velocity-0 note-on is a note-off) fires the action. ``[midi] presets`` is a list of
prompts; program change n selects the n-th (counting from 0, as MIDI sends it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.midi.mapping import to_plain
from bridge.request import MAX_PROMPT_CHARS

GENERATE, CANCEL, VARIATIONS = "generate", "cancel", "variations"

ACTIONS: dict[str, str] = {
    GENERATE: "queue a job with the current state",
    CANCEL: "cancel the running job",
    VARIATIONS: "re-run the last queued request with new seeds (variations from the state)",
}
# The first pads of a General MIDI drum bank (kick, side stick, snare).
DEFAULT_NOTES: dict[str, int] = {GENERATE: 36, CANCEL: 37, VARIATIONS: 38}
MAX_PRESETS = 128  # program change numbers 0..127


@dataclass(frozen=True)
class NoteTrigger:
    action: str
    note: int
    channel: int | None = None  # 0..15 as mido numbers them; None: any channel


def _note(action: str, value: object, key: str = "note") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
        raise ValueError(f"{action}: {key} must be an integer 0..127 (60 is middle C), "
                         f"got {value!r}")
    return value


def parse_trigger(action: str, row: object) -> NoteTrigger | None:
    if action not in ACTIONS:
        raise ValueError(f"unknown trigger {action!r} (known: {', '.join(ACTIONS)})")
    if row is False:
        return None
    if isinstance(row, Mapping):
        unknown = [k for k in row if k not in ("note", "channel")]
        if unknown or "note" not in row:
            raise ValueError(f"{action}: expected {{ note = 36 }} or {{ note = 36, channel = 10 }}, "
                             f"got {dict(row)!r}")
        channel = row.get("channel")
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int)
                                    or not 1 <= channel <= 16):
            raise ValueError(f"{action}: channel must be an integer 1..16, got {channel!r}")
        return NoteTrigger(action, _note(action, row["note"]),
                           None if channel is None else channel - 1)
    return NoteTrigger(action, _note(action, row))


def parse_notes(table: Mapping[str, object]) -> tuple[NoteTrigger, ...]:
    """The config's notes table -> triggers; an empty table means ``DEFAULT_NOTES``."""
    if not isinstance(table, Mapping):
        raise ValueError("expected a table like { generate = 36, cancel = 37 }")
    if not table:
        return tuple(NoteTrigger(a, n) for a, n in DEFAULT_NOTES.items())
    triggers = tuple(t for action, row in table.items()
                     if (t := parse_trigger(str(action), row)) is not None)
    index_triggers(triggers)
    return triggers


def check_notes(value: object) -> dict[str, Any]:
    """The ``[midi] notes`` config check: validates, returns the plain table unchanged."""
    plain = to_plain(value)
    parse_notes(plain)
    return plain


def check_presets(value: object) -> list[str]:
    """The ``[midi] presets`` config check: up to 128 prompts."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('expected a list of prompts, e.g. ["dusty funk drums", "ambient pad"]')
    if len(value) > MAX_PRESETS:
        raise ValueError(f"at most {MAX_PRESETS} presets (program changes 0..127), "
                         f"got {len(value)}")
    for n, text in enumerate(value):
        if len(text) > MAX_PROMPT_CHARS:
            raise ValueError(f"preset {n} is {len(text)} characters; the limit is "
                             f"{MAX_PROMPT_CHARS}")
    return list(value)


TriggerIndex = dict[tuple[int | None, int], str]


def index_triggers(triggers: tuple[NoteTrigger, ...]) -> TriggerIndex:
    index: TriggerIndex = {}
    for t in triggers:
        key = (t.channel, t.note)
        if key in index:
            raise ValueError(f"note {t.note} fires both {index[key]} and {t.action}")
        index[key] = t.action
    return index


def trigger_for(index: TriggerIndex, channel: int, note: int, velocity: int) -> str | None:
    """The action a note-on fires, or None; velocity 0 is a note-off and fires nothing."""
    if velocity <= 0:
        return None
    return index.get((channel, note)) or index.get((None, note))


def preset_for(presets: tuple[str, ...], program: int) -> str | None:
    return presets[program] if 0 <= program < len(presets) else None

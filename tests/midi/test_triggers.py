"""Note triggers and program-change presets as data."""

from __future__ import annotations

import mido
import pytest

from bridge.config import ConfigError, load
from bridge.midi.triggers import (
    CANCEL,
    DEFAULT_NOTES,
    GENERATE,
    VARIATIONS,
    check_presets,
    index_triggers,
    parse_notes,
    preset_for,
    trigger_for,
)


def fire(index, msg: mido.Message):
    return trigger_for(index, msg.channel, msg.note, msg.velocity)


def test_default_pads_work_on_any_channel():
    index = index_triggers(parse_notes({}))
    for channel in (0, 9):
        assert fire(index, mido.Message("note_on", channel=channel, note=36)) == GENERATE
        assert fire(index, mido.Message("note_on", channel=channel, note=37)) == CANCEL
        assert fire(index, mido.Message("note_on", channel=channel, note=38)) == VARIATIONS
    assert set(DEFAULT_NOTES) == {GENERATE, CANCEL, VARIATIONS}


def test_velocity_zero_note_on_is_a_note_off():
    index = index_triggers(parse_notes({}))
    assert fire(index, mido.Message("note_on", note=36, velocity=0)) is None
    # Bytes as a controller using running-status note-offs sends them.
    assert fire(index, mido.Message.from_bytes([0x90, 36, 0])) is None


def test_channel_specific_trigger_and_unmapped_notes():
    index = index_triggers(parse_notes({"generate": {"note": 60, "channel": 10}}))
    assert fire(index, mido.Message("note_on", channel=9, note=60)) == GENERATE
    assert fire(index, mido.Message("note_on", channel=0, note=60)) is None
    assert fire(index, mido.Message("note_on", channel=9, note=36)) is None  # defaults gone


@pytest.mark.parametrize("table, message", [
    ({"generate": 128}, "generate: note must be an integer 0..127 (60 is middle C), got 128"),
    ({"generate": "C3"}, "note must be an integer"),
    ({"explode": 40}, "unknown trigger 'explode' (known: generate, cancel, variations)"),
    ({"cancel": {"note": 40, "channel": 0}}, "cancel: channel must be an integer 1..16"),
    ({"cancel": {"pitch": 40}}, "expected { note = 36 }"),
    ({"generate": 40, "cancel": 40}, "note 40 fires both generate and cancel"),
])
def test_bad_notes_are_refused(table, message):
    with pytest.raises(ValueError) as info:
        parse_notes(table)
    assert message in str(info.value)


def test_false_turns_a_trigger_off():
    index = index_triggers(parse_notes({"generate": 36, "cancel": False}))
    assert fire(index, mido.Message("note_on", note=37)) is None


def test_presets_by_program_number():
    presets = ("dusty funk drums", "ambient pad")
    assert preset_for(presets, 0) == "dusty funk drums"
    assert preset_for(presets, 1) == "ambient pad"
    assert preset_for(presets, 2) is None
    with pytest.raises(ValueError, match="at most 128 presets"):
        check_presets(["x"] * 129)
    with pytest.raises(ValueError, match="preset 1 is 2001 characters; the limit is 2000"):
        check_presets(["ok", "x" * 2001])


def test_config_rows_are_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[midi]\nnotes = { generate = 200 }\n")
    with pytest.raises(ConfigError, match=r"\[midi\] notes = .* note must be an integer 0..127"):
        load(path)
    path.write_text('[midi]\npresets = ["a", 3]\n')
    with pytest.raises(ConfigError, match="expected a list of prompts"):
        load(path)

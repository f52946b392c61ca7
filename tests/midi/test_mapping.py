"""The mapping layer: config rows -> bindings, and CC values -> parameter values."""

from __future__ import annotations

import math

import mido
import pytest

from bridge.config import ConfigError, defaults
from bridge.midi.mapping import (
    DEFAULT_BINDINGS,
    DEFAULT_CCS,
    LSB,
    MAPPING_KEYS,
    MODES,
    MSB,
    VALUE,
    Binding,
    Knob,
    binding_row,
    check_mappings,
    index_bindings,
    lookup,
    move,
    parse_binding,
    parse_mappings,
    with_binding,
)
from bridge.params import KNOB_PARAMS, PARAMS


def feed(binding: Binding, values: list[int], current: object, knob: Knob | None = None,
         role: str = VALUE) -> tuple[object, Knob]:
    """Send CC values through ``move`` the way the controller does, applying each result."""
    knob = knob or Knob()
    for data in values:
        knob, value = move(binding, knob, role, data, current)
        if value is not None:
            current = value
    return current, knob


# ---- curves ----

@pytest.mark.parametrize("param", KNOB_PARAMS)
def test_absolute_ends_and_middle_follow_the_param_curve(param):
    spec = PARAMS[param]
    b = Binding(param, 21, takeover=False)
    assert feed(b, [0], spec.default)[0] == spec.minimum
    assert feed(b, [127], spec.default)[0] == spec.maximum
    assert feed(b, [64], spec.default)[0] == spec.from_knob(64 / 127)


def test_top_k_knob_is_logarithmic():
    b = Binding("top_k", 21, takeover=False)
    # Half way on a log 1..2048 knob is ~45, not ~1024: fine control where it matters.
    assert feed(b, [64], 250)[0] == round(math.exp(64 / 127 * math.log(2048)))


def test_sub_range_is_a_slice_of_the_curve():
    b = parse_binding("top_k", {"cc": 21, "min": 20, "max": 400, "takeover": "jump"})
    assert feed(b, [0], 250)[0] == 20
    assert feed(b, [127], 250)[0] == 400
    middle = feed(b, [64], 250)[0]
    assert 80 < middle < 100  # geometric mean of 20 and 400 is ~89: still logarithmic
    assert b.position_of(1) == 0.0 and b.position_of(2048) == 1.0  # outside clamps


def test_max_below_min_turns_the_knob_around():
    b = parse_binding("cfg", {"cc": 24, "min": 10.0, "max": 2.0, "takeover": "jump"})
    assert feed(b, [0], 3.0)[0] == 10.0
    assert feed(b, [127], 3.0)[0] == 2.0


# ---- 14-bit ----

def test_14bit_pair_applies_once_per_move_with_full_resolution():
    b = parse_binding("temperature", {"cc": 1, "mode": "absolute14", "takeover": "jump"})
    assert b.controllers() == ((1, MSB), (33, LSB))
    knob, value = move(b, Knob(), MSB, 64, 1.0)
    assert value is not None  # no LSB seen yet: the MSB alone works (7-bit controllers)
    knob, value = move(b, knob, LSB, 5, value)
    assert value == PARAMS["temperature"].from_knob(((64 << 7) | 5) / 16383)
    # Now that LSBs arrive, an MSB waits for its LSB: one move is one change.
    knob, pending = move(b, knob, MSB, 65, value)
    assert pending is None
    knob, value2 = move(b, knob, LSB, 0, value)
    assert value2 == PARAMS["temperature"].from_knob((65 << 7) / 16383)


def test_14bit_lsb_alone_refines_the_last_msb():
    b = parse_binding("cfg", {"cc": 7, "mode": "absolute14", "lsb": 39, "takeover": "jump"})
    knob, v = move(b, Knob(), LSB, 10, 3.0)
    assert v is None  # no MSB yet: nothing known
    knob, v = move(b, knob, MSB, 100, 3.0)
    knob, v = move(b, knob, LSB, 127, 3.0)
    assert v == PARAMS["cfg"].from_knob(((100 << 7) | 127) / 16383)


def test_14bit_feedback_splits_msb_and_lsb():
    b = parse_binding("top_p", {"cc": 2, "mode": "absolute14"})
    assert b.cc_values(1.0) == ((2, 127), (34, 127))
    assert b.cc_values(0.0) == ((2, 0), (34, 0))
    assert b.cc_values(0.5) == ((2, 64), (34, 0))  # round(0.5 * 16383) = 8192


# ---- relative encoders: every encoding, both directions ----

ENCODINGS = {  # mode: (one tick up, one tick down, three ticks up, three ticks down)
    "relative-twos": (1, 127, 3, 125),
    "relative-offset": (65, 63, 67, 61),
    "relative-sign": (1, 65, 3, 67),
}


@pytest.mark.parametrize("mode", list(ENCODINGS))
def test_relative_encodings_step_both_ways(mode):
    up, down, up3, down3 = ENCODINGS[mode]
    assert MODES[mode].decode(up) == 1 and MODES[mode].decode(down) == -1
    assert MODES[mode].decode(up3) == 3 and MODES[mode].decode(down3) == -3
    b = parse_binding("cfg", {"cc": 24, "mode": mode, "steps": 14})
    start = 8.0  # cfg 1..15 linear: one tick of 14 steps is exactly 1.0
    assert feed(b, [up], start)[0] == pytest.approx(9.0)
    assert feed(b, [down], start)[0] == pytest.approx(7.0)
    assert feed(b, [up3], start)[0] == pytest.approx(11.0)
    assert feed(b, [down3, down3, down3], start)[0] == pytest.approx(1.0)  # clamps at the end


@pytest.mark.parametrize("mode", list(ENCODINGS))
def test_relative_zero_is_no_move(mode):
    b = parse_binding("cfg", {"cc": 24, "mode": mode})
    centre = 64 if mode == "relative-offset" else 0
    assert move(b, Knob(), VALUE, centre, 3.0) == (Knob(), None)


def test_relative_integer_param_on_log_curve_does_not_stick():
    """top_k near 1 on a log curve: each tick is less than one integer step, so re-deriving
    the position from the rounded value would never move; the knob keeps its own position."""
    b = parse_binding("top_k", {"cc": 21, "mode": "relative-twos"})
    value, _ = feed(b, [1] * 20, 1)
    assert value > 1


def test_relative_resyncs_after_a_change_from_elsewhere():
    b = parse_binding("cfg", {"cc": 24, "mode": "relative-offset", "steps": 14})
    value, knob = feed(b, [65], 3.0)
    assert value == pytest.approx(4.0)
    # OSC set cfg to 10 meanwhile: the encoder continues from 10, not from its old 4.
    knob, value = move(b, knob, VALUE, 65, 10.0)
    assert value == pytest.approx(11.0)


# ---- soft takeover ----

def test_soft_takeover_waits_for_the_knob_to_pass_the_value():
    b = Binding("cfg", 24)  # pickup is the default
    current = 8.0  # position 0.5 on 1..15
    knob, v = move(b, Knob(), VALUE, 10, current)
    assert v is None and not knob.engaged  # far below: no jump
    knob, v = move(b, knob, VALUE, 40, current)
    assert v is None  # still below
    knob, v = move(b, knob, VALUE, 70, current)  # crossed 63.5 between 40 and 70
    assert v == PARAMS["cfg"].from_knob(70 / 127) and knob.engaged
    knob, v = move(b, knob, VALUE, 20, v)
    assert v == PARAMS["cfg"].from_knob(20 / 127)  # engaged: follows everywhere now


def test_soft_takeover_lets_go_when_the_value_changes_elsewhere():
    b = Binding("cfg", 24)
    current, knob = feed(b, [63, 64, 100], 8.0)  # picked up at 64, now at 100
    assert knob.engaged
    # A preset/OSC sets cfg to 2.0: the knob (at 100) must not yank it back.
    knob, v = move(b, knob, VALUE, 101, 2.0)
    assert v is None and not knob.engaged
    knob, v = move(b, knob, VALUE, 5, 2.0)  # from 101 down to 5 passes 2.0's position (~9)
    assert v is not None and knob.engaged


def test_soft_takeover_engages_within_one_step():
    b = Binding("top_p", 22)
    knob, v = move(b, Knob(), VALUE, 64, 0.5)  # 0.5 sits between 63 and 64
    assert knob.engaged


def test_jump_mode_applies_at_once():
    b = parse_binding("cfg", {"cc": 24, "takeover": "jump"})
    assert move(b, Knob(), VALUE, 0, 8.0)[1] == 1.0


def test_out_of_range_data_is_ignored():
    b = Binding("cfg", 24, takeover=False)
    assert move(b, Knob(), VALUE, 128, 3.0) == (Knob(), None)
    assert move(b, Knob(), VALUE, -1, 3.0) == (Knob(), None)


# ---- config rows ----

def test_empty_table_means_the_default_mapping():
    assert parse_mappings({}) == DEFAULT_BINDINGS
    index = index_bindings(DEFAULT_BINDINGS)
    for param, cc in DEFAULT_CCS.items():
        for channel in (0, 9, 15):  # any channel
            assert lookup(index, channel, cc)[0].param == param


def test_a_channel_specific_binding_wins_over_any_channel():
    bindings = parse_mappings({"top_k": {"cc": 21}, "cfg": {"cc": 21, "channel": 2}})
    index = index_bindings(bindings)
    assert lookup(index, 1, 21)[0].param == "cfg"  # channel 2 is mido's 1
    assert lookup(index, 0, 21)[0].param == "top_k"
    assert lookup(index, 0, 99) is None


@pytest.mark.parametrize("row, message", [
    ({"channel": 1}, "cc is missing"),
    ({"cc": 120}, "cc must be an integer 0..119 (120..127 are channel mode messages)"),
    ({"cc": 21, "channel": 0}, "channel must be an integer 1..16 as printed on controllers"),
    ({"cc": 21, "channel": 17}, "channel must be an integer 1..16"),
    ({"cc": 21, "mode": "relative"}, "mode must be one of absolute, absolute14, relative-twos"),
    ({"cc": 40, "mode": "absolute14"}, "absolute14 on cc 40 needs lsb"),
    ({"cc": 1, "lsb": 33}, 'lsb only applies to mode = "absolute14"'),
    ({"cc": 1, "mode": "absolute14", "lsb": 1}, "lsb must differ from cc"),
    ({"cc": 21, "mode": "relative-twos", "takeover": "jump"}, "takeover only applies to abs"),
    ({"cc": 21, "steps": 10}, "steps only applies to relative modes"),
    ({"cc": 21, "min": 5000}, "min: top_k must be in 1..2048, got 5000"),
    ({"cc": 21, "min": 10, "max": 10}, "min and max are equal"),
    ({"cc": 21, "takeover": "soft"}, 'takeover must be "pickup" or "jump"'),
    ({"cc": 21, "colour": "red"}, "unknown key 'colour'"),
    (21, "expected a table like"),
    ({"cc": True}, "cc must be an integer"),
])
def test_bad_rows_are_refused_with_the_fix(row, message):
    with pytest.raises(ValueError, match="top_k") as info:
        parse_mappings({"top_k": row})
    assert message in str(info.value)


def test_non_knob_params_and_collisions_are_refused():
    with pytest.raises(ValueError, match="'variations' is not a knob parameter"):
        parse_mappings({"variations": {"cc": 30}})
    with pytest.raises(ValueError, match="CC 21 on any channel drives both top_k and cfg"):
        parse_mappings({"top_k": {"cc": 21}, "cfg": {"cc": 21}})
    with pytest.raises(ValueError, match="CC 33 on channel 1 drives both"):
        parse_mappings({"top_k": {"cc": 1, "channel": 1, "mode": "absolute14"},
                        "cfg": {"cc": 33, "channel": 1}})


def test_false_unmaps_and_the_rest_is_exactly_what_is_written():
    bindings = parse_mappings({"top_k": False, "cfg": {"cc": 30}})
    assert [b.param for b in bindings] == ["cfg"]


def test_config_row_uses_the_check_and_names_key_value_and_fix(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[midi]\nmappings = { top_k = { cc = 200 } }\n')
    from bridge.config import load
    with pytest.raises(ConfigError, match=r"\[midi\] mappings = .* is invalid: top_k: cc must"):
        load(path)
    path.write_text('[midi.mappings]\ncfg = { cc = 24, channel = 10, mode = "relative-sign" }\n')
    assert load(path).midi.mappings == {"cfg": {"cc": 24, "channel": 10, "mode": "relative-sign"}}
    assert defaults().midi.mappings == {}


def test_check_returns_plain_data_and_is_idempotent():
    import tomlkit
    doc = tomlkit.parse('m = { top_k = { cc = 21, min = 2 } }')
    plain = check_mappings(doc["m"])
    assert type(plain) is dict and type(plain["top_k"]) is dict
    assert check_mappings(plain) == plain


@pytest.mark.parametrize("binding", [
    Binding("top_k", 21),
    Binding("cfg", 1, 3, "absolute14", lsb=33, minimum=2.0, maximum=9.0, takeover=False),
    Binding("temperature", 70, None, "relative-offset", steps=64),
])
def test_binding_rows_round_trip(binding):
    assert parse_binding(binding.param, binding_row(binding)) == binding


def test_learned_binding_replaces_and_takes_the_control_over():
    learned = Binding("cfg", 21, 0)
    result = with_binding(DEFAULT_BINDINGS, learned)
    assert [b.param for b in result] == ["top_k", "top_p", "temperature", "cfg"]
    # top_k stays on CC 21 for other channels; channel 1 now drives cfg.
    assert lookup(index_bindings(result), 0, 21)[0].param == "cfg"
    taken = with_binding(result, Binding("top_p", 21, 0))
    assert "cfg" not in [b.param for b in taken]


def test_mapping_contract_tables_are_complete():
    assert set(MAPPING_KEYS) == {"cc", "channel", "mode", "lsb", "min", "max", "takeover", "steps"}
    assert {m for m in MODES if MODES[m].relative} == set(ENCODINGS)


def test_mido_messages_through_lookup_and_move():
    index = index_bindings(DEFAULT_BINDINGS)
    state = {name: PARAMS[name].default for name in DEFAULT_CCS}
    knobs: dict[str, Knob] = {}
    sweep = [mido.Message("control_change", channel=5, control=24, value=v) for v in range(128)]
    for msg in sweep:
        binding, role = lookup(index, msg.channel, msg.control)
        knob, value = move(binding, knobs.get(binding.param, Knob()), role, msg.value,
                           state[binding.param])
        knobs[binding.param] = knob
        if value is not None:
            state[binding.param] = value
    assert state["cfg"] == 15.0  # picked up on the way, ended at the top

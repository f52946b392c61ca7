import math

import pytest

from bridge.midi.mapping import parse_mappings
from bridge.params import KNOB_PARAMS, LOG, PARAMS, check_seed, defaults, transformers_top_p


def test_documented_ranges_and_defaults():
    assert (PARAMS["top_k"].minimum, PARAMS["top_k"].maximum, PARAMS["top_k"].default) == (1, 2048, 250)
    assert (PARAMS["top_p"].minimum, PARAMS["top_p"].maximum, PARAMS["top_p"].default) == (0, 1, 0)
    assert (PARAMS["temperature"].minimum, PARAMS["temperature"].maximum) == (0.05, 4.0)
    assert (PARAMS["cfg"].minimum, PARAMS["cfg"].maximum, PARAMS["cfg"].default) == (1, 15, 3)
    assert (PARAMS["variations"].minimum, PARAMS["variations"].maximum) == (1, 8)
    assert (PARAMS["style_strength"].minimum, PARAMS["style_strength"].maximum,
            PARAMS["style_strength"].default) == (0, 2, 1)
    assert defaults()["top_k"] == 250 and isinstance(defaults()["top_k"], int)


def test_the_knobs_are_what_a_fresh_controller_turns_in_order():
    # docs/midi.md's promise to a user with no mapping configured: CC 21-24 on any channel
    # turn these four, in this order (the Max device's dials and OSC feedback use KNOB_PARAMS).
    bindings = sorted(parse_mappings({}), key=lambda b: b.cc)
    assert [(b.cc, b.channel, b.param) for b in bindings] == [
        (21, None, "top_k"), (22, None, "top_p"), (23, None, "temperature"), (24, None, "cfg")]
    # A fifth knob, the style's strength, is bound by MIDI learn or the config, not by default.
    assert KNOB_PARAMS == ("top_k", "top_p", "temperature", "cfg", "style_strength")
    assert tuple(b.param for b in bindings) == KNOB_PARAMS[:4]


def test_curves_log_for_top_k_and_temperature_linear_for_the_rest():
    assert PARAMS["top_k"].curve == LOG and PARAMS["temperature"].curve == LOG
    assert PARAMS["top_p"].curve != LOG and PARAMS["cfg"].curve != LOG
    # Half-way on a log knob is the geometric mean, not the arithmetic one.
    assert PARAMS["temperature"].from_knob(0.5) == pytest.approx(math.sqrt(0.05 * 4.0))
    assert PARAMS["top_k"].from_knob(0.5) == round(math.sqrt(2048))
    assert PARAMS["cfg"].from_knob(0.5) == pytest.approx(8.0)


@pytest.mark.parametrize("name", KNOB_PARAMS)
def test_knob_ends_and_round_trip(name):
    spec = PARAMS[name]
    assert spec.from_knob(0.0) == spec.minimum
    assert spec.from_knob(1.0) == spec.maximum
    assert spec.from_knob(-3) == spec.minimum and spec.from_knob(7) == spec.maximum
    for x in (0.1, 0.33, 0.5, 0.9):
        value = spec.from_knob(x)
        back = spec.to_knob(value)
        # ints round, so the way back lands within one step of the knob position
        assert spec.from_knob(back) == value


def test_check_names_range_and_clamp_clamps():
    with pytest.raises(ValueError, match=r"top_k must be in 1\.\.2048, got 5000"):
        PARAMS["top_k"].check(5000)
    with pytest.raises(ValueError, match="finite"):
        PARAMS["cfg"].clamp(float("nan"))
    with pytest.raises(ValueError, match="must be a number"):
        PARAMS["cfg"].check("loud")
    assert PARAMS["cfg"].clamp(99) == 15.0
    assert PARAMS["top_k"].check(12.0) == 12 and isinstance(PARAMS["top_k"].check(12.0), int)


def test_top_p_off_reaches_transformers_as_one_not_greedy_zero():
    assert transformers_top_p(0.0) == 1.0
    assert transformers_top_p(0.9) == 0.9


def test_seed():
    assert check_seed(-1) is None and check_seed(None) is None
    assert check_seed(42) == 42 and check_seed(42.0) == 42
    for bad in (-2, 2**31, 1.5, "x", True):
        with pytest.raises(ValueError, match="seed must be an integer"):
            check_seed(bad)


def test_every_parameter_is_a_request_field_and_a_config_default():
    # The request and the [generation] section list the knobs by name (their ranges come from
    # PARAMS); a parameter added to the table but not to both would be unreachable from a
    # request file or the config.
    from dataclasses import fields

    from bridge.request import GenerationRequest
    from bridge.session.settings import GenerationSettings

    assert set(PARAMS) <= {f.name for f in fields(GenerationRequest)}
    assert set(PARAMS) <= set(GenerationSettings.model_fields)

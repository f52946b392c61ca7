"""Argument coercion and packet parsing: pure functions, no sockets."""

from __future__ import annotations

import math
import struct

import pytest

from bridge.osc.addresses import BY_ADDRESS
from bridge.osc.coerce import MAX_STRING_CHARS, ArgumentError, coerce_args, usage
from bridge.osc.dispatch import PacketError, parse_packet
from tests.osc.osc_helpers import encode

BARS = BY_ADDRESS["/musicgen/bars"]
TEMPO = BY_ADDRESS["/musicgen/tempo"]
METER = BY_ADDRESS["/musicgen/meter"]
PROMPT = BY_ADDRESS["/musicgen/prompt"]
GENERATE = BY_ADDRESS["/musicgen/generate"]
CLIENT = BY_ADDRESS["/musicgen/client"]


@pytest.mark.parametrize(("spec", "raw", "expected"), [
    (BARS, [4], (4,)),
    (BARS, [4.0], (4,)),  # Max dial
    (BARS, [3.6], (4,)),  # rounded, range checks come later
    (BARS, [True], (1,)),  # OSC T from a toggle
    (TEMPO, [120], (120.0,)),  # Max number box
    (TEMPO, [92.5], (92.5,)),
    (METER, [6.0, 8], (6, 8)),
    (GENERATE, [], ()),
    (GENERATE, ["lofi"], ("lofi",)),
])
def test_numbers_take_either_type(spec, raw, expected):
    values = coerce_args(spec, raw)
    assert values == expected
    assert [type(v) for v in values] == [type(v) for v in expected]


def test_floats_lose_their_32_bit_noise():
    def wire(x: float) -> float:
        return struct.unpack(">f", struct.pack(">f", x))[0]

    assert wire(128.3) != 128.3  # what arrives
    assert coerce_args(TEMPO, [wire(128.3)]) == (128.3,)  # what the sender meant
    assert coerce_args(TEMPO, [wire(0.1)]) == (0.1,)
    assert coerce_args(TEMPO, [1 / 3]) == (1 / 3,)  # an OSC double is exact already
    assert coerce_args(TEMPO, [2**31]) == (2.0**31,)  # ints are exact as sent


def test_trailing_text_absorbs_words_as_max_sends_them():
    assert coerce_args(PROMPT, ["dusty", "funk", 808, "drums", 0.5]) == (
        "dusty funk 808 drums 0.5",)
    assert coerce_args(CLIENT, ["max", 9001]) == ("max", 9001)


@pytest.mark.parametrize(("spec", "raw", "message"), [
    (TEMPO, [math.nan], "/musicgen/tempo must be a finite number, got nan"),
    (TEMPO, [math.inf], "/musicgen/tempo must be a finite number, got inf"),
    (BARS, [-math.inf], "/musicgen/bars must be a finite number, got -inf"),
    (TEMPO, ["fast"], "/musicgen/tempo must be a number, got string 'fast'"),
    (TEMPO, [True], "/musicgen/tempo must be a number, got true/false True"),
    (BARS, [None], "/musicgen/bars must be an integer, got nil"),
    (BARS, [b"\x00"], "/musicgen/bars must be an integer, got blob"),
    (BARS, [2.0**40], "/musicgen/bars must fit in 32 bits"),
    (PROMPT, [3], "/musicgen/prompt must be a string, got integer 3"),
    (METER, [6], "/musicgen/meter takes numerator:i denominator:i, got 1 argument"),
    (METER, [6, 8, 9], "/musicgen/meter takes numerator:i denominator:i, got 3 arguments"),
    (METER, ["6", 8], "/musicgen/meter numerator must be an integer, got string '6'"),
    (BY_ADDRESS["/musicgen/ping"], [1], "/musicgen/ping takes no arguments, got 1 argument"),
    (PROMPT, ["a", b"x"], "the words of its text may be strings or numbers, got blob"),
])
def test_refusals_name_the_address_and_the_fix(spec, raw, message):
    with pytest.raises(ArgumentError) as caught:
        coerce_args(spec, raw)
    assert message in str(caught.value)


def test_absurd_strings_are_refused_with_their_length():
    with pytest.raises(ArgumentError, match=f"1000000 characters long; the most accepted is "
                                            f"{MAX_STRING_CHARS}"):
        coerce_args(PROMPT, ["x" * 1_000_000])
    assert coerce_args(PROMPT, ["x" * MAX_STRING_CHARS]) == ("x" * MAX_STRING_CHARS,)


def test_usage_marks_optional_arguments():
    assert usage(GENERATE) == "[prompt:s]"
    assert usage(METER) == "numerator:i denominator:i"


def _bundle(*elements: bytes, timetag: bytes = b"\x00" * 7 + b"\x01") -> bytes:
    body = b"".join(struct.pack(">i", len(e)) + e for e in elements)
    return b"#bundle\x00" + timetag + body


def test_bundles_yield_their_messages_in_order_nested_too():
    inner = _bundle(encode("/b", "i", 2), encode("/c", "s", "x"))
    packet = _bundle(encode("/a", "f", 1.5), inner, encode("/d"))
    assert [(m.address, m.args) for m in parse_packet(packet)] == [
        ("/a", (1.5,)), ("/b", (2,)), ("/c", ("x",)), ("/d", ())]


def test_future_time_tags_do_not_delay():
    far_future = struct.pack(">Q", (2**32 - 1) << 32)
    assert [m.address for m in parse_packet(_bundle(encode("/a"), timetag=far_future))] == ["/a"]


@pytest.mark.parametrize(("packet", "message"), [
    (b"", "empty packet"),
    (b"hello", "not an OSC packet"),
    (b"/abc", "malformed OSC message"),  # no string terminator
    (b"/a\x00\x00,q\x00\x00", "unsupported OSC type tag(s) 'q'"),
    (b"/a\x00\x00i\x00\x00\x00", "type tags must start with ','"),
    (b"/a\x00\x00,i\x00\x00\x00\x01", "malformed OSC message"),  # int cut short
    (b"/\xff\xfe\x00,\x00\x00\x00", "malformed OSC message"),  # not UTF-8
    (b"#bundle\x00\x00", "bundle too short"),
    (_bundle(encode("/a"))[:-2], "does not fit the bundle"),
    (_bundle(b"junk"), "neither a message nor a bundle"),
    (_bundle(encode("/a"), b"/b\x00\x00,i\x00\x00"), "malformed OSC message"),  # spoils all
    # python-osc 1.10 alone loops forever on a negative element size, skips a zero-size one.
    (_bundle() + struct.pack(">i", -4), "bundle element size -4 does not fit"),
    (_bundle() + struct.pack(">i", 0), "bundle element size 0 does not fit"),
    (_bundle(encode("/a"), _bundle(b"/b\x00\x00,iq\x00\x00\x00\x00\x01")),
     "/b: unsupported OSC type tag(s) 'q'"),  # strict inside nested bundles too
])
def test_malformed_packets_are_refused_with_a_reason(packet, message):
    with pytest.raises(PacketError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_packet(packet)


def test_deep_bundles_are_refused_not_recursed():
    packet = encode("/a")
    for _ in range(20):
        packet = _bundle(packet)
    with pytest.raises(PacketError, match="nested more than 8 deep"):
        parse_packet(packet)

"""Property-based fuzzing over real UDP: addresses, argument types and raw datagrams.

Whatever arrives, the daemon answers the next /musicgen/ping, every reply is well-formed OSC,
a setting is either applied (echoed) or refused (an error about its address), and the session
state stays a valid request. Jobs are accepted but not run (the queue is not started), so
/musicgen/generate in the mix costs nothing and soon meets a full queue.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.osc.addresses import (
    INPUTS,
    REAPER_IGNORED_ROOTS,
    REAPER_TEMPO,
    SETTING_FIELDS,
)
from bridge.request import GenerationRequest
from tests.osc.osc_helpers import encode

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

KNOWN = [a.address for a in INPUTS] + [REAPER_TEMPO]
addresses = st.one_of(
    st.sampled_from(KNOWN),
    st.sampled_from(KNOWN).map(lambda a: a + "x"),
    st.text(alphabet="/musicgenkobtap_*?[]{},!-é0123456789", min_size=1, max_size=30)
    .map(lambda s: s if s.startswith("/") else "/" + s),
    st.sampled_from(sorted(REAPER_IGNORED_ROOTS)).map(lambda r: f"/{r}/1"),
)
arguments = st.lists(st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda v: ("i", v)),
    st.floats(width=32).map(lambda v: ("f", v)),  # NaN and infinities included
    # An OSC string ends at its first NUL, so python-osc cannot build one containing it
    # (raw datagrams with NULs anywhere are the next test's business).
    st.text(st.characters(blacklist_characters="\x00"), max_size=40).map(lambda v: ("s", v)),
    st.booleans().map(lambda v: ("T" if v else "F", v)),
    st.just(("N", None)),
    st.binary(min_size=1, max_size=16).map(lambda v: ("b", v)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: ("h", v)),
), max_size=4)


@pytest.fixture
def fuzz_bridge(make_bridge):
    return make_bridge(start_queue=False)


def _message(address: str, args: list[tuple[str, object]]) -> bytes:
    builder = OscMessageBuilder(address)
    for type_, value in args:
        builder.add_arg(value, type_)
    return builder.build().dgram


def _check_alive(bridge, *, fuzz_pinged: bool = False) -> list[tuple[str, list]]:
    replies = bridge.client.ping()
    if fuzz_pinged:  # the fuzzed message was a ping itself: its pong came first
        assert replies == []
        replies = bridge.client.until("/musicgen/pong")[:-1]
    for address, args in replies:
        assert address.startswith("/musicgen/")
        if address == "/musicgen/error":
            assert len(args) == 2 and all(isinstance(a, str) and a for a in args)
    GenerationRequest.from_dict(bridge.daemon.state.snapshot().to_dict())  # still valid
    return replies


@FUZZ
@given(address=addresses, args=arguments)
def test_any_message_is_applied_or_refused_and_the_daemon_answers(fuzz_bridge, address, args):
    fuzz_bridge.client.raw(_message(address, args))
    replies = _check_alive(fuzz_bridge, fuzz_pinged=address == "/musicgen/ping" and not args)
    errors = [a for addr, a in replies if addr == "/musicgen/error"]
    if address in SETTING_FIELDS:
        echoed = [addr for addr, _ in replies if addr == address]
        assert len(echoed) + len(errors) == 1, replies
        assert all(about == address for about, _ in errors)
    elif address.startswith("/") and address.split("/")[1] in REAPER_IGNORED_ROOTS \
            and address != REAPER_TEMPO:
        assert replies == []  # REAPER chatter: ignored quietly
    elif address not in KNOWN:
        assert [about for about, _ in errors] == [address], replies


@FUZZ
@given(data=st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=100).map(lambda b: b"/" + b),
    st.binary(max_size=100).map(lambda b: b"#bundle\x00" + b),
    st.binary(max_size=100).map(lambda b: b"/musicgen/tempo\x00,f\x00\x00" + b),
))
def test_raw_datagrams_never_stop_the_daemon(fuzz_bridge, data):
    fuzz_bridge.client.raw(data)
    _check_alive(fuzz_bridge)


@FUZZ
@given(message=st.sampled_from([encode("/musicgen/tempo", "f", 120.0),
                                encode("/musicgen/meter", "ii", 7, 8),
                                encode("/musicgen/prompt", "s", "dusty funk drums"),
                                encode("/musicgen/generate", "s", "x")]),
       flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 64), nest=st.integers(0, 10))
def test_mutated_messages_and_bundles_never_stop_the_daemon(fuzz_bridge, message, flips,
                                                            cut, nest):
    data = bytearray(message)
    for index, value in flips:
        data[index % len(data)] = value
    packet = bytes(data[:len(data) - cut % len(data)] if cut % 3 == 0 else data)
    for _ in range(nest):
        packet = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", len(packet)) + packet
    fuzz_bridge.client.raw(packet)
    _check_alive(fuzz_bridge)

"""What the device says and hears is the package's OSC address space, read from the package.

tests/max/osc_trace.js drives the real musicgen_bridge.js (fake LiveAPI) through everything a
user can do and reports every message it sent, with the OSC type each argument gets from Max.
"""

from __future__ import annotations

import json

import pytest

from bridge import config
from bridge.osc.addresses import ADDRESSES, BY_ADDRESS, KNOB_PARAMS, PREFIX
from tests.max.maxpat import HERE, run_node

# Feedback the device must act on (the rest, setting echoes and pong, it may drop).
MUST_HANDLE = [f"{PREFIX}/{name}" for name in ("queued", "status", "progress", "clip", "error")]
# What a user's actions must put on the wire: every control ends up somewhere.
MUST_SEND = [f"{PREFIX}/{name}" for name in (
    "client", "tempo", "meter", "prompt", "bars", "variations", "seed", "position", "generate",
    "continue", "cancel", "style", "styles", "style_clip", "train", *KNOB_PARAMS)]


@pytest.fixture(scope="module")
def trace():
    shapes = {a.address: a.typetags for a in ADDRESSES if a.address in MUST_HANDLE
              or a.address == f"{PREFIX}/client"}
    result = run_node(str(HERE / "osc_trace.js"), json.dumps(shapes))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def compatible(expected: str, got: str) -> bool:
    # Max's js sends a whole-valued number as an int; the daemon takes i or f for numbers.
    return got == expected or (expected == "f" and got == "i")


def test_every_message_sent_is_an_input_address_with_matching_arguments(trace):
    assert trace["sent"]
    for message in trace["sent"]:
        address = message["address"]
        assert address in BY_ADDRESS, f"{address} is not in bridge.osc.addresses"
        spec = BY_ADDRESS[address]
        assert spec.direction == "in", f"{address} is feedback the daemon sends, not an input"
        required = [a for a in spec.args if not a.optional]
        got = [arg["type"] for arg in message["args"]]
        assert len(required) <= len(got) <= len(spec.args), (address, got, spec.typetags)
        for arg_spec, type_ in zip(spec.args, got, strict=False):
            assert compatible(arg_spec.type, type_), (address, arg_spec.name, type_)


def test_every_control_reaches_the_daemon(trace):
    sent = {m["address"] for m in trace["sent"]}
    assert [a for a in MUST_SEND if a not in sent] == []


def test_knobs_go_out_in_their_own_units_not_as_knob_positions(trace):
    sent = {m["address"] for m in trace["sent"]}
    assert not any(a.startswith(f"{PREFIX}/knob/") for a in sent)


def test_the_device_handles_the_feedback_it_must(trace):
    assert [a for a in MUST_HANDLE if a not in trace["handles"]] == []


def test_everything_the_device_handles_is_something_the_daemon_sends(trace):
    replies = {spec.reply.split()[0] for spec in ADDRESSES if spec.reply}
    for address in trace["handles"]:
        assert address in BY_ADDRESS
        assert BY_ADDRESS[address].direction == "out" or address in replies, address


def test_feedback_shaped_like_the_table_is_understood(trace):
    """A message built from the table's type tags: no error, and the device reacts."""
    for address, outcome in trace["probe"].items():
        assert outcome["error"] is None, (address, outcome["error"])
        if address in MUST_HANDLE:
            assert outcome["reacted"], address
    assert trace["probe"][f"{PREFIX}/clip"]["clipParse"]["ok"] is True


def test_automatic_reply_ports_never_collide_with_the_daemons_defaults(trace):
    defaults = config.defaults().osc
    taken = {defaults.port} | {int(target.rsplit(":", 1)[1]) for target in defaults.feedback}
    assert taken.isdisjoint(trace["autoReplyPorts"])
    assert len(set(trace["autoReplyPorts"])) > 100, "devices must get different ports"

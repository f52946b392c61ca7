"""Real UDP round trips with python-osc: settings, echoes, errors, routing, REAPER."""

from __future__ import annotations

import re
import struct

import pytest

from bridge.events import Learned
from bridge.musical_time import Meter
from bridge.osc.addresses import INPUTS, REAPER_TEMPO
from bridge.osc.dispatch import Dispatcher
from bridge.osc.server import SenderGate
from bridge.params import PARAMS
from bridge.session.state import StateChanged
from tests.osc.osc_helpers import encode


def test_ping_answers_pong(bridge):
    assert bridge.client.ping() == []


@pytest.mark.parametrize(("address", "types", "args", "echo", "field", "value"), [
    ("/musicgen/prompt", "s", ("dusty funk drums",), ["dusty funk drums"], "prompt",
     "dusty funk drums"),
    ("/musicgen/tempo", "f", (92.5,), [92.5], "bpm", 92.5),
    ("/musicgen/tempo", "f", (128.3,), [pytest.approx(128.3)], "bpm", 128.3),  # not 128.30000305
    ("/musicgen/tempo", "i", (140,), [140.0], "bpm", 140.0),  # a number box sends ints
    ("/musicgen/meter", "ii", (7, 8), [7, 8], "meter", Meter(7, 8)),
    ("/musicgen/meter", "ff", (6.0, 8.0), [6, 8], "meter", Meter(6, 8)),  # dials send floats
    ("/musicgen/key", "s", ("am",), ["A minor"], "key", "A minor"),
    ("/musicgen/key", "s", ("",), [""], "key", ""),
    ("/musicgen/bars", "f", (8.0,), [8], "bars", 8),
    ("/musicgen/seed", "i", (1234,), [1234], "seed", 1234),
    ("/musicgen/seed", "i", (-1,), [-1], "seed", None),
    ("/musicgen/variations", "i", (20,), [8], "variations", 8),  # clamped, echoed as applied
    ("/musicgen/position", "f", (12.5,), [12.5], "position_s", 12.5),
    ("/musicgen/position", "f", (-1.0,), [-1.0], "position_s", None),
    ("/musicgen/quality", "s", ("lo-fi",), ["lo-fi"], "quality", "lo-fi"),
    ("/musicgen/tempo_lock", "i", (0,), [0], "tempo_lock", False),
    ("/musicgen/tempo_lock", "T", (True,), [1], "tempo_lock", True),
    ("/musicgen/loop", "i", (1,), [1], "loop", True),
    ("/musicgen/retries", "i", (2,), [2], "retries", 2),
    ("/musicgen/retries", "i", (-1,), [-1], "retries", None),
    ("/musicgen/negative", "s", ("vocals",), ["vocals"], "negative_prompt", "vocals"),
    ("/musicgen/top_k", "i", (5000,), [2048], "top_k", 2048),  # clamped
    ("/musicgen/top_k", "f", (99.6,), [100], "top_k", 100),
    ("/musicgen/top_p", "f", (0.9,), [pytest.approx(0.9)], "top_p", 0.9),
    ("/musicgen/temperature", "f", (0.0,), [pytest.approx(0.05)], "temperature", 0.05),
    ("/musicgen/cfg", "i", (7,), [7.0], "cfg", 7.0),
])
def test_a_setting_is_applied_and_echoed_to_sender_and_target(
        bridge, address, types, args, echo, field, value):
    bridge.client.send(address, types, *args)
    assert bridge.client.expect(address) == echo
    assert bridge.target.expect(address) == echo
    assert bridge.daemon.state.get(field) == value


@pytest.mark.parametrize("name", ["top_k", "top_p", "temperature", "cfg"])
def test_knobs_map_through_the_parameter_curve(bridge, name):
    spec = PARAMS[name]
    for position in (0.0, 0.25, 0.73, 1.0, 1.7, -3.0):
        bridge.client.send(f"/musicgen/knob/{name}", "f", position)
        expected = spec.from_knob(position)  # float32 noise is gone before the curve
        assert bridge.client.expect(f"/musicgen/{name}") == [pytest.approx(expected, rel=1e-6)]
        assert bridge.daemon.state.get(name) == expected


@pytest.mark.parametrize(("address", "types", "args", "reason"), [
    ("/musicgen/tempo", "f", (1000.0,), "bpm must be in 20..400"),
    ("/musicgen/bars", "i", (0,), "bars must be a whole number 1..512"),
    ("/musicgen/meter", "ii", (7, 3), "meter denominator must be a power of two"),
    ("/musicgen/key", "s", ("H major",), "key"),
    ("/musicgen/seed", "i", (-5,), "seed must be an integer 0..2147483647 or -1"),
    ("/musicgen/position", "f", (-2.0,), "position must be seconds >= 0, or -1"),
    ("/musicgen/tempo_lock", "i", (2,), "tempo_lock must be 1"),
    ("/musicgen/retries", "i", (9,), "retries must be 0-5, or -1"),
    ("/musicgen/tempo", "f", (float("nan"),), "must be a finite number, got nan"),
    ("/musicgen/prompt", "s", ("x" * 3000,), "must be at most 2000 characters"),
    ("/musicgen/prompt", "s", ("x" * 60000,), "60000 characters long"),
    ("/musicgen/meter", "i", (4,), "takes numerator:i denominator:i, got 1 argument"),
    ("/musicgen/cfg", "s", ("high",), "must be a number, got string 'high'"),
    ("/musicgen/bpm", "f", (120.0,), "unknown address /musicgen/bpm"),
    ("/musicgen/temprature", "f", (1.0,), "did you mean /musicgen/temperature?"),
    ("/musicgen/*", "f", (1.0,), "address patterns (wildcards) are not accepted"),
    ("/musicgen/status", "s", ("idle",), "an address the daemon sends, not one it listens to"),
    ("/musicgen/learn", "s", ("cfg",), "MIDI learn needs MIDI input, which is off"),
    ("/musicgen/learn", "s", ("bars",), "not a knob"),
    ("/synth/cutoff", "f", (0.5,), "unknown address /synth/cutoff"),
])
def test_bad_input_gets_an_error_and_leaves_the_state_alone(bridge, address, types, args,
                                                             reason):
    before = bridge.daemon.state.snapshot()
    bridge.client.send(address, types, *args)
    about, text = bridge.client.expect("/musicgen/error")
    assert about == address
    assert reason in text
    assert not re.search(r"\b(\w+): \1 ", text)  # "bpm: bpm must be ..." says it twice
    assert bridge.target.expect("/musicgen/error") == [about, text]  # the targets see it too
    assert bridge.client.ping() == []  # nothing else came back, and it still answers
    assert bridge.daemon.state.snapshot() == before


@pytest.mark.parametrize("packet", [b"garbage", b"/musicgen/ping", b"/a\x00\x00,q\x00\x00",
                                    b"#bundle\x00\x01"])
def test_malformed_packets_get_an_error_and_the_server_goes_on(bridge, packet):
    bridge.client.raw(packet)
    about, reason = bridge.client.expect("/musicgen/error")
    assert about == "packet" and reason
    assert bridge.client.ping() == []


def test_a_bundle_is_dispatched_in_order(bridge):
    elements = [encode("/musicgen/tempo", "f", 100.0), encode("/musicgen/bars", "i", 2),
                encode("/musicgen/tempo", "f", 101.0), encode("/musicgen/ping")]
    body = b"".join(struct.pack(">i", len(e)) + e for e in elements)
    bridge.client.raw(b"#bundle\x00" + b"\x00" * 7 + b"\x01" + body)
    assert bridge.client.until("/musicgen/pong") == [
        ("/musicgen/tempo", [100.0]), ("/musicgen/bars", [2]), ("/musicgen/tempo", [101.0]),
        ("/musicgen/pong", [])]
    assert bridge.daemon.state.get("bpm") == 101.0


def test_state_dump_lists_every_setting_then_the_status(bridge):
    bridge.client.send("/musicgen/meter", "ii", 3, 4)
    bridge.client.expect("/musicgen/meter")
    bridge.target.expect("/musicgen/meter")
    bridge.client.send("/musicgen/state")
    dump = dict((a, v) for a, v in bridge.client.until("/musicgen/status"))
    assert dump["/musicgen/meter"] == [3, 4]
    assert dump["/musicgen/seed"] == [-1]
    assert dump["/musicgen/status"] == ["idle"]
    settings = {a.address for a in INPUTS if a.reply.endswith("(value applied, after clamping)")
                and "/knob/" not in a.address}
    assert settings <= set(dump)
    assert bridge.target.quiet(0.1) == []  # a query, not a change: the targets are not told


def test_changes_from_other_inputs_are_echoed_to_targets_and_clients(bridge):
    listener = bridge.peer()
    listener.send("/musicgen/client", "si", "touchosc", listener.port)
    assert listener.expect("/musicgen/client") == ["touchosc", listener.port]
    bridge.daemon.state.set("cfg", 5.5, source="midi")  # a MIDI knob
    assert bridge.target.expect("/musicgen/cfg") == [5.5]
    assert listener.expect("/musicgen/cfg") == [5.5]
    assert bridge.client.quiet(0.1) == []  # not registered, did not ask: not told


def test_a_registered_client_gets_replies_on_its_own_port(bridge):
    # Max: [udpsend] sends from an ephemeral port, [udpreceive 7400] listens elsewhere.
    listen = bridge.peer()
    bridge.client.send("/musicgen/client", "si", "max-device", listen.port)
    assert listen.expect("/musicgen/client") == ["max-device", listen.port]
    bridge.client.send("/musicgen/ping")
    listen.expect("/musicgen/pong")
    bridge.client.send("/musicgen/tempo", "f", 97.0)
    assert listen.expect("/musicgen/tempo") == [97.0]
    bridge.client.send("/musicgen/client", "si", "", listen.port)
    about, reason = bridge.client.expect("/musicgen/error")
    assert about == "/musicgen/client" and "client id must be 1..128 characters" in reason


def test_reaper_tempo_is_followed_and_its_surface_chatter_ignored(bridge):
    reaper = bridge.peer()
    changes = []
    bridge.daemon.bus.subscribe(lambda e: changes.append(e) if isinstance(e, StateChanged)
                                else None)
    for address, types, args in [("/play", "f", (1.0,)), ("/stop", "f", (0.0,)),
                                 ("/time", "f", (12.3,)), ("/beat/str", "s", ("4.1.00",)),
                                 ("/track/1/volume", "f", (0.7,)), ("/tempo/str", "s", ("98",)),
                                 (REAPER_TEMPO, "f", (98.0,))]:
        reaper.send(address, types, *args)
    assert bridge.target.expect("/musicgen/tempo") == [98.0]
    assert changes == [StateChanged("bpm", 98.0, "reaper")]
    reaper.send(REAPER_TEMPO, "f", 900.0)  # REAPER allows up to 960
    about, reason = bridge.target.expect("/musicgen/error")
    assert about == REAPER_TEMPO and "REAPER's tempo 900 BPM is not followed" in reason
    assert reaper.ping() == []  # no echo, no error, nothing but the pong went back to REAPER
    assert bridge.daemon.state.get("bpm") == 98.0


def test_every_input_address_has_a_handler(bridge):
    dispatcher: Dispatcher = bridge.service.dispatcher
    assert dispatcher.missing() == []
    with pytest.raises(ValueError, match="not an input address in the OSC address table"):
        dispatcher.register("/musicgen/nope", lambda call: None)
    with pytest.raises(ValueError, match="already has a handler"):
        dispatcher.register("/musicgen/ping", lambda call: None)


def test_sender_gate_obeys_loopback_and_the_allow_list():
    assert SenderGate("127.0.0.1", []).obeys("192.168.1.9")  # only this machine can reach it
    gate = SenderGate("0.0.0.0", ["192.168.1.0/24", "10.0.0.7", "localhost"])
    assert gate.obeys("127.0.0.1") and gate.obeys("::1")
    assert gate.obeys("192.168.1.200") and gate.obeys("10.0.0.7")
    assert not gate.obeys("10.0.0.8")
    assert not gate.obeys("192.168.2.1")
    assert not SenderGate("0.0.0.0", []).obeys("10.0.0.8")


def test_a_taken_port_is_reported_with_the_fix(bridge, make_bridge):
    with pytest.raises(OSError, match=f"cannot listen for OSC on 127.0.0.1:{bridge.port}.*"
                                      "--osc-port"):
        make_bridge(overrides={"osc": {"port": bridge.port}})


def test_tempo_from_osc_obeys_the_tempo_source_rule(make_bridge):
    bridge = make_bridge(overrides={"midi": {"tempo_source": "manual"}})
    assert bridge.daemon.tempo.offer(100.0, "cli") == 100.0  # the user set it by hand
    bridge.client.send("/musicgen/tempo", "f", 90.0)
    about, reason = bridge.client.expect("/musicgen/error")
    assert about == "/musicgen/tempo"
    assert reason.startswith("tempo 90 not applied: [midi] tempo_source = 'manual'")
    reaper = bridge.peer()
    reaper.send(REAPER_TEMPO, "f", 95.0)
    assert reaper.ping() == []
    bridge.client.send("/musicgen/bars", "i", 3)  # other settings are not arbitrated
    assert bridge.target.until("/musicgen/bars")[-1] == ("/musicgen/bars", [3])
    assert bridge.daemon.state.get("bpm") == 100.0


def test_a_midi_learn_result_reaches_the_feedback_targets(bridge):
    bridge.daemon.bus.publish(Learned("cfg", 2, 74, "relative_twos"))
    assert bridge.target.expect("/musicgen/learned") == ["cfg", 2, 74]

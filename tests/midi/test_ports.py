"""Port finding and keeping, step by step. A scripted backend stands in for mido's here so
each step (port missing, appearing, vanishing, the MIDI system failing) is exact and instant;
the JACK tests do the same with real ports and processes."""

from __future__ import annotations

import logging

import mido
import pytest

from bridge.midi.ports import (
    LOOPMIDI_HINT,
    MAX_RETRY_S,
    VIRTUAL_NAME,
    InputPorts,
    OutputPort,
    load_backend,
    match_port,
)


class FakePort:
    def __init__(self, name: str, callback=None) -> None:
        self.name, self.callback, self.closed, self.sent = name, callback, False, []

    def close(self) -> None:
        self.closed = True

    def send(self, msg) -> None:
        if self.closed:
            raise OSError("port closed")
        self.sent.append(msg)


class FakeBackend:
    name = "tests.fake"

    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.broken: Exception | None = None  # the MIDI system itself fails
        self.opened: list[FakePort] = []
        self.virtual_ok = True

    def get_input_names(self):
        if self.broken:
            raise self.broken
        return list(self.inputs)

    def get_output_names(self):
        if self.broken:
            raise self.broken
        return list(self.outputs)

    def open_input(self, name, virtual=False, callback=None, **kwargs):
        if virtual and not self.virtual_ok:
            raise NotImplementedError("virtual ports are not supported")
        if not virtual and name not in self.inputs:
            raise OSError(f"unknown port {name!r}")
        port = FakePort(name, callback)
        self.opened.append(port)
        return port

    def open_output(self, name):
        port = FakePort(name)
        self.opened.append(port)
        return port


def test_match_port_exact_then_case_insensitive_substring():
    names = ["nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0", "Launchkey MK3:Launchkey MIDI 24:0",
             "Launchkey MK3:Launchkey DAW 24:1"]
    assert match_port("Launchkey MK3:Launchkey DAW 24:1", names) == names[2]
    assert match_port("nanokontrol", names) == names[0]
    assert match_port("launchkey", names) == names[1]
    assert match_port("launchkey", names, taken=[names[1]]) == names[2]
    assert match_port("absent", names) is None


def test_a_missing_input_is_opened_when_it_appears_and_reopened_after_unplugging(caplog):
    backend = FakeBackend()
    received = []
    ports = InputPorts(backend, ["nano"], lambda port, msg: received.append((port, msg)))
    with caplog.at_level(logging.WARNING):
        ports.reconcile()
        ports.reconcile()
    assert ports.names == []
    assert caplog.text.count("MIDI input 'nano' not found") == 1  # said once, not per retry
    backend.inputs = ["nanoKONTROL2 20:0"]
    ports.reconcile()
    assert ports.names == ["nanoKONTROL2 20:0"]
    backend.opened[-1].callback(mido.Message("note_on"))
    assert received == [("nanoKONTROL2 20:0", mido.Message("note_on"))]
    backend.inputs = []  # unplugged
    ports.reconcile()
    assert ports.names == [] and backend.opened[-1].closed
    backend.inputs = ["nanoKONTROL2 24:0"]  # back, on another ALSA client number
    ports.reconcile()
    assert ports.names == ["nanoKONTROL2 24:0"]
    ports.stop()
    assert all(p.closed for p in backend.opened)


def test_several_inputs_each_get_their_own_port():
    backend = FakeBackend()
    backend.inputs = ["Pads A", "Pads B", "Keys"]
    ports = InputPorts(backend, ["pads", "pads", "keys"], lambda *a: None)
    ports.reconcile()
    assert ports.names == ["Pads A", "Pads B", "Keys"]
    ports.stop()


def test_no_names_means_the_virtual_port():
    backend = FakeBackend()
    ports = InputPorts(backend, [], lambda *a: None)
    ports.reconcile()
    assert ports.names == [VIRTUAL_NAME]
    ports.stop()


def test_windows_gets_the_loopmidi_fix(caplog):
    backend = FakeBackend()
    ports = InputPorts(backend, [], lambda *a: None, platform="win32")
    with caplog.at_level(logging.WARNING):
        ports.start()
    assert ports.names == [] and backend.opened == []
    assert "install loopMIDI" in caplog.text and LOOPMIDI_HINT in caplog.text
    ports.stop()


def test_no_midi_system_backs_off_and_says_how_to_fix_it(caplog):
    backend = FakeBackend()
    backend.broken = OSError("MidiInAlsa::initialize: error creating ALSA sequencer client")
    ports = InputPorts(backend, ["nano"], lambda *a: None, retry_s=2.0)
    with caplog.at_level(logging.WARNING):
        for _ in range(6):
            ports.reconcile()
    assert ports._delay == MAX_RETRY_S
    assert caplog.text.count("cannot list MIDI inputs") == 1
    assert 'backend = "mido.backends.rtmidi/UNIX_JACK"' in caplog.text
    backend.broken = None
    backend.inputs = ["nano"]
    ports.reconcile()
    assert ports._delay == 2.0 and ports.names == ["nano"]
    ports.stop()


def test_a_virtual_port_the_backend_cannot_make_is_reported(caplog):
    backend = FakeBackend()
    backend.virtual_ok = False
    ports = InputPorts(backend, [], lambda *a: None)
    with caplog.at_level(logging.WARNING):
        ports.reconcile()
    assert "cannot create the virtual MIDI input 'MusicGen Bridge'" in caplog.text
    assert "name a port in [midi] inputs" in caplog.text
    ports.stop()


def test_output_port_opens_late_reopens_and_send_never_raises():
    backend = FakeBackend()
    now = [0.0]
    out = OutputPort(backend, "led", retry_s=1.0, now=lambda: now[0])
    assert out.check() is False and not out.send(mido.Message("control_change"))
    backend.outputs = ["LED Ring"]
    assert out.check() is False  # checked at most once per retry_s
    now[0] = 1.0
    assert out.check() is True and out.send(mido.Message("control_change"))
    backend.opened[-1].closed = True  # the device broke: send fails, port dropped
    assert not out.send(mido.Message("control_change")) and not out.is_open
    assert out.check() is True  # reopened at once after a failure
    backend.outputs = []
    now[0] = 5.0
    assert out.check() is False and not out.is_open  # vanished


def test_an_unknown_backend_is_refused_with_the_fix():
    with pytest.raises(OSError, match=r"MIDI backend 'mido.backends.nonesuch' cannot be loaded"):
        load_backend("mido.backends.nonesuch")


def test_mido_backend_env_is_followed(monkeypatch):
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")
    backend = load_backend("")
    assert (backend.name, backend.api) == ("mido.backends.rtmidi", "UNIX_JACK")
    assert load_backend("mido.backends.rtmidi").api is None  # the config wins

"""End to end through a real MIDI stack: a JACK server, senders in other processes
(python-rtmidi's JACK API, and jack_midiseq from jackd2), the daemon's ports on mido's rtmidi
backend (UNIX_JACK)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import mido
import pytest

from bridge.cli import main
from bridge.config import load
from bridge.events import DONE, QUEUED, ErrorReport, JobEvent
from bridge.midi.learn import ConfigFile
from bridge.midi.mapping import parse_mappings
from bridge.midi.ports import VIRTUAL_NAME, load_backend
from bridge.midi.service import create
from bridge.session.state import StateChanged
from tests.midi.conftest import JACK_BACKEND, WAIT_S, wait_until
from tests.support import make_daemon

pytestmark = pytest.mark.slow


def cc_sweep_reaches(recorder, param: str, value: float) -> None:
    wait_until(lambda: any(e.value == value for e in recorder.of(StateChanged, name=param)),
               what=f"{param} = {value}")


def test_a_knob_on_another_process_changes_a_param(jack_midi, make_sender, daemon, recorder):
    service = jack_midi()  # no inputs named: the virtual port
    assert service.ports.names == [VIRTUAL_NAME]
    sender = make_sender()
    sender(f"connect {VIRTUAL_NAME}")
    sender("sweep 3 24 0 127")  # channel 3, CC 24 (cfg): passes 3.0, picked up, ends at top
    cc_sweep_reaches(recorder, "cfg", 15.0)
    assert {e.source for e in recorder.of(StateChanged, name="cfg")} == {"midi"}


def test_a_pad_makes_a_clip_appear_in_the_output_folder(jack_midi, make_sender, daemon,
                                                         recorder):
    daemon.queue.start()
    jack_midi()
    sender = make_sender()
    sender(f"connect {VIRTUAL_NAME}")
    sender("send 153 36 100")  # note on, channel 10, note 36: generate
    sender("send 153 36 0")  # its note-off as velocity 0: nothing more
    done = recorder.wait(JobEvent, kind=DONE, timeout=60)
    clip = Path(done.clips[0].path)
    assert clip.parent == daemon.out_dir and clip.exists() and clip.stat().st_size > 1000
    assert len(recorder.of(JobEvent, kind=QUEUED)) == 1


def test_jack_midiseq_is_found_by_name_once_it_appears(jack_midi, jack_server, daemon,
                                                       recorder):
    """jack_midiseq, written outside this project, as the controller: the daemon's input names
    it by substring before it exists, and opens it when it appears."""
    service = jack_midi(inputs=("MGB-Seq",))
    assert service.ports.names == []  # missing at start: retried in the background
    # A 60 s loop with note 36 (generate) half a second in, held for 1000 samples.
    seq = subprocess.Popen(["jack_midiseq", "mgb-seq", str(48000 * 60), "24000", "36", "1000"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: service.ports.names == ["mgb-seq:out"], what="mgb-seq:out opened")
        queued = recorder.wait(JobEvent, kind=QUEUED)
        assert queued.request.prompt == "dusty funk drums"
    finally:
        seq.terminate()
        seq.wait(5)
    wait_until(lambda: service.ports.names == [], what="the vanished port to be closed")


def test_an_unplugged_controller_is_reopened_when_it_returns(jack_midi, make_sender, daemon,
                                                            recorder):
    service = jack_midi(inputs=("fake ctl",))  # case-insensitive substring of "Fake Ctl:..."
    first = make_sender()
    first("virtual Fake Ctl")
    wait_until(lambda: service.ports.names, what="the controller to be opened")
    first("sweep 1 22 0 127")
    cc_sweep_reaches(recorder, "top_p", 1.0)
    first.close()  # unplugged
    wait_until(lambda: not service.ports.names, what="the controller to be closed")
    second = make_sender()
    second("virtual Fake Ctl")  # plugged back in
    wait_until(lambda: service.ports.names, what="the controller to be reopened")
    second("sweep 1 22 127 0")
    cc_sweep_reaches(recorder, "top_p", 0.0)


def test_floods_and_garbage_from_another_process_are_survived(jack_midi, make_sender,
                                                             daemon, recorder):
    service = jack_midi()
    sender = make_sender()
    sender(f"connect {VIRTUAL_NAME}")
    # Not MIDI a controller should send, but a broken one (or a cable) can.
    for garbage in ("22 127", "176 22", "247", "176 200 5", "144 60", "255", "241 3",
                    "176 123 0"):
        sender(f"send {garbage}")
    sender("flood 2000 1024")  # 2 MB of sysex, as fast as JACK takes it
    latencies = []
    for i in range(10):
        start = time.perf_counter()
        daemon.state.set("prompt", f"still here {i}", source="osc")
        latencies.append(time.perf_counter() - start)
    sender("sweep 1 23 0 127")
    cc_sweep_reaches(recorder, "temperature", 4.0)
    assert max(latencies) < 0.5
    assert service.dropped == 0  # sysex never reached the queue: rtmidi dropped it
    assert recorder.of(ErrorReport) == []


def test_feedback_shows_changes_from_elsewhere_on_the_controller(jack_midi, jack_server,
                                                                  daemon):
    received: list[mido.Message] = []
    backend = load_backend(JACK_BACKEND)
    sink = backend.open_input("LED Ring", virtual=True, client_name="LED Ring",
                              callback=received.append)
    try:
        service = jack_midi(output="led ring")
        # On (re)connect every mapped value is shown: CC 21-24 on channel 1.
        wait_until(lambda: {m.control for m in received} >= {21, 22, 23, 24},
                   what="the first full refresh")
        received.clear()
        daemon.state.set("cfg", 8.0, source="osc")  # 8 on 1..15: the middle
        wait_until(lambda: received, what="cfg feedback")
        assert received[-1] == mido.Message("control_change", channel=0, control=24, value=64)
        received.clear()
        daemon.state.set("cfg", 9.0, source="midi")  # the knob's own move: not echoed
        daemon.state.set("top_p", 1.0, source="osc")
        wait_until(lambda: received, what="top_p feedback")
        assert [(m.control, m.value) for m in received] == [(22, 127)]
        assert service.feedback.sent >= 6
    finally:
        sink.close()


def test_create_opens_the_virtual_port_with_the_configured_backend(jack_server, tmp_path,
                                                                   tiny_engine):
    daemon = make_daemon(tmp_path / "x", tiny_engine,
                         {"midi": {"enabled": True, "backend": JACK_BACKEND}})
    service = create(daemon, daemon.config.midi, ConfigFile(tmp_path / "c.toml", load))
    daemon.add_service(service)
    daemon.start()
    try:
        backend = load_backend(JACK_BACKEND)
        assert f"{VIRTUAL_NAME}:{VIRTUAL_NAME}" in backend.get_output_names()
    finally:
        daemon.stop()


def run_cli(*argv: str, config: Path) -> int:
    """`musicgen-bridge midi ...` through the real command line."""
    return main(["midi", *argv, "--config", str(config)])


def test_cli_ports_lists_jack_ports(make_sender, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(f'[midi]\nbackend = "{JACK_BACKEND}"\ninputs = ["fake", "absent"]\n')
    sender = make_sender()
    sender("virtual Fake Ctl")
    assert run_cli("ports", config=config) == 0
    out = capsys.readouterr().out
    assert f"backend: {JACK_BACKEND}" in out and "  Fake Ctl:Fake Ctl" in out
    assert "[midi] inputs 'fake': Fake Ctl:Fake Ctl" in out
    assert "[midi] inputs 'absent': NOT FOUND" in out


def test_cli_learn_binds_and_saves_with_comments(make_sender, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(f'# studio\n[midi]\nbackend = "{JACK_BACKEND}"  # JACK here\n')
    sender = make_sender()
    sender("virtual Fake Ctl")
    status: list[int] = []
    learn = threading.Thread(target=lambda: status.append(
        run_cli("learn", "temperature", "--port", "fake ctl", "--timeout", "10",
                config=config)))
    learn.start()
    wait_until(lambda: "Move the control" in capsys.readouterr().out or status,
               what="learn to listen")
    sender("send 178 30 1")  # channel 3, CC 30: an encoder, two's complement, clockwise
    sender("send 178 30 1")
    sender("send 178 30 127")
    learn.join(WAIT_S)
    assert status == [0]
    text = config.read_text()
    assert text.startswith('# studio\n[midi]\nbackend = "mido.backends.rtmidi/UNIX_JACK"  # JACK')
    binding = [b for b in parse_mappings(load(config).midi.mappings) if b.param == "temperature"]
    assert binding[0].channel == 2 and binding[0].cc == 30 and binding[0].mode == "relative-twos"

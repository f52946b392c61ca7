"""What MIDI messages do to a real daemon (tiny model; its job queue is not started, so
generate triggers leave queued jobs to look at)."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from bridge.config import load
from bridge.events import QUEUED, ErrorReport, JobEvent, Learned
from bridge.midi.clock import PPQN
from bridge.midi.controller import Controller
from bridge.midi.events import LearnFailed, Transport
from bridge.midi.learn import ConfigFile
from bridge.midi.mapping import parse_mappings
from bridge.midi.settings import MidiSettings
from bridge.params import PARAMS
from bridge.session.state import StateChanged
from bridge.session.tempo_source import TempoArbiter

CC = "control_change"


@pytest.fixture
def make_controller(daemon, user_config):
    made: list[Controller] = []

    def make(policy: str = "auto", **settings) -> Controller:
        c = Controller(daemon, MidiSettings(**settings),
                       tempo=TempoArbiter(daemon.state, policy), config_file=ConfigFile(user_config, load),
                       learn_timeout_s=5.0)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def feed(controller: Controller, messages, t0: float = 0.0, dt: float = 0.001) -> None:
    for i, msg in enumerate(messages):
        controller.handle(msg, t0 + i * dt)


def test_default_knobs_move_params_with_soft_takeover(make_controller, daemon, recorder):
    c = make_controller()
    feed(c, [mido.Message(CC, channel=3, control=24, value=0)])  # far from cfg 3.0: waits
    assert daemon.state.get("cfg") == 3.0
    feed(c, [mido.Message(CC, channel=3, control=24, value=v) for v in [*range(0, 128, 4), 127]])
    assert daemon.state.get("cfg") == 15.0
    changes = recorder.of(StateChanged, name="cfg")
    assert changes and {e.source for e in changes} == {"midi"}
    feed(c, [mido.Message(CC, channel=0, control=21, value=127)])  # top_k: not picked up yet
    assert daemon.state.get("top_k") == 250


def test_unmapped_controls_channels_and_mode_messages_change_nothing(make_controller, daemon,
                                                                     recorder):
    c = make_controller(bindings=parse_mappings({"cfg": {"cc": 24, "channel": 2,
                                                         "takeover": "jump"}}))
    feed(c, [mido.Message(CC, channel=0, control=24, value=0),  # wrong channel
             mido.Message(CC, channel=1, control=25, value=0),  # unmapped cc
             mido.Message(CC, channel=1, control=123, value=0),  # all notes off
             mido.Message("pitchwheel", pitch=8000),
             mido.Message("aftertouch", value=3),
             mido.Message("sysex", data=[1, 2, 3]),
             mido.Message("quarter_frame", frame_type=1, frame_value=2)])
    assert recorder.of(StateChanged) == []
    feed(c, [mido.Message(CC, channel=1, control=24, value=0)])
    assert daemon.state.get("cfg") == 1.0


def test_running_status_data_without_a_status_byte_is_dropped_not_misread(make_controller,
                                                                          daemon):
    """Drivers (ALSA, JACK, CoreMIDI, WinMM) hand over complete messages; bytes that arrive
    without their status byte anyway are dropped by mido's parser, never applied wrongly."""
    c = make_controller(bindings=parse_mappings({"top_p": {"cc": 22, "takeover": "jump"}}))
    parser = mido.Parser()
    parser.feed(bytes([0xB0, 22, 10, 22, 127, 0xF8]))  # CC, then data-only bytes, a clock
    messages = list(parser)
    assert [m.type for m in messages] == ["control_change", "clock"]
    feed(c, messages)
    assert daemon.state.get("top_p") == PARAMS["top_p"].from_knob(10 / 127)
    with pytest.raises(ValueError):
        mido.Message.from_bytes([22, 127])  # what mido's rtmidi callback drops for us


def test_pads_generate_cancel_and_vary(make_controller, daemon, recorder):
    c = make_controller()
    feed(c, [mido.Message("note_on", note=36, velocity=100),
             mido.Message("note_on", note=36, velocity=0)])  # its note-off: nothing
    queued = recorder.of(JobEvent, kind=QUEUED)
    assert len(queued) == 1 and queued[0].request.prompt == "dusty funk drums"
    daemon.state.set("variations", 3, source="osc")
    feed(c, [mido.Message("note_on", channel=9, note=38, velocity=1)])
    varied = recorder.of(JobEvent, kind=QUEUED)[-1].request
    assert varied.parent_job == queued[0].job_id and varied.variations == 3
    assert varied.seed is None
    feed(c, [mido.Message("note_on", note=37, velocity=64)])  # nothing running: no-op
    assert len(recorder.of(JobEvent, kind=QUEUED)) == 2


def test_a_refused_generate_is_reported_not_raised(make_controller, daemon, recorder):
    c = make_controller()
    daemon.state.set("prompt", "", source="osc")
    feed(c, [mido.Message("note_on", note=36, velocity=100)])
    error = recorder.wait(ErrorReport)
    assert error.about == "midi generate" and "prompt is empty" in error.reason
    assert recorder.of(JobEvent) == []


def test_program_change_selects_a_preset_prompt(make_controller, daemon, recorder):
    c = make_controller(presets=("dusty funk drums", "ambient pad, slow"))
    feed(c, [mido.Message("program_change", program=1)])
    assert daemon.state.get("prompt") == "ambient pad, slow"
    assert recorder.of(StateChanged, name="prompt")[-1].source == "midi"
    feed(c, [mido.Message("program_change", program=5)])  # no such preset: logged only
    assert daemon.state.get("prompt") == "ambient pad, slow"


def clock_messages(bpm: float, ticks: int, t0: float = 10.0):
    return [(mido.Message("clock"), t0 + i * 60.0 / (bpm * PPQN)) for i in range(ticks)]


def test_clock_sets_the_tempo_and_transport_is_published(make_controller, daemon, recorder):
    c = make_controller()
    for msg, t in [(mido.Message("songpos", pos=32), 9.0), (mido.Message("continue"), 9.5),
                   *clock_messages(100.0, 3 * PPQN), (mido.Message("stop"), 20.0)]:
        c.handle(msg, t)
    assert daemon.state.get("bpm") == 100.0
    assert recorder.of(StateChanged, name="bpm")[-1].source == "clock"
    transports = recorder.of(Transport)
    assert transports[0] == Transport(False, 8.0, False)  # SPP 32 sixteenths = 8 beats
    assert transports[-1] == Transport(False, 8.0 + 3, True)  # 3 beats played


def test_clock_loses_to_osc_when_tempo_source_is_osc(make_controller, daemon):
    c = make_controller(policy="osc")
    c._tempo.offer(87.0, "osc")
    for msg, t in clock_messages(100.0, 3 * PPQN):
        c.handle(msg, t)
    assert daemon.state.get("bpm") == 87.0


def test_learn_binds_saves_and_publishes(make_controller, daemon, recorder, user_config):
    user_config.write_text("# mine\n[osc]\nport = 9100\n")
    c = make_controller()
    c.start_learn("cfg", now=0.0)
    # The control being learned changes nothing meanwhile (CC 21 is top_k's default knob).
    feed(c, [mido.Message(CC, channel=4, control=21, value=v) for v in (60, 61, 62, 63)],
         t0=1.0)
    c.poll(1.2)
    assert recorder.of(Learned) == []  # the learn window is still open
    c.poll(1.7)
    assert recorder.wait(Learned) == Learned("cfg", 5, 21, "absolute")
    assert recorder.of(StateChanged) == []
    config = load(user_config)
    assert config.osc.port == 9100 and user_config.read_text().startswith("# mine\n")
    assert {b.param: (b.channel, b.cc) for b in parse_mappings(config.midi.mappings)}["cfg"] \
        == (4, 21)
    # Live at once: channel 5 CC 21 now drives cfg; other channels still drive top_k.
    feed(c, [mido.Message(CC, channel=4, control=21, value=v) for v in range(0, 128, 8)])
    assert daemon.state.get("cfg") != 3.0 and daemon.state.get("top_k") == 250


def test_learn_times_out_and_a_second_learn_replaces_the_first(make_controller, recorder):
    c = make_controller()
    c.start_learn("cfg", now=0.0)
    c.start_learn("top_p", now=1.0)
    assert recorder.of(LearnFailed)[0].param == "cfg"
    c.poll(5.9)
    assert not recorder.of(LearnFailed, param="top_p")
    c.poll(6.0)
    assert "no MIDI control moved within 5 s" in recorder.of(LearnFailed, param="top_p")[0].reason


def test_learn_with_an_unwritable_config_still_binds(make_controller, daemon, recorder,
                                                     user_config, tmp_path: Path):
    user_config.write_text("[midi\n")  # broken: saving must refuse, the binding still works
    c = make_controller()
    c.start_learn("temperature", now=0.0)
    feed(c, [mido.Message(CC, channel=0, control=70, value=v) for v in (1, 1, 1)], t0=0.1)
    c.poll(1.0)
    assert recorder.wait(Learned).mode == "relative-twos"
    assert user_config.read_text() == "[midi\n"
    assert c.bindings[-1].param == "temperature" and c.bindings[-1].cc == 70


def test_a_generate_the_engine_refuses_is_answered_with_its_reason(make_controller, daemon,
                                                                   recorder):
    c = make_controller()
    daemon.state.update({"bars": 100, "bpm": 60})  # 400 s: past [fit] max_seconds (120 s)
    feed(c, [mido.Message("note_on", note=36, velocity=100)])  # no exception out of handle
    [report] = recorder.of(ErrorReport)
    assert report.about == "midi generate" and "longer than the longest clip" in report.reason
    assert daemon.queue.jobs() == []

"""The MIDI service's threads and queue: floods, failures, learn, create() and the daemon's
start_learn().

No ports here (backend None): messages enter through ``receive``, the very callback mido
calls on the driver's thread. The JACK tests drive the same path through a real MIDI stack.
"""

from __future__ import annotations

import logging
import threading
import time

import mido
import pytest

from bridge.config import load
from bridge.events import QUEUED, JobEvent, Learned
from bridge.jobs.queue import QueueFull
from bridge.midi.learn import ConfigFile
from bridge.midi.service import QUEUE_SIZE, MidiService, coalesce, create
from bridge.midi.settings import MidiSettings
from bridge.session.state import StateChanged
from tests.midi.conftest import wait_until
from tests.support import make_daemon

CC = "control_change"


@pytest.fixture
def service(daemon, user_config):
    s = MidiService(daemon, MidiSettings(), backend=None, config_file=ConfigFile(user_config, load))
    daemon.add_service(s)
    yield s
    s.stop()


def test_sysex_and_other_unused_types_never_reach_the_queue(service, daemon):
    sysex = mido.Message("sysex", data=[0x55] * 256)
    bend = mido.Message("pitchwheel", pitch=100)
    start = time.perf_counter()
    for _ in range(50_000):
        service.receive("flood", sysex)
        service.receive("flood", bend)
    elapsed = time.perf_counter() - start
    assert service._queue.qsize() == 0 and service.dropped == 0
    assert elapsed < 2.0  # about a microsecond each: the driver thread is never held up


def test_a_flood_beyond_the_queue_is_dropped_and_the_last_value_still_lands(service, daemon,
                                                                            caplog):
    # Not started yet: the queue fills exactly like a handler that fell behind.
    flood = [mido.Message(CC, control=24, value=v % 128) for v in range(5000)]
    for msg in flood:
        service.receive("ctl", msg)
    assert service._queue.qsize() == QUEUE_SIZE and service.dropped == 5000 - QUEUE_SIZE
    daemon.state.set("cfg", 1.0, source="osc")  # so the sweep picks it up at once
    with caplog.at_level(logging.WARNING, logger="bridge.midi.service"):
        service.start()
        wait_until(lambda: service._queue.qsize() == 0, what="the queue to drain")
        service.receive("ctl", mido.Message(CC, control=24, value=127))
        wait_until(lambda: daemon.state.get("cfg") == 15.0, what="the final value")
    assert "MIDI input flood: 2952 messages dropped" in caplog.text


def test_a_flood_does_not_starve_other_threads(service, daemon, recorder):
    """While a driver thread floods, the OSC server's kind of work (state changes, job
    submissions from another thread) still gets through: all of it finishes while the flood
    is still going (a starved thread would only finish once the flood stops)."""
    service.start()
    stop = threading.Event()

    def flood() -> None:
        msgs = [mido.Message(CC, control=21 + i % 4, value=i % 128) for i in range(512)]
        sysex = mido.Message("sysex", data=[1] * 512)
        while not stop.is_set():
            for msg in msgs:
                service.receive("flood", msg)
                service.receive("flood", sysex)

    def other_work() -> None:
        for i in range(40):
            daemon.state.set("prompt", f"prompt {i}", source="osc")
            try:
                daemon.submit()
            except QueueFull:
                pass  # max_pending jobs wait (the queue is not started): the rest refused

    flooder = threading.Thread(target=flood, name="test-flood")
    worker = threading.Thread(target=other_work, name="test-other-work")
    flooder.start()
    try:
        time.sleep(0.2)
        worker.start()
        worker.join(60.0)  # a liveness bound for a loaded machine, not a latency figure
        finished_during_flood = not worker.is_alive() and flooder.is_alive()
    finally:
        stop.set()
        flooder.join()
        worker.join()
    assert finished_during_flood
    assert daemon.state.snapshot().prompt == "prompt 39"
    assert len(recorder.of(JobEvent, kind=QUEUED)) == 16  # max_pending; the rest refused


def test_a_failing_message_does_not_end_midi_input(service, daemon, monkeypatch, caplog):
    real = service.controller.handle

    def handle(msg, t):
        if msg.type == "program_change":
            raise RuntimeError("boom")
        real(msg, t)

    monkeypatch.setattr(service.controller, "handle", handle)
    daemon.state.set("top_p", 0.5, source="osc")
    service.start()
    service.receive("ctl", mido.Message("program_change", program=1))
    service.receive("ctl", mido.Message(CC, control=22, value=64))  # picks 0.5 up
    wait_until(lambda: daemon.state.get("top_p") == pytest.approx(64 / 127),
               what="top_p after the failure")
    assert "MIDI: handling" in caplog.text and "RuntimeError: boom" in caplog.text


def test_start_learn_through_the_daemon(service, daemon, recorder, user_config):
    service.start()
    daemon.start_learn("top_p")
    wait_until(lambda: service.controller.learning, what="learn to start")
    for v in (65, 65, 65, 63):
        service.receive("ctl", mido.Message(CC, channel=15, control=90, value=v))
    assert recorder.wait(Learned, timeout=5) == Learned("top_p", 16, 90, "relative-offset")
    assert "top_p = {channel = 16, cc = 90" in user_config.read_text()
    assert recorder.of(StateChanged) == []


def test_start_learn_refuses_with_the_fix(daemon):
    with pytest.raises(ValueError, match="cannot learn 'bpm': not a knob parameter"):
        daemon.start_learn("bpm")
    with pytest.raises(ValueError, match=r"MIDI learn needs MIDI input, which is off: set "
                                         r"\[midi\] enabled = true"):
        daemon.start_learn("cfg")


def test_create_follows_the_config(tmp_path, tiny_engine, caplog, user_config):
    off = make_daemon(tmp_path / "a", tiny_engine)  # tests.support turns MIDI off
    assert create(off, off.config.midi, ConfigFile(user_config, load)) is None
    bad = make_daemon(tmp_path / "b", tiny_engine,
                      {"midi": {"enabled": True, "backend": "mido.backends.nonesuch"}})
    with caplog.at_level(logging.ERROR):
        assert create(bad, bad.config.midi, ConfigFile(user_config, load)) is None
    assert "MIDI off: MIDI backend 'mido.backends.nonesuch' cannot be loaded" in caplog.text
    assert 'set [midi] backend (e.g. "mido.backends.rtmidi"' in caplog.text
    good = make_daemon(tmp_path / "c", tiny_engine,
                       {"midi": {"enabled": True, "presets": ["a"], "output": "x"}})
    service = create(good, good.config.midi, ConfigFile(user_config, load))
    assert isinstance(service, MidiService) and service.settings.presets == ("a",)
    assert service.feedback is not None
    service.controller.close()


def test_stop_ends_the_handler_and_learn_and_a_second_stop_is_harmless(service, daemon,
                                                                        caplog):
    before = set(threading.enumerate())
    service.start()
    daemon.start_learn("cfg")  # offered by the running service: accepted
    service.stop()
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []
    # What a user sees after MIDI stopped: learn says MIDI is off, not that it timed out.
    with pytest.raises(ValueError, match="MIDI learn needs MIDI input, which is off"):
        daemon.start_learn("cfg")
    with caplog.at_level(logging.WARNING):
        service.stop()
    assert caplog.records == []


def test_coalesce_keeps_the_last_of_each_key_in_order():
    items = ["a1", "b1", "x", "a2", "y", "b2", "a3"]
    key = {"a": "a", "b": "b"}.get
    assert coalesce(items, lambda s: key(s[0])) == ["x", "y", "b2", "a3"]
    assert coalesce([], lambda s: s) == []

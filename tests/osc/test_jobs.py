"""Jobs over OSC, on the real tiny model: generate to a clip file, knobs during a job, cancel,
routing to clients, and a burst of knob moves."""

from __future__ import annotations

import struct

import pytest
import soundfile

from bridge.musical_time import Meter, clip_samples
from bridge.osc.coerce import shortest_float32
from bridge.params import PARAMS
from tests.osc.osc_helpers import GatedEngine


def test_a_whole_generation_over_osc_ends_in_a_complete_clip_file(bridge):
    c = bridge.client
    for address, types, args in [("/musicgen/prompt", "s", ("dusty funk drums",)),
                                 ("/musicgen/tempo", "f", (96.0,)),
                                 ("/musicgen/meter", "ii", (6, 8)),
                                 ("/musicgen/bars", "i", (2,)),
                                 ("/musicgen/seed", "i", (7,)),
                                 ("/musicgen/position", "f", (24.0,))]:
        c.send(address, types, *args)
    c.send("/musicgen/generate")
    seen = c.until("/musicgen/clip", timeout=60)
    (job,) = next(args for address, args in seen if address == "/musicgen/queued")
    progress = [args[1] for address, args in seen if address == "/musicgen/progress"]
    # One message per 5 % band: 0, one in each of the 19 bands between, 1.0.
    assert progress[0] == 0.0 and progress[-1] == 1.0
    bands = [int(p * 20 + 1e-6) for p in progress]
    assert bands == sorted(set(bands)) and len(progress) == 21
    clip_job, path, position, duration = seen[-1][1]
    assert clip_job == job and position == 24.0
    rate = bridge.daemon.config.output.sample_rate
    frames = clip_samples(2, 96.0, Meter(6, 8), rate)
    info = soundfile.info(path)
    assert (info.frames, info.samplerate) == (frames, rate)
    assert duration == pytest.approx(frames / rate)
    # The target saw the same job, and the status went round to idle.
    target_seen = bridge.target.until("/musicgen/clip", timeout=10)
    assert ("/musicgen/queued", [job]) in target_seen
    statuses = [args[0] for address, args in target_seen if address == "/musicgen/status"]
    assert statuses[:2] == ["queued", "generating"] and "writing" in statuses
    assert bridge.target.expect("/musicgen/status") == ["idle"]


def test_knobs_turned_during_a_job_change_the_next_job_only(make_bridge, tiny_engine):
    engine = GatedEngine(tiny_engine)
    bridge = make_bridge(engine=engine)
    c = bridge.client
    c.send("/musicgen/prompt", "s", "first")
    c.send("/musicgen/top_k", "i", 100)
    c.send("/musicgen/temperature", "f", 0.5)
    c.send("/musicgen/bars", "i", 1)
    c.send("/musicgen/generate")
    assert engine.entered.acquire(timeout=10), "job 1 never reached the engine"
    # Job 1 is generating: everything sent now is for job 2.
    c.send("/musicgen/top_k", "i", 7)
    c.send("/musicgen/knob/temperature", "f", 1.0)
    c.send("/musicgen/prompt", "s", "second")
    c.expect("/musicgen/prompt")
    engine.release()
    assert c.expect("/musicgen/clip", timeout=30)[0] == 1
    c.send("/musicgen/generate")
    assert c.expect("/musicgen/clip", timeout=30)[0] == 2
    first, second = engine.specs
    assert (first.top_k, first.temperature) == (100, 0.5)
    assert first.text.startswith("first")
    assert (second.top_k, second.temperature) == (7, PARAMS["temperature"].maximum)
    assert second.text.startswith("second")


def test_cancel_stops_the_running_job_and_says_so(make_bridge, tiny_engine):
    engine = GatedEngine(tiny_engine)
    bridge = make_bridge(engine=engine)
    c = bridge.client
    c.send("/musicgen/prompt", "s", "to be cancelled")
    c.send("/musicgen/generate")
    assert engine.entered.acquire(timeout=10)
    c.send("/musicgen/cancel")
    assert bridge.target.until("/musicgen/status")[-1] == ("/musicgen/status", ["queued"])
    statuses = []
    while statuses[-1:] != ["idle"]:
        statuses.append(bridge.target.expect("/musicgen/status")[0])
    assert statuses == ["generating", "idle"]
    c.send("/musicgen/cancel")
    assert c.expect("/musicgen/error") == ["/musicgen/cancel", "no job is running"]
    c.send("/musicgen/cancel", "i", 99)
    assert c.expect("/musicgen/error") == ["/musicgen/cancel",
                                           "job 99 is neither queued nor running"]


def test_refused_triggers_name_the_reason(make_bridge):
    bridge = make_bridge(start_queue=False, overrides={"queue": {"max_pending": 1}})
    c = bridge.client
    c.send("/musicgen/generate")  # the default prompt is empty
    about, reason = c.expect("/musicgen/error")
    assert about == "/musicgen/generate" and reason.startswith("prompt is empty")
    c.send("/musicgen/generate", "s", "override")
    assert c.expect("/musicgen/queued") == [1]
    c.send("/musicgen/generate", "s", "one too many")
    assert c.expect("/musicgen/error") == ["/musicgen/generate", "queue is full (1 jobs "
                                           "waiting); wait for one to finish or cancel one"]
    c.send("/musicgen/continue", "s", "relative/take.wav")
    assert "absolute path" in c.expect("/musicgen/error")[1]
    c.send("/musicgen/continue", "s", "/nowhere/take.wav")
    assert c.expect("/musicgen/error")[1].startswith(
        "audio_prompt: '/nowhere/take.wav' is outside the folders audio is read from")


def test_a_jobs_feedback_goes_to_the_client_that_asked(make_bridge):
    bridge = make_bridge(start_queue=False)
    daemon = bridge.daemon
    daemon.state.set("prompt", "shared")
    max_in, other = bridge.peer(), bridge.peer()
    sender = bridge.peer()
    sender.send("/musicgen/client", "si", "max", max_in.port)
    max_in.expect("/musicgen/client")
    assert sender.expect("/musicgen/client") == ["max", max_in.port]
    sender.send("/musicgen/generate")
    assert max_in.expect("/musicgen/queued") == [1]
    assert sender.quiet(0.1) == []  # registered: its jobs report to the reply port
    other.send("/musicgen/generate", "s", "mine")
    assert other.expect("/musicgen/queued") == [2]  # unregistered: to where it sent from
    (first, second) = daemon.queue.jobs()
    assert first.request.client_id == "max"
    assert second.request.client_id == f"osc:127.0.0.1:{other.port}"
    assert second.request.prompt == "mine" and daemon.state.get("prompt") == "shared"
    assert [m for m in max_in.quiet(0.1) if m[0] == "/musicgen/queued"] == []
    other.send("/musicgen/vary", "i", 3)
    assert other.expect("/musicgen/queued") == [3]
    third = daemon.queue.jobs()[-1].request
    assert (third.prompt, third.variations, third.parent_job, third.seed) == ("mine", 3, 2, None)


def test_a_burst_of_knob_moves_ends_on_the_last_and_every_echo_is_right(bridge):
    spec = PARAMS["temperature"]
    positions = [((i * 7919) % 1000) / 999 for i in range(1000)]
    wire = [shortest_float32(struct.unpack(">f", struct.pack(">f", p))[0]) for p in positions]
    data = [bridge.client.sock.sendto(
        _knob(p), ("127.0.0.1", bridge.port)) for p in positions]
    assert len(data) == 1000
    echoes = [bridge.client.expect("/musicgen/temperature", timeout=10)[0] for _ in wire]
    expected = [spec.from_knob(p) for p in wire]
    assert echoes == [pytest.approx(e, rel=1e-6) for e in expected]
    target = [bridge.target.expect("/musicgen/temperature", timeout=10)[0] for _ in wire]
    assert target == echoes
    assert bridge.daemon.state.get("temperature") == expected[-1]


def _knob(position: float) -> bytes:
    from tests.osc.osc_helpers import encode

    return encode("/musicgen/knob/temperature", "f", position)


def test_the_first_status_counts_jobs_resumed_from_the_journal(make_bridge, tiny_engine,
                                                               tmp_path):
    journal = {"queue": {"journal": str(tmp_path / "shared-journal.jsonl")}}
    before = make_bridge(start_queue=False, overrides=journal)
    assert before.first_status == "idle"
    before.client.send("/musicgen/generate", "s", "left over")
    before.client.expect("/musicgen/queued")
    before.service.stop()
    before.daemon.queue.stop()  # the job stays in the journal
    engine = GatedEngine(tiny_engine)
    after = make_bridge(engine=engine, overrides=journal)
    assert after.first_status in ("queued", "generating")
    assert engine.entered.acquire(timeout=10)
    engine.release()
    assert after.target.expect("/musicgen/clip", timeout=30)[0] == 1


def test_each_retry_of_a_clip_that_cannot_be_locked_is_reported(bridge):
    # The job queue publishes a retry when the pipeline generates again (tests/jobs); here the
    # daemon's feedback must carry it to OSC with the job, the attempt and the reason.
    from bridge.events import RETRY, JobEvent
    from bridge.request import GenerationRequest

    bridge.client.send("/musicgen/retries", "i", 2)
    assert bridge.client.expect("/musicgen/retries") == [2]
    request = GenerationRequest(prompt="x", bpm=120, bars=1)
    bridge.daemon.bus.publish(JobEvent(RETRY, 9, request, error="variation 1: no clear beat",
                                       attempt=2))
    assert bridge.target.expect("/musicgen/retry") == [9, 2, "variation 1: no clear beat"]

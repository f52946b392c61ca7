"""Conditioning over OSC on the real tiny model: /musicgen/continue, /musicgen/vary, and the
negative prompt's guidance warning.

The continue and vary handlers (bridge.osc.handlers.conditioning) are served here by their own
dispatcher, fed real datagrams, with a real daemon and real UDP feedback; the warning test
goes through the whole OSC service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge.daemon import Daemon
from bridge.musical_time import Meter, clip_samples
from bridge.osc.dispatch import Dispatcher
from bridge.osc.feedback import OscFeedback
from bridge.osc.handlers import conditioning
from bridge.request import GenerationRequest
from tests.osc.osc_helpers import Peer, encode
from tests.support import make_daemon

CONTINUE, VARY = "/musicgen/continue", "/musicgen/vary"


@dataclass
class Surface:
    daemon: Daemon
    dispatcher: Dispatcher
    client: Peer  # sends the requests; errors come back to it
    target: Peer  # the feedback target: queued, clip and error messages

    def send(self, address: str, types: str = "", *args: object) -> None:
        self.dispatcher.handle_datagram(encode(address, types, *args),
                                        ("127.0.0.1", self.client.port))

    def error(self) -> list:
        return self.client.expect("/musicgen/error")


@pytest.fixture
def surface(no_thread_leaks: None, tmp_path: Path, tiny_engine) -> Iterator[Surface]:
    target, client = Peer(), Peer()
    daemon = make_daemon(tmp_path, tiny_engine, {"osc": {"feedback": [f"127.0.0.1:{target.port}"]}})
    daemon.state.update({"prompt": "dusty funk drums", "bars": 1, "seed": 5})
    feedback = OscFeedback(daemon.bus, daemon.config.osc.feedback)
    dispatcher = Dispatcher(feedback)
    conditioning.register(dispatcher, daemon, feedback)
    daemon.start()
    feedback.start()
    target.expect("/musicgen/status")
    try:
        yield Surface(daemon, dispatcher, client, target)
    finally:
        feedback.stop()
        daemon.stop()
        target.close()
        client.close()


def write_take(path: Path, seconds: float = 3.0, gain: float = 0.4) -> Path:
    t = np.arange(int(seconds * 44_100)) / 44_100
    sf.write(path, (gain * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44_100)
    return path


def clips_of(target: Peer, job: int, count: int) -> list[dict]:
    sidecars = []
    while len(sidecars) < count:
        clip_job, path, _, _ = target.expect("/musicgen/clip", timeout=60)
        if clip_job == job:
            sidecars.append(json.loads(Path(path).with_suffix(".json").read_text()))
    return sidecars


def test_continue_queues_the_file_as_audio_prompt_and_records_it(surface, tmp_path):
    take = write_take(tmp_path / "selection.wav")
    surface.daemon.state.update({"prompt_seconds": 1.0})
    surface.send(CONTINUE, "s", str(take))
    (job,) = surface.target.expect("/musicgen/queued")
    (sidecar,) = clips_of(surface.target, job, 1)
    assert sidecar["audio_prompt"] == str(take)
    assert (sidecar["prompt_start_s"], sidecar["prompt_end_s"]) == pytest.approx((2.0, 3.0))
    assert sidecar["frames"] == clip_samples(1, 120, Meter(4, 4), sidecar["sample_rate"])
    assert surface.daemon.last_submitted[1].audio_prompt == str(take)


@pytest.mark.parametrize("make, reason", [
    (lambda d: "selection.wav", "give the audio file's absolute path, got 'selection.wav'"),
    (lambda d: "  ", "give the audio file's absolute path, e.g."),
    (lambda d: str(d / "gone.wav"), "audio_prompt: no such file"),
    (lambda d: str(write_take(d / "silent.wav", gain=0.0)), "is silent (peak digital silence)"),
    (lambda d: str(write_take(d / "short.wav", seconds=0.2)), "lasts 0.20 s; it needs at least"),
])
def test_continue_refuses_a_file_it_cannot_use_with_the_reason(surface, tmp_path, make, reason):
    surface.send(CONTINUE, "s", make(tmp_path))
    about, text = surface.error()
    assert about == CONTINUE and reason in text
    assert surface.daemon.queue.jobs() == []


def test_vary_reruns_the_last_requests_conditioning_with_new_seeds(surface, tmp_path):
    take = write_take(tmp_path / "selection.wav")
    parent_request = surface.daemon.state.snapshot().with_changes(
        audio_prompt=str(take), prompt_seconds=1.0, negative_prompt="vocals", cfg=3.0)
    parent = surface.daemon.submit(parent_request)
    clips_of(surface.target, parent, 1)
    surface.send(VARY, "i", 3)
    (job,) = surface.target.expect("/musicgen/queued")
    sidecars = clips_of(surface.target, job, 3)
    assert sorted(s["variation"] for s in sidecars) == [1, 2, 3]
    for sidecar in sidecars:
        assert sidecar["parent_job"] == parent and sidecar["job_id"] == job
        assert sidecar["audio_prompt"] == str(take) and sidecar["negative_prompt"] == "vocals"
    varied = surface.daemon.last_submitted[1]
    assert varied.seed is None and varied.variations == 3  # one batched call, a new seed
    assert varied.with_changes(seed=5, variations=1, parent_job=None,
                               client_id="") == parent_request


def test_vary_without_a_count_keeps_the_variations_and_chains_parents(surface):
    first = surface.daemon.submit(surface.daemon.state.snapshot().with_changes(variations=2))
    surface.send(VARY)
    (second,) = [job for job in _queued(surface, 2) if job != first]
    request = surface.daemon.last_submitted[1]
    assert (request.variations, request.parent_job) == (2, first)
    surface.send(VARY, "i", 1)
    assert surface.daemon.last_submitted[1].parent_job == second


def _queued(surface: Surface, count: int) -> list[int]:
    return [surface.target.expect("/musicgen/queued")[0] for _ in range(count)]


def test_vary_refuses_with_nothing_to_vary_or_a_bad_count(surface):
    surface.send(VARY)
    assert surface.error() == [VARY, "nothing to vary yet: generate a clip first"]
    surface.daemon.submit()
    for count in (0, 9):
        surface.send(VARY, "i", count)
        assert surface.error() == [VARY, f"count must be 1..8 variations, got {count}"]


def test_vary_varies_the_senders_own_last_job(surface):
    other = Peer()
    try:
        surface.send("/musicgen/vary")  # nothing yet
        surface.error()
        mine = surface.daemon.submit(surface.daemon.state.snapshot().with_changes(
            client_id=f"osc:127.0.0.1:{surface.client.port}", prompt="mine"))
        theirs = surface.daemon.submit(surface.daemon.state.snapshot().with_changes(
            client_id=f"osc:127.0.0.1:{other.port}", prompt="theirs"))
        surface.send(VARY)
        varied = surface.daemon.last_submitted[1]
        assert (varied.parent_job, varied.prompt) == (mine, "mine")
        surface.dispatcher.handle_datagram(encode(VARY), ("127.0.0.1", other.port))
        varied = surface.daemon.last_submitted[1]
        assert (varied.parent_job, varied.prompt) == (theirs, "theirs")
    finally:
        other.close()


def test_vary_after_a_restart_uses_the_newest_journalled_job(tiny_engine, tmp_path):
    daemon = make_daemon(tmp_path, tiny_engine)
    try:
        request = GenerationRequest(prompt="x", bpm=120, bars=1)
        older = daemon.queue.submit(request)
        newer = daemon.queue.submit(request.with_changes(prompt="y"))
        assert daemon.last_submitted is None  # as after a restart: only the journal knows
        job, found = conditioning.last_request(daemon)
        assert (job, found.prompt) == (newer, "y") and older < newer
    finally:
        daemon.stop()


def test_negative_prompt_with_guidance_1_is_reported_over_osc(bridge):
    c = bridge.client
    for address, types, value in [("/musicgen/prompt", "s", "funk"),
                                  ("/musicgen/negative", "s", "vocals"),
                                  ("/musicgen/cfg", "f", 1.0), ("/musicgen/bars", "i", 1)]:
        c.send(address, types, value)
    c.send("/musicgen/generate")
    (job,) = bridge.target.expect("/musicgen/queued")
    about, reason = bridge.target.expect("/musicgen/error")
    assert about == f"job {job}"
    assert reason == ("warning: negative prompt 'vocals' has no effect with guidance (cfg) 1: "
                      "raise cfg above 1 to steer away from it")
    bridge.target.expect("/musicgen/clip", timeout=60)  # the job still runs


def test_continue_reads_the_file_off_the_osc_thread(surface, tmp_path, monkeypatch):
    """Decoding a big file must not stall knobs and transport: the handler returns while the
    file is still being read, and the refusal (or the job) follows on its own."""
    import threading

    take = write_take(tmp_path / "selection.wav")
    reading = threading.Event()
    release = threading.Event()
    submit = surface.daemon.submit

    def slow_submit(request):
        reading.set()
        release.wait(10)
        return submit(request)

    monkeypatch.setattr(surface.daemon, "submit", slow_submit)
    handled = threading.Event()
    threading.Thread(target=lambda: (surface.send(CONTINUE, "s", str(take)), handled.set()),
                     daemon=True).start()
    assert reading.wait(10)
    assert handled.wait(10), "the OSC handler waited for the file to be read"
    surface.send(CONTINUE, "s", str(take))  # while one is read, the next is refused at once
    about, text = surface.error()
    assert about == CONTINUE and "still reading the previous" in text
    release.set()
    (job,) = surface.target.expect("/musicgen/queued")
    assert job == 1


def test_continue_outside_the_allowed_folders_says_nothing_about_the_file(surface):
    surface.send(CONTINUE, "s", "/dev/zero")
    about, text = surface.error()
    assert "outside the folders audio is read from" in text and "folder, not" not in text
    surface.send(CONTINUE, "s", "/etc/hostname")
    assert surface.error()[1].replace("/etc/hostname", "P") == text.replace("/dev/zero", "P")

"""The worker on a real local Ray cluster (CPU, the tiny model, two replicas), driven the way
daemons drive it: RemoteEngine inside real daemons writing real clips, and the raw protocol.

One cluster per module (starting Ray costs tens of seconds on two shared cores); every wait is
generous and returns as soon as its condition holds; nothing asserts a duration.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bridge import events
from bridge.engine.base import EngineError
from bridge.engine.remote import RemoteEngine
from bridge.request import GenerationRequest
from bridge.worker.app import WorkerSettings, build_app
from bridge.worker.run import start_worker, stop_worker
from tests.support import make_daemon

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = _free_port()  # other test runs may share this machine
TOKEN = "s3cret-token"
WAIT_S = 240.0


@pytest.fixture(scope="module")
def worker(tiny_model_dir: Path):
    """Two CPU replicas at "/" without a token, one at "/secure" with TOKEN."""
    from ray import serve

    base = dict(model=str(tiny_model_dir), device="cpu", engine="fast",
                cpus_per_replica=0.5, batch_wait_s=0.2)
    url = start_worker(WorkerSettings(**base, replicas=2), port=PORT, num_cpus=2)
    serve.run(build_app(WorkerSettings(**base, replicas=1, token=TOKEN)), name="secure",
              route_prefix="/secure")
    yield url
    stop_worker()


def _request(**changes) -> GenerationRequest:
    return GenerationRequest.from_dict({"prompt": "dusty funk drums", "bpm": 120, "bars": 1,
                                        "seed": 5, **changes})


class _Jobs:
    """A daemon's job events, waited on."""

    def __init__(self, daemon) -> None:
        self.events: list[events.JobEvent] = []
        self.changed = threading.Condition()
        daemon.bus.subscribe(self._on)

    def _on(self, event: object) -> None:
        if isinstance(event, events.JobEvent):
            with self.changed:
                self.events.append(event)
                self.changed.notify_all()

    def ended(self, job_id: int) -> events.JobEvent:
        with self.changed:
            assert self.changed.wait_for(lambda: self._end(job_id) is not None, WAIT_S), \
                f"job {job_id} did not end"
            return self._end(job_id)

    def _end(self, job_id: int) -> events.JobEvent | None:
        return next((e for e in self.events if e.job_id == job_id
                     and e.kind in (events.DONE, events.FAILED, events.CANCELLED)), None)

    def first(self, job_id: int, kind: str, predicate=lambda e: True) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: any(
                e.job_id == job_id and e.kind == kind and predicate(e) for e in self.events),
                WAIT_S), f"job {job_id}: no {kind} event"


def _daemon(tmp_path: Path, url: str, name: str, **engine_options):
    daemon = make_daemon(tmp_path / name, RemoteEngine(url, **engine_options))
    return daemon, _Jobs(daemon)


def _clips(daemon) -> list[Path]:
    return sorted(daemon.out_dir.rglob("*.wav"))


def _post(path: str, body: bytes, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=WAIT_S)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                   **(headers or {})})
    return conn, conn.getresponse()


def _body(job_id: str, **changes) -> bytes:
    body = {"job_id": job_id, "text": "dusty funk drums", "seconds": 4.0, "seed": 1,
            "top_k": 50, "variations": 1, **changes}
    return json.dumps(body).encode()


def test_concurrent_jobs_from_two_daemons_are_each_written_once(worker, tmp_path) -> None:
    daemons = [_daemon(tmp_path, worker, name) for name in ("studio-a", "studio-b")]
    submitted = []
    for daemon, _ in daemons:
        daemon.start()
    try:
        for index in range(3):
            for daemon, jobs in daemons:
                request = _request(prompt=f"take {index}", variations=1 + index % 2)
                submitted.append((daemon, jobs, daemon.submit(request), request))
        for _, jobs, job_id, _ in submitted:
            assert jobs.ended(job_id).kind == events.DONE, jobs.ended(job_id).error
    finally:
        for daemon, _ in daemons:
            daemon.stop()
    for daemon, jobs in daemons:
        mine = [(job_id, request) for d, _, job_id, request in submitted if d is daemon]
        # Every variation of every job, once: no clip lost, none doubled by a retry.
        assert len(_clips(daemon)) == sum(request.variations for _, request in mine)
        for job_id, request in mine:
            done = [e for e in jobs.events if e.job_id == job_id and e.kind == events.DONE]
            assert len(done) == 1 and len(done[0].clips) == request.variations
            sidecar = json.loads(Path(done[0].clips[0].sidecar).read_text())
            assert sidecar["prompt"] == request.prompt and sidecar["seed"] == 5
        assert not daemon.queue.jobs()[-1].error


def test_a_replica_killed_mid_job_still_yields_its_clip_once(worker, tmp_path) -> None:
    daemon, jobs = _daemon(tmp_path, worker, "killed", retry_delays_s=(1.0,) * 30)
    engine = daemon.engine
    daemon.start()
    try:
        job_id = daemon.submit(_request(bars=8))  # 16 s of audio: long enough to kill it
        jobs.first(job_id, events.PROGRESS, lambda e: e.progress >= 0.05)
        killed = engine.last_accepted["replica_pid"]
        os.kill(killed, signal.SIGKILL)
        end = jobs.ended(job_id)
    finally:
        daemon.stop()
    assert end.kind == events.DONE, end.error
    assert len(_clips(daemon)) == 1
    assert engine.last_accepted["replica_pid"] != killed


def test_a_wrong_or_missing_token_is_refused(worker, tmp_path) -> None:
    for token in ("", "not-the-token"):
        with pytest.raises(EngineError, match="worker_token"):
            RemoteEngine(worker + "/secure", token, retry_delays_s=(0.1,))
        conn, response = _post("/secure/generate", _body("tok"),
                               {"Authorization": f"Bearer {token}"} if token else {})
        assert response.status == 401
        assert "bearer token" in json.loads(response.read())["error"]
        conn.close()
    # The daemon's side as a user sets it up: [model] backend = "remote", the token from
    # the environment.
    from bridge.engine.loader import load_engine
    from tests.support import make_config

    config = make_config(tmp_path / "secure", {"model": {
        "backend": "remote", "worker_url": worker + "/secure", "worker_token": ""}})
    os.environ["MUSICGEN_BRIDGE_WORKER_TOKEN"] = TOKEN
    try:
        engine = load_engine(config.model)
    finally:
        del os.environ["MUSICGEN_BRIDGE_WORKER_TOKEN"]
    assert isinstance(engine, RemoteEngine)
    daemon = make_daemon(tmp_path / "secure", engine)
    jobs = _Jobs(daemon)
    daemon.start()
    try:
        job_id = daemon.submit(_request())
        assert jobs.ended(job_id).kind == events.DONE
    finally:
        daemon.stop()
    assert len(_clips(daemon)) == 1


def _read_events(response) -> list[dict]:
    return [json.loads(line) for line in response.read().splitlines()]


def test_a_stream_cut_mid_way_is_resubmitted_and_completes_once(worker) -> None:
    job = f"cut-{time.monotonic_ns()}"
    conn, response = _post("/generate", _body(job, seconds=8.0))
    assert response.status == 200
    first = json.loads(response.readline())
    assert first["event"] == "accepted" and first["cached"] is False
    while json.loads(response.readline())["event"] != "progress":
        pass
    conn.close()  # the stream is cut before the clip arrived
    conn, response = _post("/generate", _body(job, seconds=8.0))
    again = _read_events(response)
    conn.close()
    assert {k: again[-1][k] for k in ("event", "job_id", "variations")} == {
        "event": "done", "job_id": job, "variations": 1}
    assert [e["event"] for e in again].count("audio") == 1
    # Asked once more: the same clip from the result store, not a second generation.
    conn, response = _post("/generate", _body(job, seconds=8.0))
    cached = _read_events(response)
    conn.close()
    assert cached[0]["cached"] is True
    assert cached[1:] == again[-2:]


def test_a_daemon_cancelling_stops_the_remote_job(worker, tmp_path) -> None:
    daemon, jobs = _daemon(tmp_path, worker, "cancel")
    daemon.start()
    try:
        job_id = daemon.submit(_request(bars=8))
        jobs.first(job_id, events.PROGRESS, lambda e: e.progress >= 0.05)
        remote_id = daemon.engine.last_accepted["job_id"]
        daemon.cancel(job_id)
        assert jobs.ended(job_id).kind == events.CANCELLED
    finally:
        daemon.stop()
    assert _clips(daemon) == []
    # The replica itself stopped the job (its log says so), not only the daemon.
    assert _replica_logged(f"job {remote_id} cancelled at")


def _replica_logged(text: str) -> bool:
    import ray

    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for path in logs.rglob("*"):
            if path.is_file() and path.suffix in (".log", ".err", ".out"):
                if text in path.read_text(errors="replace"):
                    return True
        time.sleep(1.0)
    return False


@pytest.mark.parametrize(("body", "reasons"), [
    (b"{not json", ["not JSON"]),
    (json.dumps({"job_id": "bad id!", "text": 3, "seconds": -1, "seed": "x", "top_k": 0,
                 "colour": "red"}).encode(),
     ["colour: unknown field", "job_id: must be", "text: must be a string", "seconds: must be",
      "seed: must be an integer", "top_k must be in 1..2048"]),
    (_body("long", seconds=45.0), ["longer than", "window of 30 s"]),
    (_body("melody", melody={"dtype": "float32", "shape": [4], "data": "AAAA"}),
     ["melody: data holds 3 bytes", "melody_rate: missing"]),
])
def test_malformed_requests_are_refused_with_reasons(worker, body, reasons) -> None:
    conn, response = _post("/generate", body)
    error = json.loads(response.read())["error"]
    conn.close()
    assert response.status == 400
    for reason in reasons:
        assert reason in error


def test_the_worker_command_refuses_a_network_address_without_a_token(capsys, monkeypatch,
                                                                      tmp_path) -> None:
    from bridge.cli import main

    monkeypatch.delenv("MUSICGEN_BRIDGE_WORKER_TOKEN", raising=False)
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "none.toml"))
    assert main(["worker", "--host", "0.0.0.0", "--model", "tiny"]) == 2
    assert "without a token" in capsys.readouterr().err


def test_long_clips_are_made_in_windows_through_the_worker_as_locally(worker,
                                                                      tiny_engine) -> None:
    from bridge.engine.base import GenerationSpec
    from bridge.engine.fast import load_fast_engine
    from bridge.engine.windows import WindowedEngine, can_window

    remote = RemoteEngine(worker)
    assert can_window(remote)
    spec = GenerationSpec(text="dusty funk drums", seconds=5.0, top_k=50, top_p=0.0,
                          temperature=1.0, cfg=3.0, seed=11)
    # Short windows on the tiny model: four windows, each a job of its own on the worker,
    # continued from the codes the previous one returned, then decoded on the worker.
    made = WindowedEngine(remote, window_s=2.0, context_s=1.0).generate(
        spec, lambda f: None, threading.Event())
    local = WindowedEngine(load_fast_engine(tiny_engine), window_s=2.0, context_s=1.0).generate(
        spec, lambda f: None, threading.Event())
    assert made.audio.shape == local.audio.shape == (1, 1, 5 * 32000)
    np.testing.assert_array_equal(made.codes, local.codes)
    np.testing.assert_allclose(made.audio, local.audio, atol=1e-5)


def test_a_daemon_stopped_mid_remote_job_resumes_it_from_the_journal(worker, tmp_path) -> None:
    first, jobs = _daemon(tmp_path, worker, "restart")
    first.start()
    job_id = first.submit(_request(bars=8))
    jobs.first(job_id, events.PROGRESS, lambda e: e.progress >= 0.05)
    first.stop()  # the daemon goes down while the worker generates
    assert _clips(first) == []
    second, jobs = _daemon(tmp_path, worker, "restart")
    second.start()
    try:
        end = jobs.ended(job_id)
    finally:
        second.stop()
    assert end.kind == events.DONE, end.error
    assert len(_clips(second)) == 1


def test_an_explicit_cancel_reaches_the_replica_running_the_job(worker) -> None:
    job = f"stop-{time.monotonic_ns()}"
    conn, response = _post("/generate", _body(job, seconds=16.0))
    assert json.loads(response.readline())["event"] == "accepted"
    assert json.loads(response.readline())["event"] == "progress"
    # Sent on another connection, so it may land on the other replica: it still arrives.
    cancel_conn, answer = _post("/cancel", json.dumps({"job_id": job}).encode())
    assert answer.status == 200
    cancel_conn.close()
    rest = _read_events(response)
    conn.close()
    assert rest[-1] == {"event": "error", "reason": "cancelled", "retry": True}
    assert not any(e["event"] == "audio" for e in rest)

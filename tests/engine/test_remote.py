"""RemoteEngine against a scripted stand-in worker (stdlib HTTP server): retries keep the
job id, a stream without its final event is a failure, refusals and dead workers are clear.
The real worker on Ray is tested in tests/cluster."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from bridge.engine import wire
from bridge.engine.base import EngineError, GeneratedAudio, GenerationSpec
from bridge.engine.remote import RemoteEngine

SPEC = GenerationSpec(text="dusty funk drums", seconds=1.0, top_k=250, top_p=0.0,
                      temperature=1.0, cfg=3.0, seed=3, variations=2)
INFO = {"model_id": "tiny", "sample_rate": 32000, "frame_rate": 50.0, "max_seconds": 30.0,
        "capabilities": ["negative_prompt"], "engine": "fast"}
AUDIO = GeneratedAudio(audio=np.linspace(-1, 1, 2 * 320, dtype=np.float32).reshape(2, 1, 320),
                       sample_rate=32000)


class _Worker(BaseHTTPRequestHandler):
    script: list = []  # one entry per POST: "cut", "full", ("error", reason, retry), status
    bodies: list = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._send(200, json.dumps(INFO).encode())

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append((body, self.headers.get("Authorization")))
        step = self.script.pop(0)
        if isinstance(step, int):
            return self._send(step, json.dumps({"error": "nope"}).encode())
        lines = [wire.line({"event": "accepted", "job_id": body["job_id"], "cached": False}),
                 wire.line({"event": "progress", "fraction": 0.5})]
        if step == "full":
            lines += wire.result_lines(body["job_id"], AUDIO)
        elif isinstance(step, tuple):
            lines.append(wire.error_line(step[1], retry=step[2]))
        self._send(200, b"".join(lines))  # "cut": no final event, then the connection closes

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def worker():
    _Worker.script, _Worker.bodies = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Worker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _engine(url: str, **options) -> RemoteEngine:
    return RemoteEngine(url, "tok", retry_delays_s=(0.01,) * 3, **options)


def test_a_cut_stream_is_retried_under_the_same_job_id(worker) -> None:
    _Worker.script = ["cut", "cut", "full"]
    seen: list[float] = []
    result = _engine(worker).generate(SPEC, seen.append, threading.Event())
    np.testing.assert_array_equal(result.audio, AUDIO.audio)
    assert result.sample_rate == 32000
    ids = {body["job_id"] for body, _ in _Worker.bodies}
    assert len(_Worker.bodies) == 3 and len(ids) == 1
    assert {auth for _, auth in _Worker.bodies} == {"Bearer tok"}
    assert seen and seen[-1] == 0.5
    # What travelled is the spec the pipeline resolved.
    body = _Worker.bodies[0][0]
    assert (body["text"], body["seed"], body["variations"], body["seconds"]) == (
        "dusty funk drums", 3, 2, 1.0)


def test_a_stream_that_never_finishes_is_a_clear_failure(worker) -> None:
    _Worker.script = ["cut"] * 4
    with pytest.raises(EngineError, match="did not deliver .* after 4 tries .*final event"):
        _engine(worker).generate(SPEC, lambda f: None, threading.Event())


def test_a_request_error_is_not_retried(worker) -> None:
    _Worker.script = [("error", "this model cannot do melody", False)]
    with pytest.raises(EngineError, match="worker: this model cannot do melody"):
        _engine(worker).generate(SPEC, lambda f: None, threading.Event())
    assert len(_Worker.bodies) == 1


def test_a_refused_token_names_the_setting(worker) -> None:
    _Worker.script = [401]
    with pytest.raises(EngineError, match="worker_token"):
        _engine(worker).generate(SPEC, lambda f: None, threading.Event())


def test_a_worker_that_cannot_be_reached_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match="cannot reach the musicgen-bridge worker at "
                                          "http://127.0.0.1:9 .*musicgen-bridge worker"):
        RemoteEngine("http://127.0.0.1:9", retry_delays_s=(0.01,))
    with pytest.raises(EngineError, match="not an http"):
        RemoteEngine("127.0.0.1:9100")


def test_the_wire_round_trips_a_spec_with_arrays() -> None:
    spec = GenerationSpec(**{**SPEC.__dict__, "audio_prompt": np.ones(640, np.float32),
                             "prompt_rate": 32000,
                             "prefix_codes": np.arange(2 * 4 * 3).reshape(2, 4, 3)})
    job_id, back = wire.parse_request(json.loads(json.dumps(wire.request_body("j-1", spec))))
    assert job_id == "j-1" and back.prompt_rate == 32000
    np.testing.assert_array_equal(back.audio_prompt, spec.audio_prompt)
    np.testing.assert_array_equal(back.prefix_codes, spec.prefix_codes)
    assert back.prefix_codes.dtype == np.int64


def test_the_daemon_side_never_imports_ray() -> None:
    # A DAW laptop installs musicgen-bridge without the cluster extra: the command line, the
    # daemon and the remote engine must work without Ray (or Serve's web stack) importable.
    import subprocess
    import sys

    code = ("import sys, bridge.cli, bridge.daemon, bridge.engine.loader, bridge.engine.remote;"
            "bridge.cli._build_parser();"
            "print(sorted(m for m in ('ray', 'starlette', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"

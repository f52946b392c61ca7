"""`musicgen-bridge serve` as a user runs it: a real process, driven over OSC, stopped by signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send(sock: socket.socket, port: int, address: str, *args) -> None:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    sock.sendto(builder.build().dgram, ("127.0.0.1", port))


def _wait_for(sock: socket.socket, address: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data, _ = sock.recvfrom(65536)
        except TimeoutError:
            break
        for message in (m.message for m in OscPacket(data).messages):
            if message.address == address:
                return message.params
    raise AssertionError(f"no {address} within {timeout} s")


@pytest.fixture
def served(tiny_model_dir, tmp_path):
    port = _free_udp_port()
    feedback = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feedback.bind(("127.0.0.1", 0))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[queue]\njournal = "{tmp_path / "journal.jsonl"}"\n'
        "[midi]\nenabled = false\n[fit]\ntempo_lock = false\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--config", str(config), "--model",
         str(tiny_model_dir), "--device", "cpu", "--out", str(tmp_path / "clips"),
         "--osc-port", str(port), "--feedback", f"127.0.0.1:{feedback.getsockname()[1]}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        yield process, port, feedback, tmp_path / "clips"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        feedback.close()


def _ping_until_up(sock: socket.socket, port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        _send(sock, port, "/musicgen/ping")
        try:
            _wait_for(sock, "/musicgen/pong", 1.0)
            return
        except AssertionError:
            continue
    raise AssertionError("daemon never answered /musicgen/ping")


def test_serve_generates_over_osc_and_stops_cleanly_on_sigterm(served):
    process, port, feedback, clips = served
    _ping_until_up(feedback, port, process)
    _send(feedback, port, "/musicgen/tempo", 90.0)
    _send(feedback, port, "/musicgen/meter", 6, 8)
    _send(feedback, port, "/musicgen/bars", 2)
    _send(feedback, port, "/musicgen/generate", "dusty tape loop")
    job, path, position, duration = _wait_for(feedback, "/musicgen/clip", 120)
    assert Path(path).parent == clips and position == -1
    assert sf.info(path).frames == 192000  # 2 bars * 3 quarters * 60/90 s = 4 s * 48000
    assert duration == pytest.approx(2 * 3 * 60 / 90, abs=1e-3)
    # What the REAPER scripts read: alive, this process, a fresh heartbeat, nothing running.
    status = json.loads((clips / "status.json").read_text())
    assert status["alive"] is True and status["pid"] == process.pid
    assert abs(time.time() - status["heartbeat"]) < 30 and status["queue"] == 0

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "musicgen-bridge stopped" in output
    # The model was warmed before serving (the warm-up writes no clip: only the one asked for).
    assert output.index("model warm in") < output.index("musicgen-bridge serving")
    assert len(list(clips.glob("*.wav"))) == 1
    assert json.loads((clips / "status.json").read_text())["alive"] is False  # said it stopped

"""OSC latency on loopback: message -> state applied -> echo received, and generate -> queued.

Run from the repository root: ``python -m bench.osc_latency [--messages 10000]``.

The daemon runs in a child process (as ``musicgen-bridge serve`` would, so the client does not
share its interpreter lock) on the tiny offline model, cached under bench/.cache/. Its job
worker is not started: queued jobs are cancelled at once, so no generation competes for the
CPU and the figures are the control path alone.

- knob round trip: ``/musicgen/knob/cfg <x>`` sent, the echo ``/musicgen/cfg`` received, one
  at a time (each waits for its echo). "applied" is when the session state published the
  change, taken in the daemon with the same monotonic clock (CLOCK_MONOTONIC is system-wide).
  Every echo is checked against the knob curve.
- burst: the same messages sent back to back without waiting; time until the last echo.
- generate: ``/musicgen/generate`` sent, ``/musicgen/queued`` received (the job is journaled
  on disk before it is acknowledged), then the job is cancelled.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import socket
import statistics
import struct
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
TINY_DIR = CACHE_DIR / "tiny-model"


def _encode(address: str, types: str = "", *args: object) -> bytes:
    builder = OscMessageBuilder(address)
    for type_, value in zip(types, args, strict=True):
        builder.add_arg(value, type_)
    return builder.build().dgram


def _daemon(conn: Connection, workdir: str) -> None:
    """Child process: a daemon with OSC serving; reports its port, then applied times."""
    import logging

    from bridge import config as config_mod
    from bridge.daemon import Daemon
    from bridge.engine.tiny_model import build_tiny_model
    from bridge.engine.transformers_engine import load_engine
    from bridge.osc.server import create
    from bridge.session.state import StateChanged

    logging.basicConfig(level=logging.ERROR)
    if not (TINY_DIR / "config.json").exists():
        build_tiny_model(TINY_DIR)
    engine = load_engine(str(TINY_DIR), device="cpu")
    config = config_mod.defaults().with_overrides({
        ("output", "project_dir"): workdir, ("queue", "journal"): f"{workdir}/journal.jsonl",
        ("queue", "max_pending"): 1000, ("osc", "port"): 0, ("osc", "feedback"): [],
        ("log", "level"): "ERROR"})
    daemon = Daemon(config, engine)
    applied: list[int] = []
    daemon.bus.subscribe(lambda e: applied.append(time.perf_counter_ns())
                         if isinstance(e, StateChanged) and e.name == "cfg" else None)
    service = create(daemon, daemon.config.osc)
    assert service is not None
    service.start()  # the OSC service only: jobs are queued, never run
    daemon.state.set("prompt", "benchmark")
    conn.send(service.port)
    conn.recv()  # the client is done
    conn.send(applied)
    service.stop()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(label: str, micros: list[float]) -> str:
    return (f"{label:<34} median {statistics.median(micros):8.1f} us   p99 "
            f"{_percentile(micros, 0.99):8.1f} us   max {max(micros):9.1f} us   (n={len(micros)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--generates", type=int, default=500)
    args = parser.parse_args(argv)

    import tempfile

    from bridge.params import PARAMS

    spec = PARAMS["cfg"]
    with tempfile.TemporaryDirectory() as workdir:
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("spawn").Process(target=_daemon,
                                                               args=(child, workdir))
        process.start()
        port = parent.recv()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        sock.settimeout(10)
        daemon = ("127.0.0.1", port)

        def receive(address: str) -> list:
            while True:
                message = OscMessage(sock.recvfrom(65535)[0])
                if message.address == address:
                    return message.params

        positions = [((i * 7919) % 1001) / 1000 for i in range(args.messages)]
        wire = [struct.unpack(">f", struct.pack(">f", p))[0] for p in positions]
        packets = [_encode("/musicgen/knob/cfg", "f", p) for p in positions]

        for packet in packets[:200]:  # warm up
            sock.sendto(packet, daemon)
            receive("/musicgen/cfg")

        sent, echoed, wrong = [], [], 0
        for packet, position in zip(packets, wire, strict=True):
            start = time.perf_counter_ns()
            sock.sendto(packet, daemon)
            value = receive("/musicgen/cfg")[0]
            echoed.append(time.perf_counter_ns())
            sent.append(start)
            expected = spec.from_knob(position)
            wrong += abs(value - expected) > 1e-5 * max(1.0, abs(expected))

        start = time.perf_counter_ns()
        for packet in packets:
            sock.sendto(packet, daemon)
        for _ in packets:
            receive("/musicgen/cfg")
        burst_s = (time.perf_counter_ns() - start) / 1e9

        queued = []
        generate = _encode("/musicgen/generate")
        for _ in range(args.generates):
            start = time.perf_counter_ns()
            sock.sendto(generate, daemon)
            (job,) = receive("/musicgen/queued")
            queued.append((time.perf_counter_ns() - start) / 1e3)
            sock.sendto(_encode("/musicgen/cancel", "i", job), daemon)

        parent.send("done")
        applied_all = parent.recv()
        process.join(30)
        # The warm-up's 200 changes come first, the burst's after the measured ones.
        applied = applied_all[200:200 + len(sent)]

    round_trip = [(e - s) / 1e3 for s, e in zip(sent, echoed, strict=True)]
    to_state = [(a - s) / 1e3 for s, a in zip(sent, applied, strict=True)]
    to_echo = [(e - a) / 1e3 for a, e in zip(applied, echoed, strict=True)]
    print(f"OSC latency on loopback ({platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()}, {multiprocessing.cpu_count()} "
          "CPUs; daemon in a child process)")
    print(_summary("knob -> state applied", to_state))
    print(_summary("state applied -> echo received", to_echo))
    print(_summary("knob -> echo received (round trip)", round_trip))
    print(f"{'burst of ' + str(len(packets)) + ' knob messages':<34} {burst_s * 1e3:8.1f} ms "
          f"until the last echo ({len(packets) / burst_s:,.0f} messages/s)")
    print(_summary("generate -> queued", queued))
    print(f"echoes that did not match the knob curve: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

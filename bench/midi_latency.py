"""MIDI latency through JACK: CC in -> parameter applied -> OSC echo out.

Run from the repository root: ``python -m bench.midi_latency [--messages 10000] [--period 256]``
(needs Debian's jackd2; the benchmark starts its own dummy-driver JACK server).

The daemon runs in a child process (as ``musicgen-bridge serve`` would) on the tiny offline
model, cached under bench/.cache/, with MIDI on mido's rtmidi backend over JACK (its virtual
input "MusicGen Bridge") and OSC feedback to this process. This process is the controller: a
python-rtmidi JACK output connected to the daemon's input, sending CC 24 (cfg, mapped with
takeover = "jump" so every message moves the value), one at a time, each waiting for the
``/musicgen/cfg`` echo. "applied" is when the session state published the change, taken in
the daemon with the same monotonic clock (CLOCK_MONOTONIC is system-wide). Every echo is
checked against the knob curve.

JACK moves MIDI once per period (``--period`` frames at 48 kHz: 256 = 5.3 ms), so "CC ->
applied" includes up to a period or two of transport; ``--period 64`` shows how much, and
"driver callback -> state applied" is the daemon's own part (queue, handler thread, mapping,
state), timed from the arrival time mido's callback takes on the driver thread.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from pythonosc.osc_message import OscMessage

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
TINY_DIR = CACHE_DIR / "tiny-model"
BACKEND = "mido.backends.rtmidi/UNIX_JACK"
CFG_CC = 24
WARM_UP = 200


def _daemon(conn: Connection, workdir: str, feedback_port: int) -> None:
    """Child process: a daemon with MIDI and OSC; reports the OSC port, then applied times."""
    import logging

    from bridge import config as config_mod
    from bridge.daemon import Daemon
    from bridge.engine.tiny_model import build_tiny_model
    from bridge.engine.transformers_engine import load_engine
    from bridge.midi.service import create as create_midi
    from bridge.osc.server import create as create_osc
    from bridge.session.state import StateChanged

    logging.basicConfig(level=logging.ERROR)
    if not (TINY_DIR / "config.json").exists():
        build_tiny_model(TINY_DIR)
    engine = load_engine(str(TINY_DIR), device="cpu")
    config = config_mod.defaults().with_overrides({
        ("output", "project_dir"): workdir, ("queue", "journal"): f"{workdir}/journal.jsonl",
        ("osc", "port"): 0, ("osc", "feedback"): [f"127.0.0.1:{feedback_port}"],
        ("midi", "enabled"): True, ("midi", "backend"): BACKEND,
        ("midi", "mappings"): {"cfg": {"cc": CFG_CC, "takeover": "jump"}},
        ("log", "level"): "ERROR"})
    daemon = Daemon(config, engine)
    applied: list[int] = []
    daemon.bus.subscribe(lambda e: applied.append(time.perf_counter_ns())
                         if isinstance(e, StateChanged) and e.name == "cfg" else None)
    osc, midi = create_osc(daemon), create_midi(daemon)
    assert osc is not None and midi is not None
    arrived: list[int] = []  # when mido's callback got each message (the driver thread)
    handle = midi.controller.handle

    def timed_handle(msg: object, t: float) -> None:
        arrived.append(int(t * 1e9))
        handle(msg, t)

    midi.controller.handle = timed_handle  # type: ignore[method-assign]
    for service in (osc, midi):
        service.start()  # the services only: no job worker competes for the CPU
    conn.send(osc.port)
    conn.recv()  # the controller is done
    conn.send((arrived, applied))
    midi.stop()
    osc.stop()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(label: str, micros: list[float]) -> str:
    return (f"{label:<34} median {statistics.median(micros):8.1f} us   p99 "
            f"{_percentile(micros, 0.99):8.1f} us   max {max(micros):9.1f} us   (n={len(micros)})")


def _start_jack(period: int) -> subprocess.Popen[bytes]:
    if not shutil.which("jackd"):
        sys.exit("jackd is missing: apt-get install --no-install-recommends jackd2")
    os.environ["JACK_DEFAULT_SERVER"] = f"mgb-bench-{os.getpid()}"
    os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
    server = subprocess.Popen(["jackd", "--no-realtime", "-d", "dummy", "-r", "48000", "-p",
                               str(period)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    if subprocess.run(["jack_wait", "-w", "-t", "5"], capture_output=True).returncode != 0:
        server.kill()
        sys.exit("jackd did not start")
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--period", type=int, default=256, help="JACK period, frames at 48 kHz")
    args = parser.parse_args(argv)

    import rtmidi

    from bridge.midi.mapping import Binding
    from bridge.midi.ports import VIRTUAL_NAME

    binding = Binding("cfg", CFG_CC, takeover=False)
    server = _start_jack(args.period)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.settimeout(10)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            parent, child = multiprocessing.Pipe()
            process = multiprocessing.get_context("spawn").Process(
                target=_daemon, args=(child, workdir, sock.getsockname()[1]), daemon=True)
            process.start()
            parent.recv()  # the daemon is up

            def echo() -> float:
                while True:
                    try:
                        message = OscMessage(sock.recvfrom(65535)[0])
                    except TimeoutError:
                        # Seen when a busy machine makes a non-realtime JACK server drop a
                        # client that missed its deadline ("JackSocketClientChannel read fail").
                        process.kill()
                        sys.exit("no echo within 10 s: a message was lost (JACK drops clients "
                                 "that miss their deadline on a busy machine); run again")
                    if message.address == "/musicgen/cfg":
                        return float(message.params[0])

            out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="bench controller")
            ports = out.get_ports()
            out.open_port(next(i for i, n in enumerate(ports) if VIRTUAL_NAME in n))
            # 37 is odd, so consecutive values always differ: every message is a change.
            values = [(i * 37) % 128 for i in range(WARM_UP + args.messages)]
            for value in values[:WARM_UP]:
                out.send_message([0xB0, CFG_CC, value])
                echo()
            sent, echoed, wrong = [], [], 0
            for value in values[WARM_UP:]:
                start = time.perf_counter_ns()
                out.send_message([0xB0, CFG_CC, value])
                got = echo()
                echoed.append(time.perf_counter_ns())
                sent.append(start)
                expected = binding.value_at(value / 127)
                wrong += abs(got - expected) > 1e-5 * max(1.0, abs(expected))
            out.close_port()
            out.delete()
            parent.send("done")
            arrived_all, applied_all = parent.recv()
            arrived = arrived_all[WARM_UP:WARM_UP + len(sent)]
            applied = applied_all[WARM_UP:WARM_UP + len(sent)]
            process.join(30)
    finally:
        server.terminate()
        server.wait(10)

    round_trip = [(e - s) / 1e3 for s, e in zip(sent, echoed, strict=True)]
    to_state = [(a - s) / 1e3 for s, a in zip(sent, applied, strict=True)]
    transport = [(r - s) / 1e3 for s, r in zip(sent, arrived, strict=True)]
    in_daemon = [(a - r) / 1e3 for r, a in zip(arrived, applied, strict=True)]
    to_echo = [(e - a) / 1e3 for a, e in zip(applied, echoed, strict=True)]
    print(f"MIDI latency through JACK, period {args.period} frames at 48 kHz "
          f"({args.period / 48:.2f} ms) ({platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()}, {multiprocessing.cpu_count()} "
          "CPUs; daemon in a child process)")
    print(_summary("CC -> driver callback (JACK)", transport))
    print(_summary("driver callback -> state applied", in_daemon))
    print(_summary("CC -> state applied", to_state))
    print(_summary("state applied -> OSC echo received", to_echo))
    print(_summary("CC -> OSC echo (round trip)", round_trip))
    print(f"echoes that did not match the knob curve: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

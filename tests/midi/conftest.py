"""MIDI test fixtures: a real JACK server, an outside MIDI sender process, event recorders.

CI machines have no ALSA, so the real MIDI stack here is JACK (Debian jackd2): a dummy-driver
server per test session, under its own name so parallel runs do not meet. The daemon's ports
use mido's rtmidi backend on JACK; senders are other processes (python-rtmidi's JACK API in
``jack_sender.py``, and jack_midiseq from jackd2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load
from bridge.daemon import Daemon
from bridge.midi.learn import ConfigFile
from bridge.midi.ports import load_backend
from bridge.midi.service import MidiService
from bridge.midi.settings import MidiSettings
from tests.support import make_daemon

WAIT_S = 10.0  # generous for two shared cores; every wait returns as soon as it can
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
SENDER = Path(__file__).with_name("jack_sender.py")


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Learn saves into the default config file when none was given: keep it in tmp_path."""
    path = tmp_path / "user-config.toml"
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(path))
    return path


def wait_until(condition: Callable[[], Any], timeout: float = WAIT_S, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")


class Recorder:
    """Every event published on a bus, in order."""

    def __init__(self, bus: Any) -> None:
        self._lock = threading.Lock()
        self.events: list[object] = []
        self.unsubscribe = bus.subscribe(self._add)

    def _add(self, event: object) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, event_type: type, /, **fields: Any) -> list[Any]:
        with self._lock:
            events = list(self.events)
        return [e for e in events if isinstance(e, event_type)
                and all(getattr(e, k) == v for k, v in fields.items())]

    def wait(self, event_type: type, /, timeout: float = WAIT_S, **fields: Any) -> Any:
        return wait_until(lambda: self.of(event_type, **fields), timeout,
                          f"{event_type.__name__} {fields}")[0]


@pytest.fixture
def daemon(tmp_path: Path, tiny_engine: Any) -> Iterator[Daemon]:
    """A Daemon on the tiny model (queue not started: jobs are accepted and stay queued)."""
    d = make_daemon(tmp_path / "d", tiny_engine,
                    {"generation": {"prompt": "dusty funk drums", "bars": 1}})
    yield d
    d.stop()


@pytest.fixture
def recorder(daemon: Daemon) -> Iterator[Recorder]:
    r = Recorder(daemon.bus)
    yield r
    r.unsubscribe()


# ---- JACK ----

@pytest.fixture(scope="session")
def jack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dummy-driver JACK server for this session; its name is in JACK_DEFAULT_SERVER."""
    if not (shutil.which("jackd") and shutil.which("jack_wait")):
        pytest.fail("jackd is missing: apt-get install --no-install-recommends jackd2",
                    pytrace=False)
    name = f"mgb-test-{os.getpid()}"
    previous = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER",
                                                "JACK_NO_AUDIO_RESERVATION")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"  # no D-Bus device reservation in CI
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(["jackd", "--no-realtime", "-d", "dummy", "-r", "48000",
                                   "-p", "256"], stdout=out, stderr=subprocess.STDOUT)
    try:
        ready = subprocess.run(["jack_wait", "-w", "-t", "5"], capture_output=True, text=True)
        if ready.returncode != 0 or server.poll() is not None:
            pytest.fail(f"jackd did not start: {log.read_text(errors='replace')[-2000:]}",
                        pytrace=False)
        yield name
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Sender:
    """jack_sender.py in its own process: a controller as far as the daemon can tell."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SENDER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def __call__(self, line: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer == "ok", f"sender: {line!r} -> {answer!r}"

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self("quit")
            except (AssertionError, BrokenPipeError, OSError):
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def make_sender(jack_server: str) -> Iterator[Callable[[], Sender]]:
    senders: list[Sender] = []

    def make() -> Sender:
        sender = Sender()
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()


@pytest.fixture
def jack_midi(jack_server: str, daemon: Daemon, user_config: Path
              ) -> Iterator[Callable[..., MidiService]]:
    """``jack_midi(**midi_settings)``: the daemon's MIDI service on JACK, started, retrying
    missing ports every 0.1 s (2 s in production) so tests do not wait."""
    services: list[MidiService] = []

    def make(**midi: Any) -> MidiService:
        settings = MidiSettings.from_section(daemon.config.midi)
        settings = MidiSettings(**{**vars(settings), **midi})
        service = MidiService(daemon, settings, backend=load_backend(JACK_BACKEND),
                              config_file=ConfigFile(user_config, load), retry_s=0.1)
        daemon.add_service(service)
        service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()

"""Round trips with an OSC implementation written outside this project: liblo's oscsend and
oscdump (Debian package liblo-tools, installed by the test setup)."""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import soundfile

from tests.osc.osc_helpers import WAIT_S, Peer

pytestmark = pytest.mark.slow

if not (shutil.which("oscsend") and shutil.which("oscdump")):
    pytest.fail("liblo's oscsend/oscdump are missing: apt-get install liblo-tools",
                pytrace=False)

# oscdump prints "<time tag> <address> <types> <values...>".
_LINE = re.compile(r"^(?:[0-9a-f]+\.[0-9a-f]+ )?(\S+) ?(\S*) ?(.*)$")


class OscDump:
    """oscdump listening on a free port; its lines, parsed, on a queue."""

    def __init__(self) -> None:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.process = subprocess.Popen(["oscdump", "-L", str(self.port)],
                                        stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_ready()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = _LINE.match(line.rstrip("\n"))
            if match:
                self.lines.put(match.groups())  # type: ignore[arg-type]

    def _wait_ready(self) -> None:
        sender = Peer()
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                sender.raw(b"/probe\x00\x00,\x00\x00\x00", self.port)
                try:
                    if self.lines.get(timeout=0.1)[0] == "/probe":
                        return
                except queue.Empty:
                    continue
        finally:
            sender.close()
        raise AssertionError("oscdump did not start listening")

    def expect(self, address: str, timeout: float = WAIT_S) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line[0] == address:
                return line[1], line[2]
            seen.append(line)
        raise AssertionError(f"oscdump saw no {address}; saw {seen}")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._reader.join(5)


@pytest.fixture
def oscdump() -> Iterator[OscDump]:
    dump = OscDump()
    yield dump
    dump.close()


def oscsend(port: int, address: str, types: str = "", *values: object) -> None:
    subprocess.run(["oscsend", "localhost", str(port), address, types, *map(str, values)],
                   check=True, timeout=WAIT_S)


def test_liblo_drives_settings_and_sees_the_echoes(make_bridge, oscdump):
    bridge = make_bridge(feedback=(f"127.0.0.1:{oscdump.port}",))
    assert oscdump.expect("/musicgen/status") == ("s", '"idle"')
    oscsend(bridge.port, "/musicgen/tempo", "f", 92.5)
    assert oscdump.expect("/musicgen/tempo") == ("f", "92.500000")
    oscsend(bridge.port, "/musicgen/prompt", "s", "dusty funk drums")
    assert oscdump.expect("/musicgen/prompt") == ("s", '"dusty funk drums"')
    oscsend(bridge.port, "/musicgen/meter", "ii", 6, 8)
    assert oscdump.expect("/musicgen/meter") == ("ii", "6 8")
    oscsend(bridge.port, "/musicgen/bars", "f", 2.0)  # a float where an int belongs
    assert oscdump.expect("/musicgen/bars") == ("i", "2")
    oscsend(bridge.port, "/musicgen/knob/cfg", "f", 1.0)
    assert oscdump.expect("/musicgen/cfg") == ("f", "15.000000")
    oscsend(bridge.port, "/musicgen/tempo", "f", "nan")
    assert oscdump.expect("/musicgen/error") == (
        "ss", '"/musicgen/tempo" "/musicgen/tempo must be a finite number, got nan"')
    assert bridge.daemon.state.get("bpm") == 92.5


def test_liblo_drives_a_whole_generation(make_bridge, oscdump):
    bridge = make_bridge(feedback=(f"127.0.0.1:{oscdump.port}",))
    oscsend(bridge.port, "/musicgen/bars", "i", 1)
    oscsend(bridge.port, "/musicgen/generate", "s", "liblo beat")
    assert oscdump.expect("/musicgen/queued") == ("i", "1")
    types, values = oscdump.expect("/musicgen/clip", timeout=60)
    assert types == "isff"
    job, path, position, duration = re.match(r'(\d+) "(.*)" (\S+) (\S+)$', values).groups()
    assert (job, float(position)) == ("1", -1.0)
    info = soundfile.info(path)
    assert info.frames / info.samplerate == pytest.approx(float(duration), abs=1e-4)
    assert float(duration) == pytest.approx(2.0, abs=1e-4)  # 1 bar of 4/4 at 120

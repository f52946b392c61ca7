"""Property-based: whatever lands in requests/ (random bytes, random JSON, random names,
FIFOs, symlinks to /dev/zero, to folders, to themselves), the inbox afterwards still turns a
valid request into a clip, leaves nothing in requests/ without a reason, and its memory stays
within 200 MB of idle."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.events import DONE, JobEvent
from tests.inbox.test_inbox import VALID, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(),
                                reason="RSS read from /proc (Linux)")

MEMORY_MARGIN = 200 << 20

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner,
                                                                 max_size=5),
    max_leaves=30)
_near_valid = st.dictionaries(st.sampled_from(sorted(VALID) + ["bars", "seed", "junk"]),
                              _json, max_size=4).map(lambda d: {**VALID, **d})
_name = st.binary(min_size=1, max_size=240).filter(
    lambda b: b"/" not in b and b"\0" not in b)
_content = st.one_of(
    st.binary(max_size=3000).map(lambda b: ("bytes", b)),
    _json.map(lambda v: ("bytes", json.dumps(v).encode())),
    _near_valid.map(lambda v: ("bytes", json.dumps(v).encode())),
    st.sampled_from(["fifo", "zero", "folder-link", "self-link", "folder"]).map(
        lambda k: (k, b"")),
)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    def __init__(self) -> None:
        self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def close(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _place(folder: Path, name: bytes, kind: str, data: bytes) -> None:
    path = os.path.join(os.fsencode(folder), name)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        os.symlink("/dev/zero", path)
    elif kind == "folder-link":
        os.symlink(folder, path)
    elif kind == "self-link":
        os.symlink(path, path)
    elif kind == "folder":
        os.mkdir(path)
    else:
        tmp = os.path.join(os.fsencode(folder), b".hyp.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


def _unreasoned(folder: Path) -> list[str]:
    rejected = folder / "rejected"
    return [p.name for p in rejected.iterdir() if not p.name.endswith(".error.txt")
            and not (rejected / (p.name.removesuffix(".json") + ".error.txt")).exists()]


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and symlinks: POSIX")
def test_hostile_request_files_never_block_leak_or_stay_without_a_reason(make_box):
    box = make_box(overrides={"queue": {"max_pending": 1000}})
    idle = _rss()
    peak = PeakRss()
    counter = iter(range(1_000_000))

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(files=st.lists(st.tuples(_name, _content), min_size=1, max_size=3))
    def drop(files):
        n = next(counter)
        for i, (name, (kind, data)) in enumerate(files):
            _place(box.folder, f"{n}-{i}-".encode() + name[:200] + b".json", kind, data)
        marker = f"valid-{n}.json"
        tmp = box.folder / ".marker.tmp"
        tmp.write_text(json.dumps(VALID))
        os.replace(tmp, box.folder / marker)
        wait_for(lambda: any(d.startswith(f"valid-{n}.job") for d in box.done()), 20)
        assert box.settled()
        left = [p for p in os.listdir(os.fsencode(box.folder))
                if p not in (b"done", b"rejected")]
        assert left == [], f"left in requests/ without a reason: {left}"
        assert _unreasoned(box.folder) == []

    try:
        drop()
    finally:
        high = peak.close()
    assert high - idle < MEMORY_MARGIN, f"memory grew {(high - idle) >> 20} MB over idle"
    # Afterwards a valid request still becomes a clip.
    for job in box.daemon.jobs():
        box.daemon.cancel(job.job_id)
    ends: list[JobEvent] = []
    box.daemon.bus.subscribe(lambda e: ends.append(e) if isinstance(e, JobEvent)
                             and e.kind == DONE else None)
    box.daemon.queue.start()
    try:
        tmp = box.folder / ".final.tmp"
        tmp.write_text(json.dumps(VALID))
        os.replace(tmp, box.folder / "final.json")
        wait_for(lambda: ends, 120)
        assert Path(ends[0].clips[0].path).is_file()
    finally:
        box.daemon.queue.stop()

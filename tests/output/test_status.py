"""status.json: what a REAPER script reads to say "daemon not running" or show progress."""

from __future__ import annotations

import json
import os

from bridge import events
from bridge.musical_time import Meter
from bridge.output.status import FILENAME, StatusFile, read_status
from bridge.request import GenerationRequest

REQUEST = GenerationRequest(prompt="dusty funk drums", bpm=120, bars=4, meter=Meter(4, 4))


def _read(folder):
    return json.loads((folder / FILENAME).read_text())


def test_alive_queue_and_stages_then_stopped(tmp_path):
    now = [1000.0]
    status = StatusFile(tmp_path, version="9.9", model="m", heartbeat_s=3600,
                        clock=lambda: now[0])
    status.start()
    first = _read(tmp_path)
    assert first["alive"] is True and first["pid"] == os.getpid() and first["version"] == "9.9"
    assert first["queue"] == 0 and first["job"] is None and first["heartbeat"] == 1000.0
    for job in (1, 2):
        status.on_event(events.JobEvent(events.QUEUED, job, REQUEST))
    assert _read(tmp_path)["queue"] == 2
    status.on_event(events.JobEvent(events.STARTED, 1, REQUEST))
    now[0] = 1002.0
    status.on_event(events.JobEvent(events.PROGRESS, 1, REQUEST, progress=0.426))
    seen = _read(tmp_path)
    assert seen["queue"] == 1 and seen["heartbeat"] == 1002.0
    assert seen["job"] == {"id": 1, "stage": "generating", "progress": 0.426,
                           "prompt": "dusty funk drums"}
    status.on_event(events.JobEvent(events.PROGRESS, 1, REQUEST, progress=1.0))
    assert _read(tmp_path)["job"]["stage"] == "finishing"
    status.on_event(events.JobEvent(events.WRITING, 1, REQUEST))
    assert _read(tmp_path)["job"]["stage"] == "writing"
    status.on_event(events.JobEvent(events.DONE, 1, REQUEST))
    assert _read(tmp_path)["job"] is None
    status.stop()
    assert _read(tmp_path)["alive"] is False
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]  # no temporary file left


def test_the_heartbeat_moves_on_its_own(tmp_path):
    ticks = iter(range(1, 10_000))
    status = StatusFile(tmp_path, version="1", model="m", heartbeat_s=0.01,
                        clock=lambda: float(next(ticks)))
    status.start()
    first = _read(tmp_path)["heartbeat"]
    for _ in range(500):
        if (read_status(tmp_path) or {}).get("heartbeat", first) > first + 2:
            break
        status._stop.wait(0.01)
    status.stop()
    assert read_status(tmp_path)["heartbeat"] > first + 2


def test_read_status_of_a_folder_without_one_is_none(tmp_path):
    assert read_status(tmp_path) is None
    (tmp_path / FILENAME).write_text("{half")
    assert read_status(tmp_path) is None

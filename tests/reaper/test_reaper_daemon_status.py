"""The REAPER scripts read the daemon's status.json (written by the real StatusFile) and tell
the user "daemon not running" or the running job's progress."""

from __future__ import annotations

import json
import time

from bridge import events
from bridge.output.status import StatusFile
from bridge.request import GenerationRequest
from tests.reaper.reaper_support import GENERATE, IMPORTER, lua_eval, project

REQUEST = GenerationRequest(prompt="dusty funk drums", bpm=120, bars=4)


def lua_status(folder, now=None) -> str:
    now_arg = "nil" if now is None else repr(now)
    return lua_eval("reaper.GetOS = function() return \"Linux\" end "
                    f"local ok, text = lib.daemon_status({json.dumps(str(folder))}, {now_arg}) "
                    "io.write(tostring(ok), '|', text)")


def test_running_idle_then_a_job_with_its_stage_and_progress(tmp_path):
    status = StatusFile(tmp_path, version="1", model="m", heartbeat_s=3600)
    status.start()
    try:
        assert lua_status(tmp_path) == "true|daemon: idle"
        for job in (7, 8):
            status.on_event(events.JobEvent(events.QUEUED, job, REQUEST))
        status.on_event(events.JobEvent(events.STARTED, 7, REQUEST))
        status.on_event(events.JobEvent(events.PROGRESS, 7, REQUEST, progress=0.42))
        assert lua_status(tmp_path) == "true|daemon: job 7 generating 42%, 1 waiting"
        status.on_event(events.JobEvent(events.WRITING, 7, REQUEST))
        assert lua_status(tmp_path) == "true|daemon: job 7 writing 100%, 1 waiting"
    finally:
        status.stop()
    out = lua_status(tmp_path)
    assert out.startswith("false|daemon not running (it was stopped)")
    assert f'musicgen-bridge serve --out "{tmp_path}"' in out


def test_a_stale_heartbeat_means_not_running(tmp_path):
    status = StatusFile(tmp_path, version="1", model="m")  # beats every 2 s, stale after 10
    status.start()
    try:
        # Seen a minute later without a new beat: as after kill -9 or a sleeping laptop.
        heartbeat = json.loads((tmp_path / "status.json").read_text())["heartbeat"]
        out = lua_status(tmp_path, now=int(heartbeat) + 60)
        fresh = lua_status(tmp_path, now=int(heartbeat) + 3)
    finally:
        status.stop()
    assert out.startswith("false|daemon not running (no heartbeat for 5")
    assert "killed, crashed or the computer slept" in out
    assert fresh.startswith("true|")


def test_no_status_file_at_all(tmp_path):
    assert lua_status(tmp_path).startswith("false|daemon not running (it has never written")


def test_generate_says_daemon_not_running_with_the_command(run_script, tmp_path):
    alive = {"MusicGen/importer_alive": str(int(time.time()))}
    result = run_script(GENERATE, {
        "projects": [project(tmp_path / "s.rpp", selection=[0, 2.0])],
        "inputs": [{"ok": True, "values": ["dusty funk drums", "", "1", "-1"]}],
        "extstate": alive})
    [message] = result["messages"]
    assert "daemon not running" in message["text"] and "musicgen-bridge serve --out" in message["text"]
    assert list((tmp_path / "MusicGen" / "requests").glob("*.json"))  # the request still waits


def test_the_importer_shows_progress_in_the_help_line(run_script, tmp_path):
    folder = tmp_path / "MusicGen"
    status = StatusFile(folder, version="1", model="m", heartbeat_s=3600)
    status.start()
    try:
        status.on_event(events.JobEvent(events.STARTED, 3, REQUEST))
        status.on_event(events.JobEvent(events.PROGRESS, 3, REQUEST, progress=0.5))
        result = run_script(IMPORTER, {"projects": [project(tmp_path / "s.rpp")], "cycles": 3,
                                       "dt": 0.25})
    finally:
        status.stop()
    helps = [c["args"][0] for c in result["calls"] if c["name"] == "Help_Set"]
    assert helps == ["MusicGen daemon: job 3 generating 50%"]
    assert "daemon not running" not in result["console"]

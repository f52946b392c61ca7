"""The whole Reaper round trip on the tiny model: the Generate script writes a request, the
daemon's inbox queues it, the engine and writer make the clip, the Importer puts it on the
timeline over the time selection."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from bridge.events import DONE, FAILED
from bridge.inbox.folder import Inbox, request_folder
from tests.reaper.reaper_support import GENERATE, IMPORTER, musicgen_items, project
from tests.support import make_daemon


def test_select_generate_and_the_clip_lands_over_the_selection(run_script, tmp_path, tiny_engine):
    daemon = make_daemon(tmp_path, tiny_engine)
    rpp = tmp_path / "project" / "song.rpp"  # tests.support puts the clips in project/MusicGen
    finished = threading.Event()
    events: list[Any] = []

    def on_event(event: Any) -> None:
        if getattr(event, "kind", None) in (DONE, FAILED):
            events.append(event)
            finished.set()

    daemon.bus.subscribe(on_event)
    daemon.add_service(Inbox(daemon, request_folder(daemon.out_dir), settle_s=0.05))
    daemon.start()
    try:
        generated = run_script(GENERATE, {
            "projects": [project(rpp, selection=[6.0, 8.0])],  # one bar at 120 BPM
            "inputs": [{"ok": True, "values": ["dusty funk drums", "A minor", "1", "5"]}],
        })
        assert generated["errors"] == []
        assert finished.wait(60.0), "no job finished"
    finally:
        daemon.stop()
    assert events[0].kind == DONE, events[0].error
    clip = events[0].clips[0]
    request_file = next((request_folder(daemon.out_dir) / "done").glob("*.json"))
    assert json.loads(request_file.read_text(encoding="utf-8"))["position_s"] == 6.0

    imported = run_script(IMPORTER, {"projects": [project(rpp)], "cycles": 4, "dt": 0.25})
    assert imported["errors"] == []
    [item] = musicgen_items(imported)
    assert (item["position"], item["length"]) == (6.0, 2.0)
    assert item["takes"][0]["source"] == clip.path and Path(clip.path).is_file()
    assert item["takes"][0]["name"] == "dusty funk drums"
    assert "seed 5" in item["notes"] and "key A minor" in item["notes"]

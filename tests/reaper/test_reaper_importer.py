"""'MusicGen - Importer' brings each finished clip onto the MusicGen track exactly once.

Clips are written by the daemon's real ClipWriter and sidecar builder wherever the test is
about what the daemon produces; hand-made files stand in for half-written or broken ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bridge.musical_time import Meter, clip_samples
from bridge.output.settings import OutputSettings
from bridge.output.sidecar import SIDECAR_FIELD_NAMES, build_sidecar
from bridge.output.writer import ClipWriter
from bridge.request import GenerationRequest
from tests.reaper.reaper_support import IMPORTER, lua_eval, musicgen_items, project

SETTINGS = OutputSettings(sample_rate=8000, channels=1, bit_depth=16)  # small files, fast tests
DT = 0.25  # fake seconds per defer cycle: the importer scans every 0.5 s, so every 2nd cycle


def write_clip(folder: Path, job_id: int, *, variation: int = 1, position_s: float | None = None,
               prompt: str = "dusty funk drums", bars: int = 1, bpm: float = 120.0) -> Path:
    request = GenerationRequest(prompt=prompt, bpm=bpm, bars=bars, position_s=position_s,
                                client_id="reaper", seed=1000 + job_id)
    frames = clip_samples(bars, bpm, Meter(4, 4), SETTINGS.sample_rate)
    sidecar = build_sidecar(request, full_prompt=f"{prompt}, {bpm:g} BPM", seed=1000 + job_id,
                            model="tiny", settings=SETTINGS, frames=frames, job_id=job_id,
                            variation=variation)
    paths = ClipWriter(folder, SETTINGS).write(np.zeros((1, frames), np.float32), sidecar,
                                               slug_source=prompt)
    return paths.audio


def importer(run_script, projects: list[dict[str, Any]], cycles: int = 6, **extra: Any
             ) -> dict[str, Any]:
    result = run_script(IMPORTER, {"projects": projects, "cycles": cycles, "dt": DT, **extra})
    assert result["errors"] == []
    assert result["ui_refresh"] == 0, "PreventUIRefresh calls must balance"
    return result


@pytest.fixture
def song(tmp_path: Path) -> tuple[Path, Path]:
    """A saved project and its MusicGen folder."""
    rpp = tmp_path / "song" / "song.rpp"
    folder = rpp.parent / "MusicGen"
    folder.mkdir(parents=True)
    return rpp, folder


def test_clips_land_once_at_their_positions_on_the_musicgen_track(run_script, song):
    rpp, folder = song
    paths = [write_clip(folder, 1, position_s=0.0), write_clip(folder, 2, position_s=8.0),
             write_clip(folder, 3)]  # no position: the edit cursor
    result = importer(run_script, [project(rpp, cursor=5.0,
                                           tracks=[{"name": "Drums"}, {"name": "Bass"}])])
    names = [t["name"] for t in result["projects"][0]["tracks"]]
    assert names == ["Drums", "Bass", "MusicGen"]
    items = musicgen_items(result)
    assert [(i["position"], i["length"]) for i in items] == [(0.0, 2.0), (8.0, 2.0), (5.0, 2.0)]
    assert [i["takes"][0]["source"] for i in items] == [str(p) for p in paths]
    assert all(i["takes"][0]["name"] == "dusty funk drums" for i in items)
    assert "seed 1001" in items[0]["notes"] and "dusty funk drums, 120 BPM" in items[0]["notes"]
    assert [u["desc"] for u in result["undo"]] == ["MusicGen: import 3 clips"]
    assert result["running"] and not result["atexit_ran"]


def test_a_second_run_imports_nothing_new(run_script, song):
    rpp, folder = song
    write_clip(folder, 1, position_s=0.0)
    first = importer(run_script, [project(rpp)])
    # REAPER restarted, project reopened: the importer starts from what the project saved.
    second = importer(run_script, first["projects"], next_guid=first["next_guid"])
    assert len(musicgen_items(second)) == 1
    assert second["undo"] == []
    write_clip(folder, 2, position_s=4.0)
    third = importer(run_script, second["projects"], next_guid=second["next_guid"])
    assert [i["position"] for i in musicgen_items(third)] == [0.0, 4.0]


def test_ten_clips_arriving_at_once(run_script, song):
    rpp, folder = song
    for job in range(1, 11):
        write_clip(folder, job, position_s=2.0 * job)
    result = importer(run_script, [project(rpp)])
    items = musicgen_items(result)
    assert sorted(i["position"] for i in items) == [2.0 * j for j in range(1, 11)]
    assert len({i["takes"][0]["source"] for i in items}) == 10
    assert [u["desc"] for u in result["undo"]] == ["MusicGen: import 10 clips"]


def test_partial_files_are_ignored_until_the_clip_is_complete(run_script, song):
    rpp, folder = song
    part = folder / ".late_v1.wav.0123456789ab.part"
    events = [
        {"cycle": 1, "op": "write", "path": str(part), "text": "RIFF half"},
        {"cycle": 1, "op": "write", "path": str(folder / "orphan.wav"), "text": "RIFF"},
        {"cycle": 1, "op": "write", "path": str(folder / "notes.tmp"), "text": "x"},
        # The writer's order: sidecar published first, then the audio renamed into place.
        {"cycle": 8, "op": "write", "path": str(folder / "late_v1.json"),
         "text": json.dumps({"prompt": "late", "job_id": 5, "variation": 1, "position_s": 1.5,
                             "duration_s": 2.0})},
        {"cycle": 9, "op": "write", "path": str(folder / ".late_v1.wav.tmp"), "text": "RIFF"},
        {"cycle": 12, "op": "rename", "from": str(part), "to": str(folder / "late_v1.wav")},
    ]
    result = run_script(IMPORTER, {"projects": [project(rpp)], "cycles": 11, "dt": DT,
                                   "events": events})
    assert musicgen_items(result) == []  # sidecar alone, temp names, orphan: nothing yet
    result = importer(run_script, [project(rpp)], cycles=16, events=events)
    items = musicgen_items(result)
    assert [(i["position"], i["takes"][0]["name"]) for i in items] == [(1.5, "late")]
    assert result["console"].count("orphan.wav") == 1, "a skipped file is reported once"


def test_variations_of_one_job_become_takes_of_one_item(run_script, song):
    rpp, folder = song
    write_clip(folder, 7, variation=1, position_s=4.0)
    write_clip(folder, 7, variation=2, position_s=4.0)
    late = write_clip(folder, 7, variation=3, position_s=4.0)
    hidden = late.with_name(".hidden-" + late.name + ".part")
    late.rename(hidden)  # variation 3 is "still being written" when the importer starts
    events = [{"cycle": 4, "op": "rename", "from": str(hidden), "to": str(late)}]
    result = importer(run_script, [project(rpp)], cycles=8, events=events)
    items = musicgen_items(result)
    assert len(items) == 1
    assert [t["name"] for t in items[0]["takes"]] == \
        ["dusty funk drums", "dusty funk drums (v2)", "dusty funk drums (v3)"]
    assert items[0]["notes"].count("MusicGen job 7") == 3
    assert len(result["undo"]) == 2  # one undo point per scan that imported something


def test_clips_wait_for_their_own_project_tab(run_script, tmp_path):
    a, b = tmp_path / "a" / "a.rpp", tmp_path / "b" / "b.rpp"
    (a.parent / "MusicGen").mkdir(parents=True)
    (b.parent / "MusicGen").mkdir(parents=True)
    write_clip(a.parent / "MusicGen", 1, position_s=3.0)
    events = [{"cycle": 5, "op": "switch", "project": 1}]
    result = importer(run_script, [project(a), project(b)], cycles=8, current=2, events=events)
    assert [i["position"] for i in musicgen_items(result, 0)] == [3.0]
    assert musicgen_items(result, 1) == [] and result["projects"][1]["tracks"] == []


def test_waits_while_recording(run_script, song):
    rpp, folder = song
    write_clip(folder, 1, position_s=0.0)
    events = [{"cycle": 5, "op": "set", "field": "play_state", "value": 0}]
    held = importer(run_script, [project(rpp, play_state=5)], cycles=4, events=events)
    assert musicgen_items(held) == []
    done = importer(run_script, [project(rpp, play_state=5)], cycles=8, events=events)
    assert len(musicgen_items(done)) == 1


def test_a_broken_sidecar_is_reported_once_and_the_rest_still_imports(run_script, song):
    rpp, folder = song
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "broken.wav").write_bytes(b"RIFF")
    write_clip(folder, 2, position_s=1.0)
    result = importer(run_script, [project(rpp)], cycles=8)
    assert [i["position"] for i in musicgen_items(result)] == [1.0]
    assert result["console"].count("cannot read " + str(folder / "broken.json")) == 1
    assert result["running"]


def test_stopping_runs_the_cleanup(run_script, song):
    rpp, _ = song
    result = importer(run_script, [project(rpp)], cycles=10,
                      events=[{"cycle": 4, "op": "stop"}])
    assert result["atexit_ran"] and not result["running"]
    assert result["extstate"]["MusicGen/importer_alive"] == ""


def test_refused_requests_are_reported_in_the_console(run_script, song):
    rpp, folder = song
    rejected = folder / "requests" / "rejected"
    rejected.mkdir(parents=True)
    (rejected / "old.error.txt").write_text("old news", encoding="utf-8")
    events = [{"cycle": 3, "op": "write", "path": str(rejected / "new.error.txt"),
               "text": "Problems:\n  - bpm: bpm must be in 20..400, got 0"}]
    result = importer(run_script, [project(rpp)], cycles=6, events=events)
    assert "bpm must be in 20..400, got 0" in result["console"]
    assert "old news" not in result["console"]


def test_an_unsaved_project_without_a_folder_is_explained(run_script):
    result = importer(run_script, [{"file": ""}], cycles=4)
    assert result["console"].count("not saved yet") == 1
    assert result["running"]


def test_the_sidecar_fields_the_importer_reads_are_in_the_contract():
    used = lua_eval('print(table.concat(lib.SIDECAR_FIELDS_USED, "\\n"))').split()
    assert used and set(used) <= set(SIDECAR_FIELD_NAMES), set(used) - set(SIDECAR_FIELD_NAMES)

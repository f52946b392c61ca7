"""'MusicGen - Generate from time selection' writes requests the Python schema accepts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bridge.inbox.folder import parse_request
from bridge.request import GenerationRequest
from tests.reaper.reaper_support import GENERATE, project, write_running_daemon_status


def answer(prompt: str = "dusty funk drums", key: str = "A minor", variations: str = "2",
           seed: str = "-1", *extra: str) -> dict:
    return {"ok": True, "values": [prompt, key, variations, seed, *extra]}


def requests_in(folder: Path) -> list[Path]:
    return sorted((folder / "requests").glob("*.json"))


def only_request(folder: Path) -> dict:
    files = requests_in(folder)
    assert len(files) == 1, files
    leftovers = [p.name for p in (folder / "requests").iterdir() if p.name.startswith(".")]
    assert leftovers == [], "temporary files left behind"
    return json.loads(files[0].read_text(encoding="utf-8"))


def test_whole_bars_request_passes_the_python_schema(run_script, tmp_path):
    rpp = tmp_path / "song" / "song.rpp"
    result = run_script(GENERATE, {
        "projects": [project(rpp, selection=[2.0, 10.0])],
        "inputs": [answer()],
    })
    assert result["errors"] == []
    data = only_request(rpp.parent / "MusicGen")
    request = GenerationRequest.from_dict(data)  # the cross-language contract
    assert (request.prompt, request.bpm, str(request.meter), request.bars) == \
        ("dusty funk drums", 120.0, "4/4", 4)
    assert (request.key, request.variations, request.seed) == ("A minor", 2, None)
    assert request.position_s == 2.0
    assert request.client_id == "reaper"
    # Only one dialog: 8 s at 120 BPM in 4/4 is exactly 4 bars, so no bars question.
    assert len(result["dialogs"]) == 1
    assert "120 BPM, 4/4" in result["dialogs"][0]["title"]
    assert "separator=\n" in result["dialogs"][0]["captions"]


def test_meter_and_tempo_come_from_the_selection_start(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    tempo = [{"time": 0, "bpm": 120, "num": 4, "denom": 4},
             {"time": 4.0, "bpm": 90, "num": 6, "denom": 8}]
    # 6/8 at 90 BPM: a bar is 3 quarter notes = 2 s; 4.0..10.0 s is 3 bars.
    result = run_script(GENERATE, {
        "projects": [project(rpp, selection=[4.0, 10.0], tempo=tempo)],
        "inputs": [answer(variations="1")],
    })
    data = only_request(tmp_path / "MusicGen")
    assert (data["bpm"], data["meter"], data["bars"], data["position_s"]) == (90, "6/8", 3, 4.0)
    assert result["messages"] == [] or "Importer" in result["messages"][0]["text"]


def test_not_whole_bars_asks_how_many(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    result = run_script(GENERATE, {
        "projects": [project(rpp, selection=[0.0, 7.0])],  # 3.5 bars
        "inputs": [answer("pads", "", "1", "7", "3")],
    })
    dialog = result["dialogs"][0]
    assert dialog["n"] == 5
    assert "Bars (selection is 3.50)" in dialog["captions"]
    assert dialog["defaults"].split("\n")[4] == "4"  # 3.5 rounds to 4 as the suggestion
    data = only_request(tmp_path / "MusicGen")
    assert (data["bars"], data["seed"]) == (3, 7)
    GenerationRequest.from_dict(data)


def test_bad_input_is_explained_and_asked_again_keeping_the_text(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    result = run_script(GENERATE, {
        "projects": [project(rpp, selection=[0.0, 4.0])],
        "inputs": [answer("lush strings, slow", "", "12"), answer("lush strings, slow", "", "3")],
    })
    assert "Variations must be a whole number 1..8" in result["messages"][0]["text"]
    assert result["dialogs"][1]["defaults"].split("\n")[0] == "lush strings, slow"
    assert only_request(tmp_path / "MusicGen")["variations"] == 3


@pytest.mark.parametrize("prompt", ['say "hi", then \\ a tab\tand ünïcødé ♪', "a" * 2000])
def test_any_prompt_text_survives_the_json(run_script, tmp_path, prompt):
    rpp = tmp_path / "song.rpp"
    run_script(GENERATE, {"projects": [project(rpp, selection=[0.0, 2.0])],
                          "inputs": [answer(prompt)]})
    assert only_request(tmp_path / "MusicGen")["prompt"] == prompt


def test_last_values_are_remembered_and_offered_next_time(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    first = run_script(GENERATE, {"projects": [project(rpp, selection=[0.0, 2.0])],
                                  "inputs": [answer("tape hiss", "E minor", "3", "42")]})
    ext = first["extstate"]
    assert (ext["MusicGen/last_prompt"], ext["MusicGen/last_key"]) == ("tape hiss", "E minor")
    assert any(c["name"] == "SetExtState" and c["args"][3] is True for c in first["calls"]), \
        "last values must persist across REAPER restarts"
    second = run_script(GENERATE, {"projects": [project(rpp, selection=[0.0, 2.0])],
                                   "extstate": ext, "inputs": [{"ok": False}]})
    assert second["dialogs"][0]["defaults"] == "tape hiss\nE minor\n3\n42"


def test_project_settings_go_into_the_request(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    settings = {"top_k": "100", "top_p": "0.9", "temperature": "0.8", "cfg": "5",
                "quality": "lo-fi", "negative_prompt": "vocals", "variations": "4",
                "folder": str(tmp_path / "elsewhere")}
    run_script(GENERATE, {
        "projects": [project(rpp, selection=[0.0, 2.0], ext={"MusicGen": settings})],
        "inputs": [answer(variations="4")],
    })
    data = only_request(tmp_path / "elsewhere")
    request = GenerationRequest.from_dict(data)
    assert (request.top_k, request.top_p, request.temperature, request.cfg) == (100, 0.9, 0.8, 5.0)
    assert (request.quality, request.negative_prompt) == ("lo-fi", "vocals")


def test_request_parses_in_the_inbox_with_daemon_defaults(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    run_script(GENERATE, {"projects": [project(rpp, selection=[1.0, 5.0])],
                          "inputs": [answer()]})
    path = requests_in(tmp_path / "MusicGen")[0]
    base = GenerationRequest(prompt="", bpm=100.0, bars=1, top_k=123)
    request = parse_request(path.read_text(encoding="utf-8"), base, path.parent)
    assert (request.bars, request.bpm, request.top_k) == (2, 120.0, 123)


@pytest.mark.parametrize("case, message", [
    ({"selection": [3.0, 3.0]}, "Make a time selection first"),
    ({"file": "", "selection": [0.0, 2.0]}, "not saved yet"),
])
def test_nothing_is_written_without_what_it_needs(run_script, tmp_path, case, message):
    proj = {**project(tmp_path / "song.rpp"), **case}
    result = run_script(GENERATE, {"projects": [proj], "inputs": [answer()]})
    assert message in result["messages"][0]["text"]
    assert not (tmp_path / "MusicGen").exists()
    assert result["errors"] == []


def test_cancel_writes_nothing(run_script, tmp_path):
    result = run_script(GENERATE, {"projects": [project(tmp_path / "s.rpp", selection=[0, 2.0])],
                                   "inputs": [{"ok": False}]})
    assert result["messages"] == []
    assert not (tmp_path / "MusicGen" / "requests").exists()


def test_a_tempo_change_inside_the_selection_is_refused_with_the_bar(run_script, tmp_path):
    # 120 BPM 4/4 (2 s bars) for 4 bars, then 96 BPM: bar 5 starts at 8 s.
    tempo = [{"time": 0, "bpm": 120, "num": 4, "denom": 4},
             {"time": 8.0, "bpm": 96, "num": 4, "denom": 4}]
    result = run_script(GENERATE, {
        "projects": [project(tmp_path / "s.rpp", selection=[4.0, 12.0], tempo=tempo)],
        "inputs": [answer()],
    })
    [message] = result["messages"]
    assert message["text"].startswith("The tempo changes at bar 5 (120 -> 96 BPM) inside the "
                                      "selection: select a range with one tempo")
    assert result["dialogs"] == []
    assert not (tmp_path / "MusicGen" / "requests").exists()


def test_a_change_and_back_inside_the_selection_is_still_refused(run_script, tmp_path):
    # The ends agree (120 4/4), but bars 3-4 are in 7/8: comparing the ends alone misses it.
    tempo = [{"time": 0, "bpm": 120, "num": 4, "denom": 4},
             {"time": 4.0, "bpm": 120, "num": 7, "denom": 8},
             {"time": 7.5, "bpm": 120, "num": 4, "denom": 4}]
    result = run_script(GENERATE, {
        "projects": [project(tmp_path / "s.rpp", selection=[0.0, 11.5], tempo=tempo)],
        "inputs": [answer()],
    })
    [message] = result["messages"]
    assert "time signature changes at bar 3 (4/4 -> 7/8) inside the selection" in message["text"]
    assert result["dialogs"] == []


def test_a_marker_that_changes_nothing_is_not_a_change(run_script, tmp_path):
    tempo = [{"time": 0, "bpm": 120, "num": 4, "denom": 4},
             {"time": 4.0, "bpm": 120, "num": 4, "denom": 4}]
    result = run_script(GENERATE, {
        "projects": [project(tmp_path / "s.rpp", selection=[0.0, 8.0], tempo=tempo)],
        "inputs": [answer()],
    })
    assert only_request(tmp_path / "MusicGen")["bars"] == 4
    assert result["errors"] == []


def test_reminds_to_start_the_importer_only_when_it_is_not_running(run_script, tmp_path):
    scenario = {"projects": [project(tmp_path / "s.rpp", selection=[0, 2.0])],
                "inputs": [answer()]}
    cold = run_script(GENERATE, scenario)
    assert "Run 'MusicGen - Importer'" in cold["messages"][0]["text"]
    alive = {"MusicGen/importer_alive": str(int(time.time()))}  # the importer's heartbeat
    write_running_daemon_status(tmp_path / "MusicGen")  # and the daemon's
    warm = run_script(GENERATE, {**scenario, "extstate": alive})
    assert warm["messages"] == []

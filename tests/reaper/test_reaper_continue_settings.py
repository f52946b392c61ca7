"""'MusicGen - Continue from time selection' and 'MusicGen - Settings'."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.inbox.folder import parse_request
from bridge.request import REQUEST_FIELD_NAMES, GenerationRequest
from tests.reaper.reaper_support import CONTINUE, SETTINGS, lua_eval, project

USER_RENDER = {"info": {"RENDER_SETTINGS": 1, "RENDER_BOUNDSFLAG": 1},
               "info_string": {"RENDER_FILE": "/home/me/renders", "RENDER_PATTERN": "$project"}}


def continue_answer(prompt: str = "keep the groove", bars: str = "4", variations: str = "1"
                    ) -> dict:
    return {"ok": True, "values": [prompt, bars, variations]}


def test_continue_renders_the_selection_and_requests_a_continuation(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    result = run_script(CONTINUE, {
        "projects": [project(rpp, selection=[4.0, 12.0], **USER_RENDER)],
        "inputs": [continue_answer()],
    })
    assert result["errors"] == []
    render = result["renders"][0]
    assert (render["bounds"], render["settings"]) == (2, 0)  # time selection, master mix
    audio_dir = tmp_path / "MusicGen" / "requests" / "audio"
    assert render["dir"] == str(audio_dir)
    # The user's render settings are back exactly as they were.
    proj = result["projects"][0]
    assert proj["info"] == USER_RENDER["info"]
    assert proj["info_string"] == USER_RENDER["info_string"]

    files = list((tmp_path / "MusicGen" / "requests").glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text(encoding="utf-8"))
    request = GenerationRequest.from_dict(data)
    assert request.audio_prompt == str(audio_dir / (render["pattern"] + ".wav"))
    assert Path(request.audio_prompt).is_file()
    assert (request.position_s, request.bars, request.prompt_seconds) == (12.0, 4, 8.0)
    # The inbox accepts it too: the rendered file exists where the request says.
    parse_request(files[0].read_text(encoding="utf-8"), request, files[0].parent)


def test_continue_refuses_new_bars_that_cross_a_tempo_change(run_script, tmp_path):
    # 120 BPM until 16 s (bar 9), then 90: 4 bars after a selection ending at 12 s cross it.
    tempo = [{"time": 0, "bpm": 120, "num": 4, "denom": 4},
             {"time": 16.0, "bpm": 90, "num": 4, "denom": 4}]
    result = run_script(CONTINUE, {
        "projects": [project(tmp_path / "s.rpp", selection=[4.0, 12.0], tempo=tempo)],
        "inputs": [continue_answer(bars="4")],
    })
    assert "The tempo changes at bar 9 (120 -> 90 BPM) between the selection start and the end "\
           "of the new bars" in result["messages"][0]["text"]
    assert result["renders"] == []  # refused before anything was rendered or written
    assert not (tmp_path / "MusicGen" / "requests").exists()


def test_continue_uses_whatever_format_the_user_renders_to(run_script, tmp_path):
    result = run_script(CONTINUE, {
        "projects": [project(tmp_path / "s.rpp", selection=[0.0, 40.0], render_ext="flac")],
        "inputs": [continue_answer(prompt="")],
    })
    data = json.loads(next((tmp_path / "MusicGen" / "requests").glob("*.json")).read_text())
    assert data["audio_prompt"].endswith(".flac") and data["prompt"] == ""
    assert data["prompt_seconds"] == 25.0  # MusicGen reads at most the last 25 s
    assert "rendered as .flac" in result["console"]


def test_continue_explains_an_unwritable_folder(run_script, tmp_path):
    requests = tmp_path / "MusicGen" / "requests"
    requests.mkdir(parents=True)
    (requests / "audio").write_text("a file where the folder should be", encoding="utf-8")
    result = run_script(CONTINUE, {
        "projects": [project(tmp_path / "s.rpp", selection=[0.0, 4.0], **USER_RENDER)],
        "inputs": [continue_answer()],
    })
    assert "cannot create or write the folder" in result["messages"][0]["text"]
    assert list(requests.glob("*.json")) == [] and result["renders"] == []


def test_continue_explains_a_render_that_produced_nothing(run_script, tmp_path):
    result = run_script(CONTINUE, {
        "projects": [project(tmp_path / "s.rpp", selection=[0.0, 4.0], **USER_RENDER)],
        "inputs": [continue_answer()],
        "render_nothing": True,
    })
    assert "pick WAV as the format" in result["messages"][0]["text"]
    assert list((tmp_path / "MusicGen" / "requests").glob("*.json")) == []
    assert result["projects"][0]["info"] == USER_RENDER["info"]


def test_continue_restores_render_settings_even_when_rendering_fails(run_script, tmp_path):
    result = run_script(CONTINUE, {
        "projects": [project(tmp_path / "s.rpp", selection=[0.0, 4.0], **USER_RENDER)],
        "inputs": [continue_answer()],
        "fail_render": True,
    })
    proj = result["projects"][0]
    assert proj["info"] == USER_RENDER["info"] and proj["info_string"] == USER_RENDER["info_string"]
    assert "rendering failed: " in result["messages"][0]["text"]


def test_settings_are_saved_per_project_and_used_by_requests(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    values = [str(tmp_path / "daemon-out"), "2", "200", "0.95", "1.1", "4", "lo-fi", "vocals", "n"]
    result = run_script(SETTINGS, {"projects": [project(rpp)],
                                   "inputs": [{"ok": True, "values": values}]})
    saved = result["projects"][0]["ext"]["MusicGen"]
    assert saved == {"folder": str(tmp_path / "daemon-out"), "variations": "2", "top_k": "200",
                     "top_p": "0.95", "temperature": "1.1", "cfg": "4", "quality": "lo-fi",
                     "negative_prompt": "vocals"}
    assert not any(k.startswith("MusicGen/default_") for k in result["extstate"])
    assert 'musicgen-bridge serve --out "' + str(tmp_path / "daemon-out") + '"' in \
        result["messages"][0]["text"]


def test_settings_reject_out_of_range_values_and_ask_again(run_script, tmp_path):
    bad = ["", "", "5000", "", "", "", "", "", "y"]
    good = ["MusicGen", "", "", "", "", "", "", "", "y"]
    result = run_script(SETTINGS, {"projects": [project(tmp_path / "s.rpp")],
                                   "inputs": [{"ok": True, "values": bad},
                                              {"ok": True, "values": good}]})
    assert "Top-K must be a whole number 1..2048" in result["messages"][0]["text"]
    assert result["dialogs"][1]["defaults"].split("\n")[2] == "5000"
    assert result["extstate"]["MusicGen/default_folder"] == "MusicGen"  # y: default too
    assert str(tmp_path / "MusicGen") in result["messages"][1]["text"]  # relative to the .rpp


def test_setting_names_are_request_fields():
    names = lua_eval('print(table.concat(lib.SETTING_FIELDS, "\\n"))').split()
    assert names and set(names) <= set(REQUEST_FIELD_NAMES)

"""MusicGen_lib.lua: its JSON agrees with Python's, and the folder is found in the documented
order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.files import is_temp_name
from tests.reaper.reaper_support import SCRIPTS, lua_eval, project

TRICKY = {
    "text": 'quote " backslash \\ slash / tab \t newline \n bell \u0007 é ♪ 𝄞',
    "numbers": [0, -1, 7, 0.1, -2.5, 1e-7, 1.5e300, 2**53, 120.0],
    "nested": {"empty_list": [], "empty_object": {}, "flags": [True, False]},
    "unicode_key_é": "x",
}


def test_json_round_trips_with_python():
    # Python -> Lua decode -> Lua encode -> Python: nothing lost, numbers exact.
    source = json.dumps(TRICKY)
    code = f"io.write(lib.encode(assert(lib.decode({json.dumps(source)})), true))"
    assert json.loads(lua_eval(code)) == json.loads(source)
    assert lua_eval('io.write(lib.encode({x = 0.1, n = 3, f = 3.0}))') == '{"f":3.0,"n":3,"x":0.1}'


@pytest.mark.parametrize("text, message", [
    ('{"a": 1,}', "expected a string key at line 1 column 9"),
    ('{"a" 1}', "expected ':' at line 1 column 6"),
    ('[1, 2', "expected ',' or ']' at line 1 column 6"),
    ('"\\x"', "bad escape \\x"),
    ('{"a": 1} x', "extra text after the JSON value"),
    ("", "unexpected end of text"),
])
def test_json_errors_name_the_place(text, message):
    out = lua_eval(f"local v, err = lib.decode({json.dumps(text)}) io.write(tostring(v), '|', err)")
    assert out.startswith("nil|") and message in out


def test_encode_refuses_what_json_cannot_hold():
    out = lua_eval("local ok, err = pcall(lib.encode, {x = 0/0}) io.write(err)")
    assert "JSON has no" in out


FOLDER_PROBE = """
local lib = dofile(%s)
local folder, why = lib.folder(lib.current_project())
reaper.ShowConsoleMsg(tostring(folder) .. "|" .. tostring(why))
"""


@pytest.mark.parametrize("case, expected", [
    ({}, "{dir}/MusicGen|nil"),
    ({"extstate": {"MusicGen/default_folder": "/shared/out"}}, "/shared/out|nil"),
    ({"ext": {"MusicGen": {"folder": "clips"}},
      "extstate": {"MusicGen/default_folder": "/shared/out"}}, "{dir}/clips|nil"),
    ({"file": ""}, "nil|This project is not saved yet"),
    ({"file": "", "ext": {"MusicGen": {"folder": "rel"}}}, "nil|The MusicGen folder is set to"),
    ({"file": "", "ext": {"MusicGen": {"folder": "/abs"}}}, "/abs|nil"),
])
def test_folder_resolution_order(run_script, tmp_path: Path, case, expected):
    probe = tmp_path / "probe.lua"
    probe.write_text(FOLDER_PROBE % json.dumps(str(SCRIPTS / "MusicGen_lib.lua")))
    proj = {**project(tmp_path / "song.rpp"), **{k: v for k, v in case.items() if k != "extstate"}}
    result = run_script(probe, {"projects": [proj], "extstate": case.get("extstate", {})})
    assert result["console"].startswith(expected.format(dir=tmp_path))


def test_the_importer_skips_the_same_unfinished_names_as_the_daemon():
    # One rule (bridge.files.is_temp_name) on both sides: a clip the writer has not published
    # yet is never imported, and a finished one never skipped.
    names = [".clip.wav.0123456789ab.part", ".hidden.wav", "clip.wav.part", "clip.WAV.TMP",
             "clip.wav", "partial.wav", "tmp.flac"]
    code = ("for _, n in ipairs({" + ", ".join(json.dumps(n) for n in names) + "}) do "
            "io.write(tostring(lib.is_temp_name(n)), ' ') end")
    assert lua_eval(code).split() == [str(is_temp_name(n)).lower() for n in names]
    assert [is_temp_name(n) for n in names] == [True, True, True, True, False, False, False]

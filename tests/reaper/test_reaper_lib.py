"""MusicGen_lib.lua: its JSON agrees with Python's, and the folder is found in the documented
order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.files import is_temp_name
from bridge.inbox.folder import parse_request
from bridge.musical_time import Meter
from bridge.request import GenerationRequest
from tests.reaper.reaper_support import SCRIPTS, lua_eval, project

TRICKY = {
    "text": 'quote " backslash \\ slash / tab \t newline \n bell \u0007 é ♪ 𝄞',
    # json.lua writes 14 significant digits: every seed (up to 2**31 - 1) and tempo is exact.
    "numbers": [0, -1, 7, 0.1, -2.5, 1e-7, 1.5e300, 2**31 - 1, 120.0, 97.3],
    # An empty Lua table is written as [] (Lua cannot tell {} from []): no empty objects.
    "nested": {"empty_list": [], "flags": [True, False], "object": {"a": None, "b": 1}},
    "unicode_key_é": "x",
}


def test_json_round_trips_with_python():
    # Python -> Lua decode -> Lua encode -> Python: nothing lost, numbers exact.
    source = json.dumps(TRICKY)
    code = f"io.write(lib.encode(assert(lib.decode({json.dumps(source)}))))"
    # null decodes to an absent key (readers test fields with `if t.field then`).
    assert json.loads(lua_eval(code)) == {**TRICKY, "nested": {**TRICKY["nested"],
                                                               "object": {"b": 1}}}
    assert json.loads(lua_eval('io.write(lib.encode({x = 0.1, n = 3, f = 3.0}))')) == {
        "x": 0.1, "n": 3, "f": 3.0}


def test_a_request_python_wrote_survives_lua_and_reads_back_the_same(tmp_path):
    # Python writes a request with escapes and non-ASCII text (as \u escapes and as raw
    # UTF-8), the REAPER library decodes, checks and re-encodes it, and the daemon's own
    # parser reads back the very same request.
    request = GenerationRequest(
        prompt='lo-fi "tape" drums \\ 100% \t swing, café ♪ 𝄞', bpm=97.3, bars=2,
        meter=Meter(7, 8), key="F# minor", seed=2**31 - 1, top_k=200, top_p=0.9,
        temperature=1.1, cfg=4.5, variations=2, negative_prompt="vocals\nchoir",
        position_s=12.5, client_id="reaper")
    for ensure_ascii in (True, False):
        text = json.dumps(request.to_dict(), ensure_ascii=ensure_ascii)
        code = (f"local req = assert(lib.decode({json.dumps(text, ensure_ascii=False)})) "
                "assert(lib.check_request(req)) io.write(lib.encode(req))")
        back = lua_eval(code)
        assert parse_request(back, GenerationRequest(prompt="x", bpm=120, bars=4),
                             tmp_path) == request


@pytest.mark.parametrize("text, message", [
    ('{"a" 1}', "expected ':' after key at line 1 col 6"),
    ('[1, 2', "expected ']' or ',' at line 1 col 7"),
    ('{\n  "a": "\\x"}', "invalid escape char 'x' in string at line 2 col 9"),
    ('{"a": 1} x', "trailing garbage at line 1 col 10"),
    ("", "no JSON value: the text is empty"),
    ("null", "the JSON value is null"),
])
def test_json_errors_name_the_place(text, message):
    out = lua_eval(f"local v, err = lib.decode({json.dumps(text)}) io.write(tostring(v), '|', err)")
    assert out.startswith("nil|") and message in out


def test_encode_refuses_what_json_cannot_hold():
    out = lua_eval("local ok, err = pcall(lib.encode, {x = 0/0}) io.write(err)")
    assert out.startswith("cannot write JSON: unexpected number value")


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

"""The Ardour scripts as files and the shared library's pure parts (under lua5.4), and
`musicgen-bridge ardour install`. The real-Ardour round trip is test_ardour_end_to_end.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from bridge import musical_time
from bridge.cli import main
from bridge.install.ardour import ardour_scripts_dir, install_ardour_scripts
from bridge.output.sidecar import SIDECAR_FIELD_NAMES
from bridge.params import PARAMS, SEED_MAX
from bridge.request import MAX_PROMPT_CHARS, REQUEST_FIELD_NAMES, GenerationRequest
from tests.ardour.ardour_support import ARDOUR_SCRIPTS
from tests.reaper.reaper_support import find_lua, find_luac

LIB = ARDOUR_SCRIPTS / "musicgen_lib.lua"
SCRIPTS = sorted(ARDOUR_SCRIPTS.glob("musicgen_*.lua"))
ACTIONS = {
    "musicgen_generate.lua": ("EditorAction", "MusicGen: generate from range"),
    "musicgen_continue.lua": ("EditorAction", "MusicGen: continue from range"),
    "musicgen_import.lua": ("EditorAction", "MusicGen: import finished clips"),
    "musicgen_auto_import.lua": ("EditorHook", "MusicGen: import clips as they finish"),
}


def lib_eval(code: str) -> str:
    """Run ``code`` under lua5.4 with ``mg`` the library (only its Ardour-free parts)."""
    prelude = f"local mg = dofile({json.dumps(str(LIB))}); "
    result = subprocess.run([find_lua(), "-e", prelude + code], capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_compiles(path: Path):
    result = subprocess.run([find_luac(), "-p", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_each_script_has_the_header_ardour_lists_it_by():
    assert {p.name for p in SCRIPTS} == {*ACTIONS, "musicgen_lib.lua"}
    for name, (kind, title) in ACTIONS.items():
        text = (ARDOUR_SCRIPTS / name).read_text(encoding="utf-8")
        assert re.search(r'\["type"\]\s*=\s*"' + kind + '"', text), name
        assert f'name        = "{title}"' in text, name
        assert "description = [[" in text, name
        # Ardour keeps only the factory's bytecode: the code it runs must be inside it.
        assert text.index("function factory") < text.index("musicgen_lib ()"), name
    assert not re.search(r"^ardour\s*{", LIB.read_text(encoding="utf-8"), re.M)  # no header


def test_every_script_loads_the_library_with_the_same_code():
    blocks = {name: re.search(r"-- <musicgen_lib>.*?-- </musicgen_lib>",
                              (ARDOUR_SCRIPTS / name).read_text(encoding="utf-8"), re.S)
              for name in ACTIONS}
    assert all(blocks.values()), blocks
    assert len({b.group(0) for b in blocks.values()}) == 1  # one copy, repeated


def test_library_limits_match_the_request_schema():
    out = json.loads(lib_eval("print(mg.encode({l = mg.LIMITS, seed = mg.SEED_MAX, "
                              "prompt = mg.MAX_PROMPT_CHARS}))"))
    limits = out["l"]
    for name in ("top_k", "top_p", "temperature", "cfg", "variations"):
        assert limits[name] == [PARAMS[name].minimum, PARAMS[name].maximum], name
    assert limits["bpm"] == [musical_time.MIN_BPM, musical_time.MAX_BPM]
    assert limits["bars"] == [1, musical_time.MAX_BARS]
    assert (out["seed"], out["prompt"]) == (SEED_MAX, MAX_PROMPT_CHARS)
    # prompt_seconds: the schema refuses just outside the library's range.
    for bad in (limits["prompt_seconds"][0] - 0.01, limits["prompt_seconds"][1] + 0.01):
        with pytest.raises(ValueError):
            GenerationRequest.from_dict({"prompt": "x", "bpm": 120, "bars": 1,
                                         "prompt_seconds": bad})


def test_the_fields_the_importer_reads_exist_in_the_sidecar_and_manifest():
    used = json.loads(lib_eval("print(mg.encode({s = mg.SIDECAR_FIELDS_USED, "
                               "m = mg.MANIFEST_FIELDS_USED}))"))
    assert set(used["s"]) <= set(SIDECAR_FIELD_NAMES)
    writer = (ARDOUR_SCRIPTS.parent / "bridge" / "output" / "writer.py").read_text(encoding="utf-8")
    for name in used["m"]:  # the manifest line is the sidecar plus these
        assert f'"{name}": paths.' in writer, name


def test_requests_encode_to_json_python_reads_back_exactly():
    text = lib_eval(
        'io.write(mg.encode({prompt = "say \\"hi\\", ünï ♪\\n\\ttab", bpm = 97.0, bars = 2, '
        'position_s = 4.3298958333333335, top_p = 0.1, seed = -1, meter = "7/8"}))')
    data = json.loads(text)
    assert data == {"prompt": 'say "hi", ünï ♪\n\ttab', "bpm": 97.0, "bars": 2,
                    "position_s": 4.3298958333333335, "top_p": 0.1, "seed": -1, "meter": "7/8"}
    assert isinstance(data["bars"], int) and isinstance(data["bpm"], float)
    assert set(data) <= set(REQUEST_FIELD_NAMES)
    GenerationRequest.from_dict(data)


def test_the_importer_lists_only_whole_manifest_lines_of_finished_audio(tmp_path):
    lines = [
        {"audio_file": "a_v1.wav", "sidecar_file": "a_v1.json", "job_id": 1},
        {"audio_file": ".b.wav.12ab.part", "sidecar_file": "b.json"},  # never published
        {"audio_file": "c.txt", "sidecar_file": "c.json"},             # not audio
    ]
    text = "".join(json.dumps(x) + "\n" for x in lines)
    text += '{"audio_file": "d_v1.wav", "sidec'  # the daemon is still appending this one
    (tmp_path / "manifest.jsonl").write_text(text, encoding="utf-8")
    out = lib_eval(f"for _, c in ipairs(mg.finished_clips({json.dumps(str(tmp_path))})) do "
                   "print(c.name, c.sidecar) end")
    assert out.splitlines() == [f"a_v1.wav\t{tmp_path}/a_v1.json"]


def test_decode_reads_a_sidecar_and_refuses_broken_json():
    out = lib_eval('local t = mg.decode(\'{"job_id": 3, "position_s": 1.5, "prompt": "x\\\\u00e9",'
                   ' "seed": null}\'); print(t.job_id, math.type(t.job_id), t.position_s, t.prompt,'
                   ' t.seed); print(mg.decode(\'{"a": 1\'))')
    first, second = out.splitlines()
    assert first == "3\tinteger\t1.5\txé\tnil"
    assert second.startswith("nil\t") and "expected" in second


@pytest.mark.parametrize("platform, env, expected", [
    ("linux", {}, "/home/u/.config/ardour7/scripts"),
    ("linux", {"XDG_CONFIG_HOME": "/cfg"}, "/cfg/ardour7/scripts"),
    ("darwin", {"XDG_CONFIG_HOME": "/cfg"}, "/home/u/Library/Preferences/Ardour7/scripts"),
    ("win32", {"LOCALAPPDATA": "C:/Users/u/AppData/Local"},
     "C:/Users/u/AppData/Local/Ardour7/scripts"),
])
def test_scripts_folder_is_where_ardour_7_looks(platform, env, expected):
    assert ardour_scripts_dir(platform, env, Path("/home/u")).as_posix() == expected


def test_install_command_copies_the_scripts(tmp_path, capsys):
    dest = tmp_path / "scripts"
    assert main(["ardour", "install", "--scripts-dir", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == [p.name for p in SCRIPTS]
    assert (dest / "musicgen_lib.lua").read_bytes() == LIB.read_bytes()
    assert str(dest) in capsys.readouterr().out
    (dest / "mine.lua").write_text("-- the user's own", encoding="utf-8")
    install_ardour_scripts(dest)  # an update leaves other scripts alone
    assert (dest / "mine.lua").read_text(encoding="utf-8") == "-- the user's own"


def test_install_into_an_unwritable_place_says_where_and_what_to_do(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert main(["ardour", "install", "--scripts-dir", str(blocker / "scripts")]) == 2
    err = capsys.readouterr().err
    assert str(blocker / "scripts") in err and "--scripts-dir" in err

"""The Ardour scripts as files and the shared library's pure parts (under lua5.4), and
`musicgen-bridge ardour install`. The real-Ardour round trip is test_ardour_end_to_end.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge import musical_time
from bridge.cli import main
from bridge.files import is_temp_name
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


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The scripts as `musicgen-bridge ardour install` lays them out (the library loads the
    JSON codec from beside itself)."""
    dest = tmp_path_factory.mktemp("ardour7") / "scripts"  # as in Ardour's config folder
    install_ardour_scripts(dest)
    return dest


def run_lua(installed: Path, code: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``code`` under lua5.4 with ``mg`` the installed library (its Ardour-free parts)."""
    prelude = f"local mg = dofile({json.dumps(str(installed / LIB.name))}); "
    result = subprocess.run([find_lua(), "-e", prelude + code], capture_output=True, text=True,
                            timeout=20, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def lib_eval(installed):
    return lambda code: run_lua(installed, code).stdout


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


def test_library_limits_match_the_request_schema(lib_eval):
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


def test_the_fields_the_importer_reads_exist_in_the_sidecar_and_manifest(lib_eval):
    used = json.loads(lib_eval("print(mg.encode({s = mg.SIDECAR_FIELDS_USED, "
                               "m = mg.MANIFEST_FIELDS_USED}))"))
    assert set(used["s"]) <= set(SIDECAR_FIELD_NAMES)
    writer = (ARDOUR_SCRIPTS.parent / "bridge" / "output" / "writer.py").read_text(encoding="utf-8")
    for name in used["m"]:  # the manifest line is the sidecar plus these
        assert f'"{name}": paths.' in writer, name


def test_requests_encode_to_json_python_reads_back_exactly(lib_eval):
    text = lib_eval(
        'io.write(mg.encode({prompt = "say \\"hi\\", ünï ♪\\n\\ttab", bpm = 97.0, bars = 2, '
        'position_s = 4.3298958333333335, top_p = 0.1, seed = -1, meter = "7/8"}))')
    data = json.loads(text)
    assert data == {"prompt": 'say "hi", ünï ♪\n\ttab', "bpm": 97.0, "bars": 2,
                    "position_s": 4.3298958333333335, "top_p": 0.1, "seed": -1, "meter": "7/8"}
    assert isinstance(data["bars"], int)
    assert set(data) <= set(REQUEST_FIELD_NAMES)
    GenerationRequest.from_dict(data)


# What Ardour 7.3's editor runs before its scripts (LuaState::sandbox in libardour): no
# os.setlocale, rawget or debug there. Checked with `strings libardour.so.3`.
ARDOUR_SANDBOX = ("dofile = nil require = nil package = nil debug = nil os.exit = nil "
                  "os.setlocale = nil rawget = nil rawset = nil coroutine = nil module = nil ")


def as_in_ardour(installed: Path) -> str:
    """Lua that closes the sandbox, then reads and loads the library as the scripts do
    (ARDOUR.user_config_directory is the one piece of Ardour's API it needs)."""
    path = json.dumps(str(installed / LIB.name))
    config = json.dumps(str(installed.parent))
    return (ARDOUR_SANDBOX + f"ARDOUR = {{user_config_directory = function () return {config} end}}; "
            f"local f = io.open({path}, 'rb'); "
            f"local mg = load(f:read('a'), '@' .. {path})(); f:close(); ")


@pytest.fixture(scope="module")
def comma_locale(tmp_path_factory) -> dict[str, str]:
    """An environment where de_DE.UTF-8 (decimal comma) exists, compiled with localedef."""
    where = tmp_path_factory.mktemp("locale")
    localedef = shutil.which("localedef")
    assert localedef, "localedef (Debian libc-bin) is needed to make a comma-decimal locale"
    subprocess.run([localedef, "-i", "de_DE", "-f", "UTF-8", str(where / "de_DE.UTF-8")],
                   capture_output=True, check=False, timeout=120)
    assert (where / "de_DE.UTF-8").is_dir(), "localedef could not build de_DE.UTF-8"
    return {**os.environ, "LOCPATH": str(where)}


def test_requests_in_ardours_sandbox_with_a_comma_locale_are_exact_json(installed, comma_locale):
    # The locale is set and the sandbox closed before the library loads, as in the editor.
    code = ('assert(string.format("%.1f", 97.5) == "97,5", "not a comma locale"); '
            + as_in_ardour(installed)
            + 'io.write(mg.encode({bpm = 97.0, position_s = 4.3298958333333335, top_p = 0.1, '
            'seed = 2147483647, temperature = 1.25, bars = 2, meter = "7/8", prompt = "a, b", '
            'cfg = 3, key = "", client_id = "ardour"}))')
    result = subprocess.run([find_lua(), "-e", 'os.setlocale("de_DE.UTF-8", "numeric"); ' + code],
                            capture_output=True, text=True, timeout=20, env=comma_locale)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == {"bpm": 97.0, "position_s": 4.3298958333333335, "top_p": 0.1,
                    "seed": 2147483647, "temperature": 1.25, "bars": 2, "meter": "7/8",
                    "prompt": "a, b", "cfg": 3, "key": "", "client_id": "ardour"}
    request = GenerationRequest.from_dict(data)
    assert (request.seed, request.bpm, request.temperature) == (2147483647, 97.0, 1.25)


def test_sidecars_decode_in_a_comma_locale(installed, comma_locale):
    code = ('os.setlocale("de_DE.UTF-8", "numeric"); ' + as_in_ardour(installed)
            + 'local t = mg.decode(\'{"bpm": 97.5, "seed": 2147483647, "position_s": 0.25}\'); '
            'print(t.bpm * 2, math.type(t.seed), t.seed, t.position_s * 4)')
    result = subprocess.run([find_lua(), "-e", code], capture_output=True, text=True,
                            timeout=20, env=comma_locale)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["195,0", "integer", "2147483647", "1,0"]


@pytest.mark.parametrize("value", ["0/0", "math.huge", "-math.huge"])
def test_non_finite_numbers_are_refused_with_a_reason(lib_eval, value):
    out = lib_eval(f"print(select(2, pcall(mg.encode, {{bpm = {value}}})))")
    assert out.startswith("cannot write JSON: ") and "must be finite" in out, out
    assert ".lua:" not in out  # no file and line of the codec in front


def test_a_missing_json_codec_names_the_file_and_the_fix(installed, tmp_path):
    lone = tmp_path / LIB.name
    lone.write_bytes((installed / LIB.name).read_bytes())
    result = subprocess.run([find_lua(), "-e", f"dofile({json.dumps(str(lone))})"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert str(tmp_path / "musicgen_json.lua") in result.stderr
    assert "musicgen-bridge ardour install" in result.stderr


def test_the_importer_lists_only_whole_manifest_lines_of_finished_audio(lib_eval, tmp_path):
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


def test_decode_reads_a_sidecar_and_refuses_broken_json(lib_eval):
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
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [p.name for p in SCRIPTS] + ["musicgen_json.lua"])
    assert (dest / "musicgen_lib.lua").read_bytes() == LIB.read_bytes()
    # The one vendored copy of rxi's json.lua, shared with the REAPER scripts.
    codec = ARDOUR_SCRIPTS.parent / "reaper_scripts" / "MusicGen_json.lua"
    assert (dest / "musicgen_json.lua").read_bytes() == codec.read_bytes()
    assert not re.search(r"^ardour\s*{", codec.read_text(encoding="utf-8"), re.M)  # not listed
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


def test_the_ardour_importer_skips_the_same_unfinished_names_as_the_daemon(lib_eval):
    # The rule is bridge.files.is_temp_name; the Ardour library runs in Ardour's own Lua and
    # carries its own copy, so the copy is checked against the daemon's on the same names.
    names = [".clip.wav.0123456789ab.part", ".hidden.wav", "clip.wav.part", "clip.WAV.TMP",
             "clip.wav", "partial.wav", "tmp.flac"]
    code = ("for _, n in ipairs({" + ", ".join(json.dumps(n) for n in names) + "}) do "
            "io.write(tostring(mg.is_temp_name(n)), ' ') end")
    assert lib_eval(code).split() == [str(is_temp_name(n)).lower() for n in names]
    assert [is_temp_name(n) for n in names] == [True, True, True, True, False, False, False]

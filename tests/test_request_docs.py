"""docs/requests.md and reaper_scripts/MusicGen_schema.lua are renderings of the schema."""

from __future__ import annotations

import json
import subprocess

import pytest

from bridge.params import PARAMS
from bridge.request import REQUEST_FIELDS, GenerationRequest
from tests.reaper.reaper_support import find_lua, lua_eval
from tools import request_docs

# Requests as a script would write them; whether the daemon takes each is written here, not
# asked of the code under test.
ACCEPTED = [
    request_docs.EXAMPLE,
    {"prompt": "x", "bpm": 400, "bars": 512, "top_k": 2048, "seed": None, "tempo_lock": None},
    {"prompt": "x", "bpm": 20, "bars": 1, "temperature": 0.05, "cfg": 15, "variations": 8},
]
REFUSED = [
    {"prompt": "x", "bpm": 401, "bars": 4},
    {"prompt": "x", "bpm": 120, "bars": 513},
    {"prompt": "x", "bpm": 120, "bars": 2.5},
    {"prompt": "x", "bpm": 120, "bars": 4, "top_k": 2049},
    {"prompt": "x", "bpm": 120, "bars": 4, "temperature": 0.01},
    {"prompt": "x", "bpm": 120},
    {"prompt": 3, "bpm": 120, "bars": 4},
    {"prompt": "x", "bpm": 120, "bars": 4, "colour": "red"},
]


def test_generated_files_match_the_schema():
    assert request_docs.stale() == [], "run python -m tools.request_docs --write"


def test_docs_name_every_field_and_the_example_is_a_valid_request():
    text = request_docs.render_markdown()
    for f in REQUEST_FIELDS:
        assert f"| `{f.name}` |" in text
    GenerationRequest.from_dict(request_docs.EXAMPLE)
    assert json.dumps(request_docs.EXAMPLE, indent=2) in text


def test_lua_schema_carries_every_field_and_range():
    lua = subprocess.run(
        [find_lua(), "-e", f"local s = dofile({json.dumps(str(request_docs.LUA_SCHEMA_PATH))}) "
         "for _, f in ipairs(s.fields) do print(f.name, f.type, f.required) end "
         "for k, p in pairs(s.params) do print('param', k, p.min, p.max) end"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    fields = [line.split("\t") for line in lua if not line.startswith("param")]
    assert fields == [[f.name, f.json_type, str(f.required).lower()] for f in REQUEST_FIELDS]
    params = {parts[1]: (float(parts[2]), float(parts[3]))
              for parts in (line.split("\t") for line in lua if line.startswith("param"))}
    assert params == {name: (p.minimum, p.maximum) for name, p in PARAMS.items()}


def lua_verdict(request: dict) -> str:
    """What the Reaper scripts' own check (MusicGen_lib.check_request, reading the generated
    Lua schema) says of ``request``: "ok" or its problems."""
    code = (f"local req = assert(lib.decode({json.dumps(json.dumps(request))})) "
            "local ok, problems = lib.check_request(req) io.write(ok and 'ok' or problems)")
    return lua_eval(code)


@pytest.mark.parametrize("request_", ACCEPTED)
def test_a_request_the_daemon_takes_passes_the_scripts_check(request_):
    GenerationRequest.from_dict(request_)
    assert lua_verdict(request_) == "ok"


@pytest.mark.parametrize("request_", REFUSED)
def test_a_request_the_daemon_refuses_is_caught_by_the_scripts_first(request_):
    with pytest.raises(ValueError):
        GenerationRequest.from_dict(request_)
    assert lua_verdict(request_) != "ok"

"""docs/requests.md and reaper_scripts/MusicGen_schema.lua are renderings of the schema."""

from __future__ import annotations

import json
import subprocess

from bridge.params import PARAMS
from bridge.request import REQUEST_FIELDS, GenerationRequest
from tests.reaper.reaper_support import find_lua
from tools import request_docs


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

"""docs/schema.json, docs/config.md and docs/sidecar.md are renderings of the models, and the
schema agrees with the daemon when an independent validator (jsonschema) applies it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import jsonschema
import pytest
import tomlkit

from bridge import config as config_mod
from bridge.output.settings import OutputSettings
from bridge.output.sidecar import build_sidecar
from bridge.request import GenerationRequest
from tests.test_request_docs import ACCEPTED, REFUSED
from tools import schema as schema_mod


@pytest.fixture(scope="module")
def schema():
    # The committed file, as a DAW-side tool would read it.
    doc = json.loads(schema_mod.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


def validator(schema, entry):
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/properties/{entry}"})


def test_generated_files_are_up_to_date():
    assert schema_mod.stale() == [], "run python -m tools.schema --write"


@pytest.mark.parametrize("request_", ACCEPTED)
def test_requests_the_daemon_takes_match_the_schema(schema, request_):
    GenerationRequest.from_dict(request_)
    validator(schema, "request").validate(request_)


@pytest.mark.parametrize("request_", REFUSED)
def test_requests_the_daemon_refuses_break_the_schema(schema, request_):
    with pytest.raises(ValueError):
        GenerationRequest.from_dict(request_)
    assert not validator(schema, "request").is_valid(request_)


def test_a_written_sidecar_matches_the_schema(schema):
    request = GenerationRequest(prompt="dusty drums", bpm=96, bars=2, position_s=3.0)
    sidecar = build_sidecar(request, full_prompt="dusty drums, 96 BPM", seed=5, model="tiny",
                            settings=OutputSettings(), frames=240000, job_id=3, variation=1,
                            created=datetime(2026, 1, 2, tzinfo=timezone.utc),
                            extra={"stretch_ratio": 1.01})
    check = validator(schema, "sidecar")
    check.validate(json.loads(json.dumps(sidecar)))
    del sidecar["seed"]
    assert not check.is_valid(sidecar)


@pytest.mark.parametrize("text", [
    "[output]\nchannels = 3\n", "[osc]\nprot = 1\n", "[ocs]\n", '[log]\nlevel = "LOUD"\n',
    "[generation]\ntop_k = 0\n", "[midi]\nmappings = { cfg = 30 }\n",
])
def test_config_files_the_daemon_refuses_break_the_schema(schema, tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(config_mod.ConfigError):
        config_mod.load(path)
    assert not validator(schema, "config").is_valid(tomlkit.parse(text).unwrap())


def test_the_config_init_file_matches_the_schema(schema):
    check = validator(schema, "config")
    check.validate(tomlkit.parse(config_mod.render_default()).unwrap())
    check.validate({"osc": {"port": 9100}, "midi": {"mappings": {"cfg": {"cc": 30}}}})


def test_config_doc_lists_every_key_config_init_writes():
    written = tomlkit.parse(config_mod.render_default()).unwrap()
    doc = schema_mod.render_config_doc()
    for section, keys in written.items():
        assert f"## [{section}]" in doc
        for key in keys:
            assert f"| `{key}` |" in doc, (section, key)

import pytest

from bridge import config as config_mod
from bridge.config import ConfigError


def test_config_init_writes_a_commented_file_that_loads_to_the_defaults(tmp_path):
    path = config_mod.write_default(tmp_path / "c.toml")
    text = path.read_text()
    assert "# classifier-free guidance" in text and "top_k = 250" in text
    assert config_mod.load(path).values == config_mod.defaults().values
    with pytest.raises(ConfigError, match="--force"):
        config_mod.write_default(path)


@pytest.mark.parametrize("body, message", [
    ('[output]\nsample_rate = "fast"\n', r"\[output\] sample_rate = 'fast' is invalid: expected an integer"),
    ("[generation]\ntop_k = 0\n", r"top_k = 0 is invalid: top_k must be in 1\.\.2048"),
    ("[generation]\nmeter = \"5/3\"\n", "power of two"),
    ("[osc]\nfeedback = [\"nowhere\"]\n", "HOST:PORT"),
    ("[ocs]\nport = 1\n", r"unknown section \[ocs\]"),
    ("[osc]\nprot = 1\n", r"unknown key \[osc\] prot"),
    ("[osc\n", "not valid TOML"),
])
def test_invalid_files_are_refused_with_key_value_and_expectation(tmp_path, body, message):
    path = tmp_path / "c.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message) as err:
        config_mod.load(path)
    assert str(path) in str(err.value)


def test_missing_explicit_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="config init"):
        config_mod.load(tmp_path / "nope.toml")


def test_user_values_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[generation]\nbpm = 96\n[output]\nproject_dir = "{tmp_path}"\n')
    config = config_mod.load(path)
    assert config.generation.bpm == 96.0
    assert config.output_dir == tmp_path / "MusicGen"
    assert config.with_overrides({("osc", "port"): 9100}).osc.port == 9100
    with pytest.raises(ConfigError, match="command line"):
        config.with_overrides({("output", "channels"): 3})


def test_default_location_is_per_user_and_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "x.toml"))
    assert config_mod.default_config_path() == tmp_path / "x.toml"
    assert config_mod.load().values == config_mod.defaults().values

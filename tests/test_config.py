import pytest

from bridge import config as config_mod
from bridge.config import ConfigError


def test_config_init_writes_a_commented_file_that_loads_to_the_defaults(tmp_path):
    path = config_mod.write_default(tmp_path / "c.toml")
    text = path.read_text()
    assert "# classifier-free guidance" in text and "top_k = 250" in text
    assert config_mod.load(path).sections() == config_mod.defaults().sections()
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
    assert config_mod.load().sections() == config_mod.defaults().sections()


def test_every_problem_in_a_file_is_reported_at_once(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[output]\nchannels = 3\nlufs = "loud"\n[osc]\nprot = 1\n[midi]\n'
                    'tempo_source = "drum"\n[colours]\nred = 1\n')
    with pytest.raises(ConfigError) as err:
        config_mod.load(path)
    lines = str(err.value).splitlines()
    assert lines == [
        f"{path}: [output] channels = 3 is invalid: expected an integer 1..2",
        f"{path}: [output] lufs = 'loud' is invalid: expected a number -40..0",
        f"{path}: unknown key [osc] prot (known: enabled, host, port, allow, feedback, "
        "abletonosc, abletonosc_host, abletonosc_port, abletonosc_reply_port)",
        f"{path}: [midi] tempo_source = 'drum' is invalid: expected one of 'auto', 'osc', "
        "'clock', 'manual'",
        f"{path}: unknown section [colours] (known: model, generation, prompt, output, queue, "
        "osc, midi, inbox, fit, log)",
    ]


def test_a_section_that_is_not_a_table_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('osc = 5\n')
    with pytest.raises(ConfigError, match=r"\[osc\] must be a table"):
        config_mod.load(path)

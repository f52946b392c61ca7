"""MIDI learn: detecting how a control talks, and saving it without losing the user's file."""

from __future__ import annotations

import os

import pytest

from bridge.config import load, render_default
from bridge.midi.learn import (
    NOT_KNOBS,
    ConfigFile,
    Learner,
    check_learnable,
    classify,
    save_binding,
)
from bridge.midi.mapping import DEFAULT_BINDINGS, Binding, parse_mappings


@pytest.mark.parametrize("values, mode", [
    ([40, 41, 42, 43, 45, 47], "absolute"),  # a knob sweep
    ([126, 127], "absolute"),
    ([63, 64, 65, 64, 63], "absolute"),  # a knob wiggled around the middle
    ([63, 64, 64, 65], "absolute"),  # one duplicate is no encoder
    ([1, 1, 1, 1], "relative-twos"),  # turned clockwise, slowly
    ([1, 1, 2, 127, 127], "relative-twos"),  # both ways
    ([127, 127, 127, 126], "relative-twos"),
    ([127, 127, 126, 125], "absolute"),  # one repeat near the top: a fader, more likely
    ([65, 65, 66, 63, 63], "relative-offset"),
    ([63, 63, 63, 62], "relative-offset"),
    ([1, 1, 65, 65, 66], "relative-sign"),
    ([65, 1, 65, 1], "relative-sign"),
])
def test_classify(values, mode):
    assert classify(values) == mode


def test_learner_binds_the_first_moved_control_on_its_channel():
    learner = Learner("cfg", now=0.0)
    learner.feed(3, 0, 1, 0.1)  # bank select (before a program change): not a knob
    learner.feed(3, 74, 50, 0.2)
    learner.feed(4, 75, 10, 0.25)  # another control afterwards is ignored
    learner.feed(3, 74, 52, 0.3)
    assert not learner.done(0.5)
    assert learner.done(0.81)
    assert learner.result() == Binding("cfg", 74, 3, "absolute")


def test_learner_detects_a_14bit_pair_and_relative_encoders():
    learner = Learner("temperature", now=0.0)
    for i, (cc, v) in enumerate([(1, 64), (33, 0), (1, 64), (33, 20)]):
        learner.feed(0, cc, v, 0.01 * i)
    assert learner.result() == Binding("temperature", 1, 0, "absolute14", lsb=33)
    learner = Learner("cfg", now=0.0)
    for i, v in enumerate([65, 65, 65, 63, 63]):
        learner.feed(9, 20, v, 0.01 * i)
    assert learner.result().mode == "relative-offset"


def test_learner_keeps_the_previous_sub_range_and_stops_after_enough_messages():
    learner = Learner("top_k", now=0.0)
    for i in range(30):
        learner.feed(0, 30, i, 0.001 * i)
    assert learner.done(0.05)  # 24 messages are plenty; no need to wait for the window
    previous = Binding("top_k", 21, None, minimum=10, maximum=500, takeover=False)
    assert learner.result(previous) == Binding("top_k", 30, 0, minimum=10, maximum=500,
                                               takeover=False)


def test_learner_times_out_and_refuses_non_knobs():
    learner = Learner("cfg", now=0.0, timeout_s=5)
    assert not learner.done(4.9) and learner.done(5.0)
    assert learner.result() is None
    assert {0, 32, 99, 120, 127} <= NOT_KNOBS
    with pytest.raises(ValueError, match="cannot learn 'variations': not a knob parameter"):
        check_learnable("variations")


# ---- saving ----

USER_FILE = """\
# My studio config -- do not lose this comment
[model]
name = "facebook/musicgen-small"  # the small one fits my laptop

[osc]
port = 9100  # Reaper sends here

[midi]
# my nanoKONTROL
inputs = ["nanoKONTROL2"]

[midi.mappings]
# knob 1 does temperature
temperature = { cc = 16, min = 0.5, max = 2.0 }  # gentle range
top_p = { cc = 17 }
"""


def comments(text: str) -> list[str]:
    return [line[line.index("#"):] for line in text.splitlines() if "#" in line]


def test_save_keeps_comments_layout_and_other_settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USER_FILE)
    save_binding(ConfigFile(path, load), Binding("cfg", 18, 0, "relative-twos"))
    text = path.read_text()
    assert comments(text) == comments(USER_FILE)
    assert text.startswith(USER_FILE)  # nothing rewritten, the new row appended
    assert 'cfg = {channel = 1, cc = 18, mode = "relative-twos"}' in text
    config = load(path)
    assert config.osc.port == 9100 and config.midi.inputs == ["nanoKONTROL2"]
    assert {b.param: b.cc for b in parse_mappings(config.midi.mappings)} == {
        "temperature": 16, "top_p": 17, "cfg": 18}


def test_save_replaces_the_param_row_and_drops_rows_that_lost_their_control(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USER_FILE)
    save_binding(ConfigFile(path, load), Binding("temperature", 20, 0, minimum=0.5, maximum=2.0))
    save_binding(ConfigFile(path, load), Binding("cfg", 17, None))  # top_p's control (any channel) moves to cfg
    bindings = {b.param: b for b in parse_mappings(load(path).midi.mappings)}
    assert set(bindings) == {"temperature", "cfg"}
    assert bindings["temperature"] == Binding("temperature", 20, 0, minimum=0.5, maximum=2.0)
    assert "# knob 1 does temperature" in path.read_text()


def test_save_into_a_config_init_file_writes_the_defaults_out_first(tmp_path):
    path = tmp_path / "config.toml"
    original = render_default()
    path.write_text(original)
    save_binding(ConfigFile(path, load), Binding("cfg", 30, 1))
    text = path.read_text()
    assert comments(text) == comments(original)
    bindings = parse_mappings(load(path).midi.mappings)
    # Learning one knob must not unmap the other three defaults.
    assert {b.param: (b.channel, b.cc) for b in bindings} == {
        **{b.param: (None, b.cc) for b in DEFAULT_BINDINGS}, "cfg": (1, 30)}


def test_save_creates_a_missing_file_and_section(tmp_path):
    path = tmp_path / "new" / "config.toml"
    save_binding(ConfigFile(path, load), Binding("top_k", 21, 0))
    assert parse_mappings(load(path).midi.mappings)[-1] == Binding("top_k", 21, 0)
    other = tmp_path / "other.toml"
    other.write_text("# just a comment\n[osc]\nport = 9300\n")
    save_binding(ConfigFile(other, load), Binding("top_k", 21, 0))
    assert other.read_text().startswith("# just a comment\n[osc]\nport = 9300\n")
    assert load(other).osc.port == 9300


def test_save_follows_a_symlink_and_keeps_the_file_mode(tmp_path):
    real = tmp_path / "dotfiles" / "musicgen.toml"
    real.parent.mkdir()
    real.write_text(USER_FILE)
    real.chmod(0o640)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    assert save_binding(ConfigFile(link, load), Binding("cfg", 18, 0)) == real
    assert link.is_symlink() and "cfg = " in real.read_text()
    assert os.stat(real).st_mode & 0o777 == 0o640


def test_a_broken_file_is_left_alone(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[midi\nbroken = ")
    with pytest.raises(ValueError, match="not valid TOML"):
        save_binding(ConfigFile(path, load), Binding("cfg", 18, 0))
    assert path.read_text() == "[midi\nbroken = "
    path.write_text("[midi]\nmappings = 3\n")
    with pytest.raises(ValueError, match="mappings is not a table"):
        save_binding(ConfigFile(path, load), Binding("cfg", 18, 0))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind

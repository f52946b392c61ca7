"""The command line end to end, in subprocesses, on the tiny offline model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from bridge import __version__
from bridge.cli import main


def run(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


@pytest.fixture
def no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "absent.toml"))


def test_version_and_help():
    assert run("--version").stdout.strip() == f"musicgen-bridge {__version__}"
    for command in ("generate", "serve", "config", "tiny-model"):
        result = run(command, "--help")
        assert result.returncode == 0 and "usage: musicgen-bridge" in result.stdout


@pytest.mark.parametrize("bpm, meter, bars, rate, fmt, frames", [
    # 2 bars of 4 quarters at 0.5 s: 4 s * 48000
    (120, "4/4", 2, 48000, "wav", 192000),
    # a 7/8 bar is 3.5 quarters of 60/97 s; 3 bars = 630/97 s * 44100 = 286422.68 -> 286423
    (97, "7/8", 3, 44100, "flac", 286423),
])
def test_generate_writes_bar_exact_clips_and_prints_paths(tiny_model_dir, tmp_path, no_user_config,
                                                          bpm, meter, bars, rate, fmt, frames):
    out = tmp_path / "clips"
    result = run("generate", "--model", str(tiny_model_dir), "--prompt", "dusty funk drums",
                 "--bpm", str(bpm), "--meter", meter, "--bars", str(bars), "--seed", "7",
                 "--variations", "2", "--format", fmt, "--rate", str(rate), "--out", str(out))
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.split()]
    assert len(paths) == 2 and all(p.parent == out and p.suffix == f".{fmt}" for p in paths)
    for path in paths:
        info = sf.info(path)
        assert info.samplerate == rate
        assert info.frames == frames
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["seed"] == 7 and sidecar["meter"] == meter and sidecar["bars"] == bars
        assert f"{bpm} BPM, {meter} time signature" in sidecar["full_prompt"]
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("args, message", [
    (["--bpm", "0"], "bpm must be in"),
    (["--bpm", "500"], "bpm must be in"),
    (["--meter", "5/3"], "power of two"),
    (["--meter", "4/0"], "power of two"),
    (["--bars", "0"], "bars must be a whole number"),
    (["--bars", "61"], "longest clip allowed (120 s)"),
    (["--top-k", "0"], "top_k must be in 1..2048"),
])
def test_bad_input_gets_one_clear_message_and_writes_nothing(tiny_model_dir, tmp_path,
                                                             no_user_config, capsys, args,
                                                             message):
    # In-process (the same main() the console script runs): a subprocess per case costs a
    # torch import each; test_bad_input_exit_status_in_a_subprocess covers the real process.
    out = tmp_path / "clips"
    status = main(["generate", "--model", str(tiny_model_dir), "--prompt", "x", "--bpm", "120",
                   "--bars", "2", "--out", str(out), *args])
    assert status != 0
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("musicgen-bridge")]
    assert len(errors) == 1 and message in errors[0], stderr
    assert not out.exists() or not [p for p in out.iterdir() if p.suffix in (".wav", ".flac")]


def test_bad_input_exit_status_in_a_subprocess(tmp_path, no_user_config):
    result = run("generate", "--prompt", "x", "--bpm", "0", "--bars", "2",
                 "--out", str(tmp_path / "clips"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "musicgen-bridge: error: bpm: bpm must be in 20..400, got 0.0")


def test_missing_model_path_is_named(tmp_path, no_user_config):
    result = run("generate", "--model", str(tmp_path / "nope"), "--prompt", "x", "--bpm", "120",
                 "--bars", "1", "--out", str(tmp_path / "clips"))
    assert result.returncode != 0
    assert str(tmp_path / "nope") in result.stderr


def test_not_a_musicgen_checkpoint_is_refused(tmp_path, no_user_config):
    folder = tmp_path / "notamodel"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    result = run("generate", "--model", str(folder), "--prompt", "x", "--bpm", "120",
                 "--bars", "1", "--out", str(tmp_path / "clips"))
    assert result.returncode != 0 and "musicgen-bridge: error:" in result.stderr


def test_config_init_and_path(tmp_path):
    path = tmp_path / "cfg" / "config.toml"
    assert run("config", "init", "--config", str(path)).returncode == 0
    assert "[generation]" in path.read_text()
    again = run("config", "init", "--config", str(path))
    assert again.returncode != 0 and "--force" in again.stderr
    assert run("config", "path", "--config", str(path)).stdout.strip() == str(path)


def test_invalid_config_is_refused_with_key_and_value(tmp_path, tiny_model_dir):
    path = tmp_path / "config.toml"
    path.write_text("[generation]\ncfg = 40\n")
    result = run("generate", "--config", str(path), "--model", str(tiny_model_dir),
                 "--prompt", "x", "--bpm", "120", "--bars", "1")
    assert result.returncode != 0
    assert "[generation] cfg = 40 is invalid" in result.stderr


def test_tiny_model_twice_keeps_the_first(tmp_path):
    # README's first command must still work when a user runs it a second time.
    target = tmp_path / "tiny"
    assert run("tiny-model", str(target)).returncode == 0
    weights = target / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = run("tiny-model", str(target))
    assert again.returncode == 0 and "kept it" in again.stderr
    assert weights.stat().st_mtime_ns == before


def test_engine_auto_takes_the_fast_engine_on_the_cpu_and_the_reference_on_request(
        tiny_model_dir):
    from bridge import config as config_mod
    from bridge.engine.loader import load_engine

    base = config_mod.defaults().with_overrides({("model", "name"): str(tiny_model_dir),
                                                 ("model", "device"): "cpu"})
    assert base.model.engine == "auto"
    assert load_engine(base.model).name == "fast"
    reference = base.with_overrides({("model", "engine"): "transformers"})
    assert load_engine(reference.model).name == "transformers"


def test_generate_continues_an_audio_file(tiny_model_dir, tmp_path, no_user_config, capsys,
                                          monkeypatch):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    t = np.arange(3 * 32000) / 32000
    sf.write(tmp_path / "take.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
             32000)
    status = main(["generate", "--model", str(tiny_model_dir), "--prompt", "more of this",
                   "--bpm", "120", "--bars", "1", "--seed", "3", "--audio-prompt", "take.wav",
                   "--prompt-seconds", "2", "--out", str(tmp_path / "clips"), "--no-progress"])
    assert status == 0, capsys.readouterr().err
    (path,) = capsys.readouterr().out.split()
    assert sf.info(path).frames == 96000  # one 4/4 bar at 120 BPM: 2 s * 48000
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert sidecar["audio_prompt"] == str(tmp_path / "take.wav")  # made absolute
    assert sidecar["prompt_end_s"] - sidecar["prompt_start_s"] == pytest.approx(2.0)


def test_a_melody_request_on_a_plain_model_is_refused(tiny_model_dir, tmp_path, no_user_config,
                                                      capsys):
    status = main(["generate", "--model", str(tiny_model_dir), "--prompt", "x", "--bpm", "120",
                   "--bars", "1", "--melody", str(tmp_path / "tune.wav"),
                   "--out", str(tmp_path / "clips")])
    assert status != 0
    assert "facebook/musicgen-melody" in capsys.readouterr().err


def test_help_shows_examples_and_the_defaults_of_bars_and_meter():
    top = run("--help").stdout
    assert "examples:" in top and "musicgen-bridge doctor" in top
    gen = run("generate", "--help").stdout
    assert "examples:" in gen
    squashed = " ".join(gen.split())
    assert "length in bars (default: config, 4)" in squashed
    assert '(default: config, 4/4)' in squashed
    assert "(default: config, 120)" in squashed


def test_a_mistyped_command_gets_did_you_mean(capsys):
    assert main(["genrate", "--prompt", "x"]) == 2
    assert "unknown command 'genrate'; did you mean 'generate'?" in capsys.readouterr().err
    assert main(["xyzzy"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'xyzzy'; commands: generate, serve" in err
    with pytest.raises(SystemExit) as exit_:
        main(["reaper", "instal"])
    assert exit_.value.code == 2
    assert "did you mean 'install'?" in capsys.readouterr().err


def test_the_progress_bar_labels_its_stages(capsys):
    from bridge.cli import _ProgressBar

    bar = _ProgressBar(enabled=True)
    bar.update(0.0)
    bar.update(0.5)
    bar.update(1.0)
    bar.update(1.0, "writing")
    bar.close()
    err = capsys.readouterr().err
    stages = [s for s in ("generating", "finishing", "writing") if s in err]
    assert stages == ["generating", "finishing", "writing"]
    assert err.index("generating") < err.index("finishing") < err.index("writing")
    assert "\r   " not in err  # no unlabelled bar first
    assert "100%" in err


@pytest.mark.slow
def test_on_a_terminal_the_bar_is_labelled_and_log_lines_never_cross_it(tiny_model_dir, tmp_path,
                                                                         no_user_config):
    import fcntl
    import pty
    import re
    import struct
    import termios

    master, slave = pty.openpty()
    # A terminal 30 rows by 100 columns, as a window has (a fresh pty is 0 x 0).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    os.set_blocking(master, True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "generate", "--model", str(tiny_model_dir), "--prompt",
         "x", "--bars", "1", "--seed", "1", "--out", str(tmp_path / "out")],
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    stages = [s for s in ("generating", "finishing", "writing") if s in screen]
    assert stages == ["generating", "finishing", "writing"], repr(screen[-3000:])
    # Every log line starts a line of its own: nothing of a bar before it on that line.
    for match in re.finditer(r"[^\r\n]*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (WARNING|INFO)", screen):
        assert re.fullmatch(r"\s*\d{4}.*", match.group(0)), repr(match.group(0))

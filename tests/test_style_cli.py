"""`musicgen-bridge style train` and `style list` on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from bridge.cli import main


def test_style_train_then_list(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSICGEN_BRIDGE_STYLES", str(tmp_path / "styles"))
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "none.toml"))
    clips = []
    for i in range(5):
        t = np.arange(6 * 16_000) / 16_000
        path = tmp_path / f"loop{i}.flac"
        sf.write(path, 0.4 * np.sign(np.sin(2 * np.pi * (80 + 40 * i) * t)), 16_000)
        clips.append(str(path))
    code = main(["style", "train", "square", *clips, "--describe", "square bass",
                 "--epochs", "1", "--model", str(tiny_model_dir), "--device", "cpu",
                 "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.strip() == str(tmp_path / "styles" / "square")
    assert "4 steps, 1 epochs" in out.err
    assert main(["style", "list"]) == 0
    assert capsys.readouterr().out.startswith(f"square\t{tiny_model_dir}\t5 clips\tsquare bass")
    # and generate with it: the sidecar says which style, at which strength
    code = main(["generate", "--prompt", "bass", "--bpm", "240", "--bars", "1", "--seed", "1",
                 "--style", "square", "--style-strength", "1.5", "--no-tempo-lock",
                 "--model", str(tiny_model_dir), "--device", "cpu", "--out", str(tmp_path / "out"),
                 "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    sidecar = json.loads(Path(out.out.strip()).with_suffix(".json").read_text())
    assert (sidecar["style"], sidecar["style_strength"]) == ("square", 1.5)
    assert sidecar["full_prompt"].endswith(", square")


def test_style_train_refuses_too_few_clips_before_training(tiny_model_dir, tmp_path,
                                                           monkeypatch, capsys):
    monkeypatch.setenv("MUSICGEN_BRIDGE_STYLES", str(tmp_path / "styles"))
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "none.toml"))
    path = tmp_path / "one.wav"
    sf.write(path, np.full(6 * 16_000, 0.1), 16_000)
    code = main(["style", "train", "x", str(path), "--model", str(tiny_model_dir),
                 "--device", "cpu", "--no-progress"])
    assert code == 2
    assert "needs 5 to 50 clips, got 1" in capsys.readouterr().err
    assert not (tmp_path / "styles" / "x").exists()

"""Style slots on the tiny model: training, applying, switching and refusing (bridge.engine.styles)."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bridge.engine.base import GenerationSpec
from bridge.engine.style_train import StyleTrainer, TrainSettings, read_clips, train_style
from bridge.engine.styles import StyledEngine, StyleError, list_styles, read_style
from bridge.engine.tiny_model import build_tiny_model
from bridge.engine.transformers_engine import load_engine

RATE = 22_050  # not the model's 32 kHz: clips are resampled
FAST = TrainSettings(epochs=2, learning_rate=3e-3, rank=4, alpha=8, seed=7)


def render(path: Path, seconds: float = 5.2, *, freq: float = 220.0, stereo: bool = True,
           gain: float = 0.3) -> Path:
    """A pulsed tone plus a little noise: something an adapter can learn."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(int(freq))
    x = gain * np.sin(2 * np.pi * freq * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    x = x + gain * 0.05 * rng.standard_normal(len(t))
    sf.write(path, np.stack([x, x * 0.8], axis=1) if stereo else x, RATE)
    return path


def clip_set(folder: Path, count: int = 5, base: float = 110.0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [render(folder / f"clip{i}.wav", freq=base * (i + 1), stereo=i % 2 == 0)
            for i in range(count)]


@pytest.fixture(scope="module")
def engine(own_tiny_engine):
    # Its own model: these tests add adapters to it.
    return own_tiny_engine


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("styles")


@pytest.fixture(scope="module")
def trained(engine, root, tmp_path_factory):
    """Two styles trained on different clips: (trainer of 'tones', its loss before training)."""
    clips = clip_set(tmp_path_factory.mktemp("tones"))
    trainer = StyleTrainer(engine, "tones", clips, root, description="pulsed sines",
                           settings=FAST)
    trainer.prepare()
    before = trainer.training_loss()
    while trainer.step() is not None:
        pass
    after = trainer.training_loss()
    trainer.finish()
    train_style(engine, "lows", clip_set(tmp_path_factory.mktemp("lows"), base=55.0), root,
                settings=FAST)
    return before, after


def codes(engine, spec):
    out = engine.generate(spec, lambda f: None, threading.Event())
    return out.codes


def spec(**changes) -> GenerationSpec:
    values = dict(text="pulsed sines", seconds=0.4, top_k=250, top_p=0.0, temperature=1.0,
                  cfg=3.0, seed=11)
    values.update(changes)
    return GenerationSpec(**values)


def base_state(model) -> dict[str, torch.Tensor]:
    return {k.replace(".base_layer.", "."): v.clone() for k, v in model.state_dict().items()
            if "lora_" not in k}


def test_training_lowers_the_training_loss_and_saves_a_manifest(trained, root):
    before, after = trained
    assert after < before - 1e-3
    info = read_style(root, "tones")
    manifest = info.manifest
    assert manifest["base_model"]
    assert len(manifest["clips"]) == 5
    assert all(len(c["sha256"]) == 64 for c in manifest["clips"])
    assert manifest["steps"] == 2 * 4  # 2 epochs x 4 clips (one held out)
    assert len(manifest["train_losses"]) == 2 and len(manifest["heldout_losses"]) == 2
    assert manifest["text"] == "pulsed sines, tones"
    assert [s.name for s in list_styles(root)] == ["lows", "tones"]
    assert not any(p.name.startswith(".") for p in root.iterdir())  # no leftovers


def test_a_style_changes_the_codes_for_the_same_seed(trained, engine, root):
    styled = StyledEngine(engine, root)
    base = codes(styled, spec())
    # An adapter trained for two epochs on noise-like codes moves logits a little; strength 2
    # doubles its effect, enough to change sampled tokens on the tiny model.
    with_style = codes(styled, spec(style="tones", style_strength=2.0))
    assert not np.array_equal(base, with_style)


def test_strength_zero_is_the_base_model_bit_for_bit(trained, engine, root):
    styled = StyledEngine(engine, root)
    base = codes(engine, spec())
    assert np.array_equal(codes(styled, spec(style="tones", style_strength=0.0)), base)
    # and after a styled run, the adapter is off again
    codes(styled, spec(style="tones", style_strength=1.0))
    assert np.array_equal(codes(styled, spec()), base)


def test_loading_and_unloading_leaves_the_base_weights_bit_identical(trained, engine, root):
    before = base_state(engine.model)
    styled = StyledEngine(engine, root)
    codes(styled, spec(style="lows", style_strength=1.5))
    codes(styled, spec(style="tones", style_strength=1.0))
    for name in styled.switch.loaded():
        styled.switch.unload(name)
    after = base_state(engine.model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_two_styles_each_get_their_own(trained, engine, root):
    styled = StyledEngine(engine, root)
    tones = codes(styled, spec(style="tones", style_strength=2.0))
    lows = codes(styled, spec(style="lows", style_strength=2.0))
    assert not np.array_equal(tones, lows)
    # switching back and forth gives each style its own output again
    assert np.array_equal(codes(styled, spec(style="tones", style_strength=2.0)), tones)
    assert np.array_equal(codes(styled, spec(style="lows", style_strength=2.0)), lows)


def test_a_style_from_another_base_model_is_refused(trained, root, tmp_path):
    other = load_engine(str(build_tiny_model(tmp_path / "other", seed=5)), device="cpu")
    with pytest.raises(StyleError, match="was trained on .*train the style again"):
        codes(StyledEngine(other, root), spec(style="tones", style_strength=1.0))


def test_an_unknown_style_is_refused_with_the_known_ones(trained, engine, root):
    with pytest.raises(StyleError, match="no style named 'jazz'.*known: lows, tones"):
        codes(StyledEngine(engine, root), spec(style="jazz", style_strength=1.0))


# ---- bad clips ------------------------------------------------------------------------------

def test_too_few_clips_are_refused(tmp_path):
    with pytest.raises(StyleError, match="needs 5 to 50 clips, got 3"):
        read_clips(clip_set(tmp_path, 3), 32_000)


def test_each_bad_clip_is_named_with_its_reason(tmp_path):
    good = clip_set(tmp_path / "good", 4)
    short = render(tmp_path / "short.wav", seconds=2.0)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(6 * RATE), RATE)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    missing = tmp_path / "missing.wav"
    with pytest.raises(StyleError) as err:
        read_clips([*good, short, silent, corrupt, missing], 32_000)
    message = str(err.value)
    assert "short.wav: too short (2.0 s" in message
    assert "silent.wav: silent" in message
    assert "corrupt.wav: corrupt or not audio" in message
    assert "missing.wav: unreadable" in message
    assert "clip0.wav" not in message


def test_disk_full_while_saving_leaves_no_half_adapter(trained, engine, tmp_path,
                                                       monkeypatch):
    import safetensors.torch

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    target = tmp_path / "styles"
    with pytest.raises(StyleError, match="disk is full.*nothing was left half-written"):
        train_style(engine, "full", clip_set(tmp_path / "clips"), target, settings=FAST)
    assert not (target / "full").exists()
    assert not (target / ".full.partial").exists()
    assert list_styles(target) == []


def test_training_resumes_after_an_interruption(trained, engine, tmp_path):
    clips = clip_set(tmp_path / "clips")
    root = tmp_path / "styles"
    settings = TrainSettings(epochs=3, learning_rate=3e-3, rank=4, alpha=8, seed=7)
    first = StyleTrainer(engine, "again", clips, root, settings=settings)
    first.prepare()
    while first.epoch < 1:  # one epoch, then "Ctrl-C"
        first.step()
    first.close()
    assert (root / ".again.training" / "checkpoint.pt").is_file()
    assert not (root / "again").exists()
    second = StyleTrainer(engine, "again", clips, root, settings=settings)
    second.prepare()
    assert second.resumed_from == 1
    while second.step() is not None:
        pass
    info = second.finish()
    assert info.manifest["epochs"] == 3 and info.manifest["steps"] == 12
    assert json.loads((root / "again" / "manifest.json").read_text())["train_losses"][0] == \
        pytest.approx(first.train_losses[0])


def test_the_fast_engine_keeps_the_base_output_and_styled_jobs_still_get_the_style(
        trained, engine, root):
    from bridge.engine.fast import load_fast_engine

    base = codes(engine, spec())
    fast = load_fast_engine(engine)  # built on a model that now holds LoRA layers
    assert np.array_equal(codes(fast, spec()), base)
    styled = StyledEngine(fast, root)
    assert np.array_equal(codes(styled, spec()), base)
    assert not np.array_equal(codes(styled, spec(style="tones", style_strength=2.0)), base)
    assert np.array_equal(codes(fast, spec()), base)


def test_preparing_is_cut_into_one_clip_per_step(trained, engine, tmp_path):
    """The daemon runs these between generation jobs: no step encodes the whole set."""
    trainer = StyleTrainer(engine, "steps", clip_set(tmp_path / "clips"), tmp_path / "styles",
                           settings=FAST)
    results = []
    while not (done := trainer.prepare_step()):
        results.append(done)
        assert len(results) <= 10, "preparing never finishes"
    assert len(results) == 1 + 5  # reading the set, then one encoding per clip
    assert trainer.prepared and trainer.step() is not None
    trainer.close()

"""The small offline model loads like any checkpoint and is random enough to test with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, MusicgenForConditionalGeneration, MusicgenProcessor

from bridge.engine.tiny_model import build_tiny_model, small_config, tiny_config


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path):
    model = MusicgenForConditionalGeneration.from_pretrained(tiny_model_dir).eval()
    return model, AutoProcessor.from_pretrained(tiny_model_dir)


def test_loads_with_from_pretrained_like_a_hub_checkpoint(tiny_model_dir: Path, loaded):
    model, processor = loaded
    assert isinstance(processor, MusicgenProcessor)
    assert model.config.audio_encoder.sampling_rate == 32_000
    assert model.config.audio_encoder.frame_rate == 50
    assert model.decoder.num_codebooks == 4
    assert model.generation_config.max_length == 1500  # the 30 s window
    assert processor(text=["lofi beat"], return_tensors="pt")["input_ids"].shape[0] == 1
    size = sum(f.stat().st_size for f in tiny_model_dir.iterdir())
    assert size < 10_000_000, "the tiny model must stay small enough for CI"


def test_codebooks_are_random_so_codes_change_the_sound(loaded):
    model, _ = loaded
    for layer in model.audio_encoder.quantizer.layers:
        embed = layer.codebook.embed
        assert embed.abs().sum() > 0
        assert torch.unique(embed, dim=0).shape[0] == embed.shape[0]
    codes = torch.zeros((1, 1, 4, 25), dtype=torch.long)
    with torch.no_grad():
        silent = model.audio_encoder.decode(codes, [None]).audio_values
        other = model.audio_encoder.decode(codes + 7, [None]).audio_values
    assert not torch.equal(silent, other)


def test_different_audio_prompts_encode_to_different_codes(loaded):
    model, processor = loaded
    t = np.arange(32_000) / 32_000
    waves = [np.sin(2 * np.pi * 220 * t), np.sign(np.sin(2 * np.pi * 55 * t)) * 0.5]
    codes = []
    for wave in waves:
        inputs = processor(audio=wave.astype(np.float32), sampling_rate=32_000,
                           return_tensors="pt")
        with torch.no_grad():
            encoded = model.audio_encoder.encode(inputs["input_values"],
                                                 inputs["padding_mask"]).audio_codes
        for codebook in encoded[0, 0]:  # (frames,) per codebook
            assert len(torch.unique(codebook)) > 4, "every frame encoded to the same code"
        codes.append(encoded)
    assert not torch.equal(codes[0], codes[1])


def test_same_seed_builds_the_same_weights_and_another_seed_does_not(tmp_path, tiny_model_dir):
    reference = load_file(tiny_model_dir / "model.safetensors")
    again = load_file(build_tiny_model(tmp_path / "again", seed=0) / "model.safetensors")
    other = load_file(build_tiny_model(tmp_path / "other", seed=1) / "model.safetensors")
    assert reference.keys() == again.keys()
    assert all(torch.equal(reference[k], again[k]) for k in reference)
    assert not torch.equal(reference["decoder.lm_heads.0.weight"],
                           other["decoder.lm_heads.0.weight"])


def test_refuses_to_overwrite_an_existing_checkpoint(tiny_model_dir: Path):
    before = (tiny_model_dir / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="not an empty folder"):
        build_tiny_model(tiny_model_dir, seed=5)
    assert (tiny_model_dir / "model.safetensors").read_bytes() == before


def test_melody_variant_builds_and_loads_without_torchaudio(tmp_path):
    from transformers import MusicgenMelodyForConditionalGeneration

    from bridge.engine.base import MELODY
    from bridge.engine.transformers_engine import load_engine

    target = build_tiny_model(tmp_path / "melody", melody=True)
    model = MusicgenMelodyForConditionalGeneration.from_pretrained(target)
    assert model.config.model_type == "musicgen_melody"
    assert MELODY in load_engine(str(target), device="cpu").capabilities


def test_small_architecture_config_is_musicgen_small():
    config = small_config()
    with torch.device("meta"):  # shapes only: no 2.4 GB of memory
        model = MusicgenForConditionalGeneration(config)
    params = sum(p.numel() for p in model.parameters())
    assert 585e6 < params < 590e6  # musicgen-small: 587M
    assert config.decoder.num_hidden_layers == 24 and config.decoder.hidden_size == 1024
    assert config.text_encoder.d_model == 768  # t5-base
    assert config.audio_encoder.frame_rate == tiny_config().audio_encoder.frame_rate == 50

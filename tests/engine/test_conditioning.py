"""Conditioning on the tiny offline models: audio prompt, melody chroma, negative prompt.

Both tiny models have randomised codebooks (tiny_model), so different audio encodes to
different codes and a prefix check can fail.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GenerationConfig, MusicgenMelodyForConditionalGeneration

from bridge.cli import main as cli_main
from bridge.engine.base import CONTINUATION, MELODY, NEGATIVE_PROMPT, EngineError, GenerationSpec
from bridge.engine.melody import ChromaExtractor, MelodyProcessor
from bridge.engine.tiny_model import build_tiny_model
from bridge.engine.transformers_engine import TransformersEngine, load_engine

RATE = 32_000
HOP = 640
SPEC = GenerationSpec(text="dusty funk drums, 120 BPM", seconds=0.5, top_k=250, top_p=0.0,
                      temperature=1.0, cfg=3.0, seed=1234)


def tone(freq: float, seconds: float, rate: int = RATE, *, seed: int = 0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t)) * 0.05
    return (0.4 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def run(engine: TransformersEngine, spec: GenerationSpec = SPEC, **changes):
    return engine.generate(replace(spec, **changes), lambda _: None, threading.Event())


@pytest.fixture(scope="module")
def melody_engine(tmp_path_factory: pytest.TempPathFactory) -> TransformersEngine:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny-melody") / "model", melody=True)
    return load_engine(str(path), device="cpu")


@pytest.fixture(params=["musicgen", "melody"])
def any_engine(request, tiny_engine, melody_engine) -> TransformersEngine:
    return tiny_engine if request.param == "musicgen" else melody_engine


def prompt_codes(engine: TransformersEngine, wave: np.ndarray) -> np.ndarray:
    """The audio encoder's own codes of ``wave``: (codebooks, frames)."""
    with torch.no_grad():
        codes = engine.model.audio_encoder.encode(torch.from_numpy(wave)[None, None]).audio_codes
    return codes[0, 0].numpy()


# --- capabilities ------------------------------------------------------------------------


def test_each_model_reports_what_it_can_be_conditioned_on(tiny_engine, melody_engine):
    assert tiny_engine.capabilities == {CONTINUATION, NEGATIVE_PROMPT}
    assert melody_engine.capabilities == {CONTINUATION, NEGATIVE_PROMPT, MELODY}
    assert isinstance(melody_engine.model, MusicgenMelodyForConditionalGeneration)
    assert isinstance(melody_engine.processor, MelodyProcessor)


def test_melody_on_a_model_without_melody_support_is_refused(tiny_engine):
    with pytest.raises(EngineError, match="cannot do melody"):
        run(tiny_engine, melody=tone(440, 1.0), melody_rate=RATE)


# --- continuation ------------------------------------------------------------------------


def test_the_audio_prompts_codes_are_the_decoders_prefix(any_engine):
    wave = tone(220, 1.0, seed=1)
    expected = prompt_codes(any_engine, wave)
    assert expected.shape == (4, 50)
    result = run(any_engine, variations=2, audio_prompt=wave, prompt_rate=RATE,
                 keep_prompt=True)
    assert result.codes is not None and result.codes.shape == (2, 4, 50 + 25)
    for codes in result.codes:
        np.testing.assert_array_equal(codes[:, :50], expected)
    other = prompt_codes(any_engine, tone(330, 1.0, seed=2))
    assert not np.array_equal(other, expected), "the check above could not fail"


def test_the_returned_codes_decode_to_the_returned_audio(any_engine):
    """generate forces the prompt's last frames into the delayed codebooks (its pattern
    mask): the codes must say so, or a long clip continued from them would not match."""
    result = run(any_engine, variations=2, audio_prompt=tone(220, 1.0), prompt_rate=RATE,
                 keep_prompt=True)
    with torch.no_grad():
        audio = any_engine.model.audio_encoder.decode(
            torch.from_numpy(result.codes)[None], audio_scales=[None] * 2).audio_values
    np.testing.assert_allclose(audio.numpy(), result.audio, atol=1e-5)


@pytest.mark.parametrize("seconds", [0.5, 0.33])
def test_output_is_exactly_the_new_frames_or_prompt_plus_new(any_engine, seconds):
    wave = tone(220, 0.8)
    frames, prompt_frames = round(seconds * 50), 40
    kept = run(any_engine, seconds=seconds, audio_prompt=wave, prompt_rate=RATE,
               keep_prompt=True)
    new = run(any_engine, seconds=seconds, audio_prompt=wave, prompt_rate=RATE)
    assert kept.audio.shape == (1, 1, (prompt_frames + frames) * HOP)
    assert new.audio.shape == (1, 1, frames * HOP)
    assert new.codes is not None and new.codes.shape == (1, 4, frames)
    # Same seed, same generation: the default output is the kept one minus the prompt's frames.
    np.testing.assert_array_equal(new.audio, kept.audio[..., prompt_frames * HOP:])
    np.testing.assert_array_equal(new.codes, kept.codes[..., prompt_frames:])


def test_the_prompt_reaches_generate_as_its_codes_for_every_variation(any_engine):
    wave = tone(220, 0.5)
    run(any_engine, audio_prompt=wave, prompt_rate=RATE, variations=3)
    ids = any_engine.last_generate_kwargs["decoder_input_ids"]
    assert ids.shape == (3 * 4, 25)
    for row in ids.reshape(3, 4, 25):
        np.testing.assert_array_equal(row.numpy(), prompt_codes(any_engine, wave))


def test_a_prompt_at_another_rate_is_resampled_and_cut_to_whole_frames(tiny_engine):
    result = run(tiny_engine, audio_prompt=tone(220, 0.61, 44_100), prompt_rate=44_100,
                 keep_prompt=True)
    assert result.audio.shape[-1] == (30 + 25) * HOP  # 0.61 s -> 30 whole frames


def test_prompt_problems_are_refused_before_generating(tiny_engine):
    with pytest.raises(EngineError, match="shorter than one frame"):
        run(tiny_engine, audio_prompt=np.zeros(100, np.float32), prompt_rate=RATE)
    with pytest.raises(EngineError, match=r"prompt of 2\.00 s plus 29\.00 s .*window of 30 s"):
        run(tiny_engine, seconds=29.0, audio_prompt=tone(220, 2.0), prompt_rate=RATE)
    with pytest.raises(EngineError, match="cannot be combined"):
        run(tiny_engine, audio_prompt=tone(220, 1.0), prompt_rate=RATE,
            prefix_codes=np.zeros((1, 4, 10), np.int64))
    with pytest.raises(EngineError, match="needs its sample rate"):
        run(tiny_engine, audio_prompt=tone(220, 1.0), prompt_rate=0)
    with pytest.raises(EngineError, match="must be mono"):
        run(tiny_engine, audio_prompt=np.zeros((2, RATE), np.float32), prompt_rate=RATE)


# --- melody ------------------------------------------------------------------------------


def _first_conditioning(engine: TransformersEngine, monkeypatch, **changes) -> torch.Tensor:
    """The conditioning prefix the melody decoder gets on its first step."""
    seen: list[torch.Tensor] = []
    real = engine.model.decoder.forward

    def spy(*args, **kwargs):
        if kwargs.get("encoder_hidden_states") is not None:
            seen.append(kwargs["encoder_hidden_states"].detach().clone())
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(engine.model.decoder, "forward", spy)
        run(engine, **changes)
    return seen[0]


def test_melody_chroma_reaches_the_model(melody_engine, monkeypatch):
    a4, c4 = tone(440, 2.0), tone(261.63, 2.0)
    plain = _first_conditioning(melody_engine, monkeypatch)
    with_a = _first_conditioning(melody_engine, monkeypatch, melody=a4, melody_rate=RATE)
    with_c = _first_conditioning(melody_engine, monkeypatch, melody=c4, melody_rate=RATE)
    assert not torch.equal(plain, with_a) and not torch.equal(with_a, with_c)
    features = melody_engine.last_generate_kwargs["input_features"]
    assert features.shape == (1, 1 + len(c4) // 4096, 12)
    assert (features[0].argmax(-1) == 0).all()  # C


def test_melody_changes_the_generated_codes(melody_engine):
    plain = run(melody_engine, top_k=1)
    melodic = run(melody_engine, top_k=1, melody=tone(440, 2.0), melody_rate=RATE)
    assert not np.array_equal(plain.codes, melodic.codes)


def test_melody_is_given_to_every_variation(melody_engine):
    run(melody_engine, variations=3, melody=tone(440, 1.0, 48_000), melody_rate=48_000)
    features = melody_engine.last_generate_kwargs["input_features"]
    assert features.shape[0] == 3 and (features[:, :, 9] == 1).all()  # A, at any rate


@pytest.mark.parametrize("freq, pitch_class", [(261.63, 0), (440.0, 9), (493.88, 11)])
def test_chroma_marks_the_strongest_pitch_class_per_frame(freq, pitch_class):
    chroma = ChromaExtractor()(tone(freq, 3.0), RATE)
    assert chroma.shape == (1, 1 + 3 * RATE // 4096, 12)
    assert torch.equal(chroma.sum(-1), torch.ones(chroma.shape[:2]))
    assert (chroma[0].argmax(-1) == pitch_class).all()


def test_chroma_pads_short_and_cuts_long_audio_like_the_upstream_extractor():
    extractor = ChromaExtractor()
    short = extractor(tone(440, 0.1), RATE)  # padded to one FFT window: 16384 samples
    assert short.shape == (1, 1 + 16384 // 4096, 12)
    long = extractor(tone(440, 31.0), RATE)  # the first 30 s only
    assert long.shape == (1, 1 + 30 * RATE // 4096, 12)
    silent = extractor(np.zeros(RATE, np.float32), RATE)
    assert (silent[0].argmax(-1) == 0).all()
    with pytest.raises(ValueError, match="non-empty mono"):
        extractor(np.zeros((2, 100), np.float32), RATE)


def test_melody_processor_files_are_the_upstream_ones(tmp_path, melody_engine):
    processor = melody_engine.processor
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["processor_class"] == "MusicgenMelodyProcessor"
    assert saved["feature_extractor"]["feature_extractor_type"] == "MusicgenMelodyFeatureExtractor"
    # Hub checkpoints keep the settings in the older preprocessor_config.json.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "preprocessor_config.json").write_text(json.dumps(
        {**saved["feature_extractor"], "hop_length": 2048}))
    assert ChromaExtractor.from_pretrained(legacy).hop_length == 2048
    (legacy / "preprocessor_config.json").write_text(json.dumps(
        {"feature_extractor_type": "EncodecFeatureExtractor"}))
    with pytest.raises(ValueError, match="not a MusicGen-Melody checkpoint"):
        ChromaExtractor.from_pretrained(legacy)


def test_tiny_model_cli_builds_a_melody_model_that_loads(tmp_path, capsys):
    assert cli_main(["tiny-model", "--melody", str(tmp_path / "m")]) == 0
    engine = load_engine(str(tmp_path / "m"), device="cpu")
    assert MELODY in engine.capabilities
    result = run(engine, melody=tone(440, 1.0), melody_rate=RATE)
    assert result.audio.shape == (1, 1, 25 * HOP)


# --- negative prompt ---------------------------------------------------------------------


def test_negative_prompt_replaces_the_null_row_for_every_variation(tiny_engine):
    run(tiny_engine, variations=3, negative_prompt="vocals, distortion")
    kwargs = tiny_engine.last_generate_kwargs
    hidden = kwargs["encoder_outputs"].last_hidden_state
    mask = kwargs["attention_mask"]
    assert hidden.shape[0] == mask.shape[0] == 6 and kwargs["inputs"].shape[0] == 3
    tokens = tiny_engine.processor(text=[SPEC.text, "vocals, distortion"], padding=True,
                                   return_tensors="pt")
    with torch.no_grad():
        own = tiny_engine.model.text_encoder(**tokens).last_hidden_state
    for row in range(3):
        torch.testing.assert_close(hidden[row], own[0])
        torch.testing.assert_close(hidden[3 + row], own[1])
        assert torch.equal(mask[row], tokens["attention_mask"][0])
        assert torch.equal(mask[3 + row], tokens["attention_mask"][1])


# The tiny melody model's decoder barely listens to its text next to 235 chroma frames, so
# its guidance is turned up until the text shows in greedy codes.
@pytest.mark.parametrize("engine_name, cfg", [("musicgen", 3.0), ("melody", 10.0)])
def test_negative_prompt_changes_the_codes_and_greedy_runs_repeat(engine_name, cfg,
                                                                  tiny_engine, melody_engine):
    engine = tiny_engine if engine_name == "musicgen" else melody_engine
    greedy = replace(SPEC, top_k=1, seconds=1.0, cfg=cfg)
    plain = run(engine, greedy).codes
    first = run(engine, greedy, negative_prompt="vocals").codes
    again = run(engine, greedy, negative_prompt="vocals").codes
    other = run(engine, greedy, negative_prompt="distorted guitar solo").codes
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, plain)


def test_melody_models_unconditional_rows_carry_the_negative_prompt(melody_engine):
    engine, model = melody_engine, melody_engine.model
    run(engine, variations=2, negative_prompt="vocals")
    prefix = engine.last_generate_kwargs["encoder_hidden_states"]
    chroma_length = model.config.chroma_length
    assert prefix.shape[0] == 4 and engine.last_generate_kwargs["inputs"].shape[0] == 2
    tokens = engine.processor(text=[SPEC.text, "vocals"], padding=True, return_tensors="pt")
    with torch.no_grad():
        text = model.text_encoder(**tokens).last_hidden_state
        if hasattr(model, "enc_to_dec_proj"):  # widths differ (not in the tiny model)
            text = model.enc_to_dec_proj(text)
    text = text * tokens["attention_mask"][..., None]
    for row, source in ((0, 0), (1, 0), (2, 1), (3, 1)):
        torch.testing.assert_close(prefix[row, chroma_length:], text[source])
    # No melody: every row gets the null chroma, as generate gives them.
    torch.testing.assert_close(prefix[0, :chroma_length], prefix[3, :chroma_length])


def test_negative_prompt_sampled_with_the_same_seed(tiny_engine):
    a = run(tiny_engine, negative_prompt="vocals", variations=2).codes
    b = run(tiny_engine, negative_prompt="vocals", variations=2).codes
    c = run(tiny_engine, negative_prompt="choir", variations=2).codes
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_negative_prompt_with_guidance_1_leaves_the_inputs_alone(tiny_engine):
    run(tiny_engine, cfg=1.0, negative_prompt="vocals")
    kwargs = tiny_engine.last_generate_kwargs
    assert "encoder_outputs" not in kwargs and kwargs["input_ids"].shape[0] == 1


def test_melody_prefix_matches_transformers_own_without_a_negative_prompt(melody_engine):
    """Our builder of the melody model's conditioning prefix (needed for negative prompts)
    gives exactly what MusicgenMelody's generate builds when its unconditional rows get
    zero text, as generate's own are."""
    engine, model = melody_engine, melody_engine.model
    tokens = engine.processor(text=[SPEC.text] * 2, padding=True, return_tensors="pt")
    chroma = engine.processor.feature_extractor(tone(440, 2.0), RATE)
    theirs = model._prepare_encoder_hidden_states_kwargs_for_generation(
        tokens["input_ids"],
        {"attention_mask": tokens["attention_mask"], "input_features": chroma.repeat(2, 1, 1)},
        "input_ids", GenerationConfig(guidance_scale=3.0))["encoder_hidden_states"]
    with torch.no_grad():
        text = model.text_encoder(**tokens).last_hidden_state
    mask = torch.cat([tokens["attention_mask"], torch.zeros_like(tokens["attention_mask"])])
    ours = engine.conditioning.melody_prefix(torch.cat([text, text]), mask, chroma, 2)
    torch.testing.assert_close(ours, theirs)


def test_all_conditioning_at_once(melody_engine):
    result = run(melody_engine, variations=2, negative_prompt="vocals",
                 audio_prompt=tone(220, 0.6), prompt_rate=RATE, keep_prompt=True,
                 melody=tone(440, 1.0), melody_rate=RATE)
    assert result.audio.shape == (2, 1, (30 + 25) * HOP)
    kwargs = melody_engine.last_generate_kwargs
    assert kwargs["encoder_hidden_states"].shape[0] == 4
    assert kwargs["decoder_input_ids"].shape == (2 * 4, 30)


def test_loading_reads_a_saved_engine_back(tmp_path, melody_engine):
    # The melody processor saved by the engine loads through load_engine's own path.
    path = Path(tmp_path / "copy")
    melody_engine.model.save_pretrained(path)
    melody_engine.processor.save_pretrained(path)
    copy = load_engine(str(path), device="cpu")
    assert copy.capabilities == melody_engine.capabilities

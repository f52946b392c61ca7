"""The transformers engine on the tiny offline model: the real loading and generation code."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    ClassifierFreeGuidanceLogitsProcessor,
    T5Config,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from bridge.engine.base import CONTINUATION, NEGATIVE_PROMPT, Cancelled, EngineError, GenerationSpec
from bridge.engine.transformers_engine import TransformersEngine, load_engine

HOP = 640  # samples per codec frame at 32 kHz / 50 Hz

SPEC = GenerationSpec(text="dusty funk drums, 120 BPM", seconds=0.5, top_k=250, top_p=0.0,
                      temperature=1.0, cfg=3.0, seed=1234)


def run(engine: TransformersEngine, spec: GenerationSpec = SPEC, **changes):
    return engine.generate(replace(spec, **changes), lambda _: None, threading.Event())


@pytest.fixture
def generate_calls(tiny_engine: TransformersEngine, monkeypatch: pytest.MonkeyPatch):
    """Every model.generate call's keyword arguments, in order."""
    calls: list[dict] = []
    real = tiny_engine.model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tiny_engine.model, "generate", spy)
    return calls


@pytest.fixture
def built_processors(tiny_engine: TransformersEngine, monkeypatch: pytest.MonkeyPatch):
    """The logits processors transformers builds inside each generate call."""
    built: list = []
    real = tiny_engine.model._get_logits_processor

    def spy(*args, **kwargs):
        processors = real(*args, **kwargs)
        built.append(list(processors))
        return processors

    monkeypatch.setattr(tiny_engine.model, "_get_logits_processor", spy)
    return built


def only(processors: list, kind: type):
    found = [p for p in processors if isinstance(p, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in {processors}"
    return found[0]


def test_reports_the_models_own_rates_and_window(tiny_engine):
    assert tiny_engine.name == "transformers"
    assert tiny_engine.sample_rate == 32_000
    assert tiny_engine.frame_rate == 50
    assert tiny_engine.max_seconds == 30
    # A plain (non-melody) checkpoint continues audio and honours negative prompts.
    assert tiny_engine.capabilities == frozenset({CONTINUATION, NEGATIVE_PROMPT})


@pytest.mark.parametrize("seconds", [0.5, 0.33, 1.27])
def test_audio_is_exactly_the_frames_asked_for(tiny_engine, generate_calls, seconds):
    frames = round(seconds * 50)
    result = run(tiny_engine, seconds=seconds)
    assert generate_calls[0]["max_new_tokens"] == frames + 3  # 4 codebooks, delay pattern
    assert result.audio.dtype == np.float32
    assert result.audio.shape == (1, 1, frames * HOP)
    assert result.sample_rate == 32_000
    assert result.codes.shape == (1, 4, frames)


def test_variations_come_from_one_batched_call(tiny_engine, generate_calls):
    result = run(tiny_engine, variations=3)
    assert len(generate_calls) == 1
    assert generate_calls[0]["input_ids"].shape[0] == 3
    assert result.audio.shape == (3, 1, 25 * HOP)
    assert result.codes.shape == (3, 4, 25)
    for a in range(3):
        for b in range(a + 1, 3):
            assert not np.array_equal(result.audio[a], result.audio[b]), "identical variations"


def test_sampling_knobs_reach_the_processors_transformers_builds(tiny_engine, built_processors):
    run(tiny_engine, top_k=37, top_p=0.8, temperature=0.7, cfg=4.5)
    assert tiny_engine.last_generate_kwargs["do_sample"] is True
    processors = built_processors[0]
    assert only(processors, TopKLogitsWarper).top_k == 37
    assert only(processors, TopPLogitsWarper).top_p == pytest.approx(0.8)
    assert only(processors, TemperatureLogitsWarper).temperature == pytest.approx(0.7)
    assert only(processors, ClassifierFreeGuidanceLogitsProcessor).guidance_scale == 4.5


def test_top_p_off_samples_instead_of_going_greedy(tiny_engine, built_processors):
    first = run(tiny_engine, top_p=0.0, seed=1)
    assert tiny_engine.last_generate_kwargs["top_p"] == 1.0
    assert not any(isinstance(p, TopPLogitsWarper) for p in built_processors[0])
    second = run(tiny_engine, top_p=0.0, seed=2)
    assert not np.array_equal(first.codes, second.codes), "greedy: the seed changed nothing"


def test_cfg_1_turns_guidance_off(tiny_engine, built_processors):
    run(tiny_engine, cfg=1.0)
    assert not any(isinstance(p, ClassifierFreeGuidanceLogitsProcessor)
                   for p in built_processors[0])


def test_same_seed_same_audio_other_seed_other_audio(tiny_engine):
    first = run(tiny_engine, seed=77, variations=2)
    again = run(tiny_engine, seed=77, variations=2)
    other = run(tiny_engine, seed=78, variations=2)
    assert np.array_equal(first.audio, again.audio)
    assert np.array_equal(first.codes, again.codes)
    assert not np.array_equal(first.audio, other.audio)


def test_concurrent_generations_stay_reproducible(tiny_engine):
    """Two jobs at once (two daemons' workers, a CLI beside a daemon) share torch's global
    random stream; the engine must serialise them or seeded audio stops being repeatable."""
    expected = {seed: run(tiny_engine, seed=seed, seconds=1.0).audio for seed in (11, 12)}
    results: dict[int, np.ndarray] = {}

    def work(seed: int) -> None:
        results[seed] = run(tiny_engine, seed=seed, seconds=1.0).audio

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (11, 12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for seed in (11, 12):
        assert np.array_equal(results[seed], expected[seed])


def test_engine_output_is_plain_generate_with_the_same_settings(tiny_engine):
    ours = run(tiny_engine, seed=5, top_k=100, temperature=1.3, cfg=2.0, variations=2)
    inputs = tiny_engine.processor(text=[SPEC.text] * 2, padding=True, return_tensors="pt")
    torch.manual_seed(5)
    plain = tiny_engine.model.generate(**inputs, max_new_tokens=25 + 3, do_sample=True,
                                       top_k=100, top_p=1.0, temperature=1.3,
                                       guidance_scale=2.0)
    assert np.array_equal(ours.audio, plain.numpy())


def test_codes_decode_to_the_returned_audio(tiny_engine):
    result = run(tiny_engine, variations=2)
    codes = torch.from_numpy(result.codes)[None]
    with torch.no_grad():
        decoded = tiny_engine.model.audio_encoder.decode(codes, [None]).audio_values
    assert np.array_equal(decoded.numpy(), result.audio)


def test_progress_rises_step_by_step_to_one(tiny_engine):
    reports: list[float] = []
    tiny_engine.generate(SPEC, reports.append, threading.Event())
    assert len(reports) == 25 + 3  # one per decoding step
    assert all(b > a for a, b in zip(reports, reports[1:], strict=False))
    assert reports[0] > 0 and reports[-1] == 1.0


def test_cancel_before_start_does_no_work(tiny_engine, generate_calls):
    cancel = threading.Event()
    cancel.set()
    reports: list[float] = []
    with pytest.raises(Cancelled):
        tiny_engine.generate(SPEC, reports.append, cancel)
    assert reports == [] and generate_calls == []


def test_cancel_stops_a_running_generation_within_a_step(tiny_engine):
    cancel = threading.Event()
    reports: list[float] = []

    def progress(fraction: float) -> None:
        reports.append(fraction)
        if len(reports) == 10:
            cancel.set()

    with pytest.raises(Cancelled):
        tiny_engine.generate(replace(SPEC, seconds=20.0), progress, cancel)
    assert len(reports) == 10, "decoding went on after cancel"
    assert len(run(tiny_engine).audio[0, 0]) == 25 * HOP, "the engine is stuck after a cancel"


def test_cancel_from_another_thread_is_prompt(tiny_engine):
    cancel = threading.Event()
    started = threading.Event()
    outcome: list[BaseException] = []
    spec = replace(SPEC, seconds=25.0)  # ~1250 steps: seconds of work, cancelled after a few

    def work() -> None:
        try:
            tiny_engine.generate(spec, lambda _: started.set(), cancel)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    assert started.wait(10)
    cancelled_at = time.monotonic()
    cancel.set()
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert time.monotonic() - cancelled_at < 1.0


def test_longer_than_the_window_is_refused_naming_the_limit(tiny_engine, generate_calls):
    with pytest.raises(EngineError, match=r"30\.50 s is longer than .*window of 30 s"):
        run(tiny_engine, seconds=30.5)
    assert generate_calls == []


@pytest.mark.parametrize("seconds", [0.0, -1.0, 0.005, float("nan"), float("inf")])
def test_no_audio_at_all_is_refused(tiny_engine, seconds):
    with pytest.raises(EngineError, match="at least one frame"):
        run(tiny_engine, seconds=seconds)


def test_conditioning_this_engine_lacks_is_refused_not_ignored(tiny_engine, generate_calls):
    with pytest.raises(EngineError, match="cannot do melody"):
        run(tiny_engine, melody=np.zeros(32_000, np.float32), melody_rate=32_000)
    assert generate_calls == []


# --- loading -----------------------------------------------------------------------------


def test_no_such_directory(tmp_path):
    missing = tmp_path / "musicgen-smal"
    with pytest.raises(EngineError) as info:
        load_engine(str(missing), device="cpu")
    message = str(info.value)
    assert str(missing) in message and "no such directory" in message
    assert "tiny-model DIR" in message and "facebook/musicgen-small" in message


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_model_name_is_not_the_current_folder(name):
    with pytest.raises(EngineError, match="no model given"):
        load_engine(name, device="cpu")


def test_a_file_is_not_a_checkpoint(tiny_model_dir: Path):
    with pytest.raises(EngineError, match=r"is a file, not a checkpoint directory"):
        load_engine(str(tiny_model_dir / "config.json"), device="cpu")


def test_a_folder_without_config_is_not_a_checkpoint(tmp_path):
    with pytest.raises(EngineError, match=r"not a MusicGen checkpoint: .* has no config\.json"):
        load_engine(str(tmp_path), device="cpu")


def test_another_models_checkpoint_is_refused(tmp_path):
    T5Config(d_model=8, num_layers=1, num_heads=1, d_kv=8, d_ff=8).save_pretrained(tmp_path)
    with pytest.raises(EngineError, match=r"not a MusicGen checkpoint: its config says "
                                          r"model_type 't5'"):
        load_engine(str(tmp_path), device="cpu")


def test_damaged_weights_name_the_model_and_chain_the_cause(tmp_path, tiny_model_dir: Path):
    for item in tiny_model_dir.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 100)
    with pytest.raises(EngineError, match=r"could not load model .*damaged") as info:
        load_engine(str(tmp_path), device="cpu")
    assert str(tmp_path) in str(info.value)
    assert info.value.__cause__ is not None


def test_unknown_hub_id_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The local cache is looked at first; offline, a model not there fails at once, naming the
    # offline way out (no hub lookups and retries through transformers).
    with pytest.raises(EngineError, match=r"'nobody-here/no-such-musicgen' is not downloaded "
                                          r"yet and HF_HUB_OFFLINE is set") as info:
        load_engine("nobody-here/no-such-musicgen", device="cpu")
    assert "musicgen-bridge tiny-model" in str(info.value)

"""The fast engine against transformers on the tiny offline model.

Every comparison is with transformers itself (``model.generate``, its delay-pattern functions,
the logits processors generate builds, the reference engine), never with our own code, so
a bug in ours cannot hide behind a matching bug in the check.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from bridge.engine import fast_pattern
from bridge.engine.base import (
    CONTINUATION,
    NEGATIVE_PROMPT,
    Cancelled,
    EngineError,
    GenerationSpec,
)
from bridge.engine.fast import FastEngine, load_fast_engine
from bridge.engine.fast_decoder import DecoderCore
from bridge.engine.fast_loop import KV_BUCKETS, TEXT_BUCKETS, EagerStepper, decode
from bridge.engine.fast_pattern import build_pattern
from bridge.engine.fast_sampling import Sampling, process
from bridge.engine.transformers_engine import TransformersEngine

HOP = 640
PROMPT = "dusty funk drums, 120 BPM"  # 26 ByT5 tokens: the 32-token text bucket
SPEC = GenerationSpec(text=PROMPT, seconds=0.5, top_k=250, top_p=0.0, temperature=1.0,
                      cfg=3.0, seed=1234)


def run(engine, spec: GenerationSpec = SPEC, **changes):
    return engine.generate(replace(spec, **changes), lambda _: None, threading.Event())


@pytest.fixture(scope="module")
def fast(tiny_engine: TransformersEngine) -> FastEngine:
    return load_fast_engine(tiny_engine)


@pytest.fixture(scope="module")
def static(tiny_engine: TransformersEngine) -> FastEngine:
    """The fixed-shape step a CUDA graph captures, run eagerly on the CPU."""
    return load_fast_engine(tiny_engine, mode="static")


class _Grid(StoppingCriteria):
    """Keeps generate's token grid (batch * codebooks, length) after the last step."""

    ids: torch.Tensor

    def __call__(self, input_ids, scores, **kwargs):
        self.ids = input_ids
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def generate_codes(engine: TransformersEngine, texts: list[str], steps: int, *,
                   prefix: torch.Tensor | None = None, **kwargs) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
    """Codes and audio of ``model.generate``, the codes recovered with transformers' own
    delay-pattern functions the way generate recovers them before decoding."""
    model, grid = engine.model, _Grid()
    inputs = engine.processor(text=texts, padding=True, return_tensors="pt")
    extra = {}
    if prefix is not None:
        extra["decoder_input_ids"] = prefix.reshape(-1, prefix.shape[-1])
    with torch.no_grad():
        audio = model.generate(**inputs, **extra, max_new_tokens=steps,
                               stopping_criteria=StoppingCriteriaList([grid]), **kwargs)
    pad = model.generation_config.pad_token_id
    _, mask = model.decoder.build_delay_pattern_mask(grid.ids[:, :1], pad_token_id=pad,
                                                     max_length=grid.ids.shape[-1])
    if prefix is not None:  # the pattern then carries the prefix: rebuild it with it
        start = torch.cat([torch.full_like(grid.ids[:, :1], pad),
                           prefix.reshape(-1, prefix.shape[-1])], dim=-1)
        _, mask = model.decoder.build_delay_pattern_mask(start, pad_token_id=pad,
                                                         max_length=grid.ids.shape[-1])
    ids = model.decoder.apply_delay_pattern_mask(grid.ids, mask)
    return ids[ids != pad].reshape(len(texts), engine.num_codebooks, -1), audio


# -- greedy: token for token the codes of model.generate(do_sample=False) ------------------

GREEDY_CASES = [
    # seconds, variations, cfg
    (0.02, 1, 3.0),  # 4 steps: transformers applies no delay pattern at all (kept quirk)
    (0.06, 2, 3.0),  # the shortest grid that has the pattern
    (0.5, 1, 3.0),
    (0.5, 3, 1.0),
    (0.5, 2, 3.0),
    (1.4, 1, 3.0),  # 73 steps: crosses the first 64-column cache bucket
    (1.4, 3, 3.0),
]


@pytest.mark.parametrize("mode", ["eager", "static"])
@pytest.mark.parametrize(("seconds", "variations", "cfg"), GREEDY_CASES)
def test_greedy_codes_are_generates_token_for_token(request, tiny_engine, mode, seconds,
                                                     variations, cfg):
    engine: FastEngine = request.getfixturevalue("fast" if mode == "eager" else "static")
    steps = tiny_engine.max_new_tokens(seconds)
    texts = [PROMPT] * variations
    expected, expected_audio = generate_codes(tiny_engine, texts, steps, do_sample=False,
                                              guidance_scale=cfg)
    codes = engine.codes(texts, steps, Sampling(cfg=cfg, do_sample=False), seed=0)
    assert codes.shape == expected.shape
    assert torch.equal(codes, expected)
    assert np.array_equal(engine.decode_audio(codes), expected_audio.numpy())


def test_greedy_equality_is_a_real_check_an_off_by_one_pattern_breaks_it(
        tiny_engine, fast, monkeypatch):
    """The greedy test can fail: delay codebooks 1..3 one column less than transformers does
    (same number of frames, so only the tokens can tell) and the codes no longer match."""
    real = fast_pattern.build_pattern

    def off_by_one(*args, **kwargs):
        built = real(*args, **kwargs)
        rows = built.pattern.reshape(-1, fast.num_codebooks, built.length)
        shifted = rows.clone()
        shifted[:, 1:] = rows[:, 1:].roll(-1, dims=-1)
        return replace(built, pattern=shifted.reshape(built.pattern.shape))

    monkeypatch.setattr("bridge.engine.fast.build_pattern", off_by_one)
    steps = tiny_engine.max_new_tokens(0.5)
    expected, _ = generate_codes(tiny_engine, [PROMPT], steps, do_sample=False,
                                 guidance_scale=3.0)
    codes = fast.codes([PROMPT], steps, Sampling(cfg=3.0, do_sample=False), seed=0)
    assert codes.shape == expected.shape
    assert not torch.equal(codes, expected)


def test_continuation_prefix_gives_generates_codes(tiny_engine, fast):
    """Codes to continue from (long clips, continuations) enter as generate's
    decoder_input_ids do: the result starts with them and goes on identically."""
    prefix = torch.randint(0, 2048, (2, 4, 7), generator=torch.Generator().manual_seed(3))
    steps = tiny_engine.max_new_tokens(0.4)
    expected, _ = generate_codes(tiny_engine, [PROMPT] * 2, steps, prefix=prefix,
                                 do_sample=False, guidance_scale=3.0)
    codes = fast.codes([PROMPT] * 2, steps, Sampling(cfg=3.0, do_sample=False), seed=0,
                       prefix=prefix)
    assert torch.equal(codes[..., :7], prefix)
    assert torch.equal(codes, expected)


@pytest.mark.parametrize("new_columns", [1, 4, 5, 6, 7, 29])  # generate makes >= 4
@pytest.mark.parametrize("prefix_len", [0, 3])
def test_delay_pattern_is_transformers_own(tiny_engine, new_columns, prefix_len):
    decoder = tiny_engine.model.decoder
    ids = torch.cat([torch.full((8, 1), 2048), torch.randint(0, 2048, (8, prefix_len))], -1)
    length = ids.shape[-1] + new_columns
    expected_ids, expected_mask = decoder.build_delay_pattern_mask(ids, pad_token_id=2048,
                                                                   max_length=length)
    built = build_pattern(ids, 4, 2048, length)
    assert torch.equal(built.pattern, expected_mask)
    assert torch.equal(built.start_ids, expected_ids)


# -- sampling: the reference engine's codes for the same seed -----------------------------

@pytest.mark.parametrize("changes", [
    {},
    {"top_p": 0.9, "temperature": 0.7},
    {"top_k": 5, "cfg": 1.0},
    {"variations": 3, "seed": 7, "cfg": 6.0, "temperature": 1.3},
])
def test_same_seed_gives_the_reference_engines_codes_and_audio(tiny_engine, fast, changes):
    expected = run(tiny_engine, **changes)
    got = run(fast, **changes)
    assert np.array_equal(got.codes, expected.codes)
    assert np.array_equal(got.audio, expected.audio)


def test_same_seed_same_codes_run_to_run_other_seed_other_codes(fast, static):
    first = run(fast, variations=2)
    assert np.array_equal(run(fast, variations=2).codes, first.codes)
    assert np.array_equal(run(static, variations=2).codes, first.codes)
    assert not np.array_equal(run(fast, variations=2, seed=99).codes, first.codes)
    # variations are sampled, not copies of one another
    assert not np.array_equal(first.codes[0], first.codes[1])


def test_sampling_leaves_the_global_random_stream_alone(fast):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    run(fast)
    assert torch.equal(torch.rand(3), expected)


@pytest.fixture
def built_processors(tiny_engine, monkeypatch):
    """The processors transformers builds inside generate (spied, unchanged)."""
    built: list = []
    real = tiny_engine.model._get_logits_processor

    def spy(*args, **kwargs):
        processors = real(*args, **kwargs)
        built.append(processors)
        return processors

    monkeypatch.setattr(tiny_engine.model, "_get_logits_processor", spy)
    return built


@pytest.mark.parametrize(("cfg", "top_k", "top_p", "temperature"), [
    (3.0, 250, 0.0, 1.0),
    (3.0, 50, 0.8, 0.6),
    (1.0, 1, 0.0, 1.0),
    (7.5, 2048, 0.95, 2.5),
    (1.5, 10, 0.3, 0.05),
])
def test_processed_scores_are_exactly_those_of_generates_processors(
        tiny_engine, built_processors, cfg, top_k, top_p, temperature):
    spec = replace(SPEC, seconds=0.02, cfg=cfg, top_k=top_k, top_p=top_p,
                   temperature=temperature)
    run(tiny_engine, spec)
    (processors,) = built_processors
    sampling = Sampling.from_knobs(cfg=cfg, top_k=top_k, top_p=top_p,
                                   temperature=temperature)
    rows = 4 * 2  # two variations' codebooks
    generator = torch.Generator().manual_seed(0)
    for scale in (0.5, 4.0):  # flat and peaked distributions
        logits = torch.randn(rows * (2 if cfg > 1 else 1), 2048, generator=generator) * scale
        expected = processors(torch.zeros(rows, 1, dtype=torch.long), logits.clone())
        got = process(logits.clone(), sampling)
        assert torch.equal(got, expected)
        assert torch.equal(got.softmax(-1), expected.softmax(-1))


def test_guidance_batches_prompt_rows_then_null_rows_as_generate_does(tiny_engine):
    core = DecoderCore(tiny_engine.model)
    text = torch.randn(2, 5, 32)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    states, rows_mask = core.conditioning(text, mask, null_rows=True)
    assert torch.equal(states[:2], text * mask[..., None])
    assert torch.equal(states[2:], torch.zeros_like(text))
    assert torch.equal(rows_mask[2:], torch.zeros_like(mask))


# -- the Engine contract: progress, cancel, lengths, refusals -----------------------------

def test_progress_rises_step_by_step_to_one(fast):
    reports: list[float] = []
    fast.generate(SPEC, reports.append, threading.Event())
    steps = fast.max_new_tokens(SPEC.seconds)
    assert reports == [pytest.approx(i / steps) for i in range(1, steps + 1)]


def test_cancel_before_start_does_no_work(fast):
    cancel = threading.Event()
    cancel.set()
    reports: list[float] = []
    with pytest.raises(Cancelled):
        fast.generate(SPEC, reports.append, cancel)
    assert reports == []


def test_cancel_stops_within_a_step_and_the_engine_goes_on(fast):
    cancel = threading.Event()
    reports: list[float] = []

    def progress(fraction: float) -> None:
        reports.append(fraction)
        if len(reports) == 10:
            cancel.set()

    with pytest.raises(Cancelled):
        fast.generate(replace(SPEC, seconds=20.0), progress, cancel)
    assert len(reports) == 10, "decoding went on after cancel"
    assert run(fast).audio.shape == (1, 1, 25 * HOP)


def test_cancel_from_another_thread_is_prompt(fast):
    cancel, started = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            fast.generate(replace(SPEC, seconds=25.0), lambda _: started.set(), cancel)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    assert started.wait(10)
    cancelled_at = time.monotonic()
    cancel.set()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 1.0
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)


@pytest.mark.parametrize("seconds", [0.02, 0.04, 0.33, 0.5, 1.27])
def test_audio_length_is_the_reference_engines(tiny_engine, fast, seconds):
    expected = run(tiny_engine, seconds=seconds, variations=2)
    got = run(fast, seconds=seconds, variations=2)
    assert got.audio.shape == expected.audio.shape
    assert got.audio.dtype == np.float32
    assert got.sample_rate == expected.sample_rate == 32_000
    assert got.codes is not None and got.codes.shape[:2] == (2, 4)


def test_reports_the_models_rates_window_and_capabilities(fast, tiny_engine):
    assert fast.name == "fast"
    assert (fast.sample_rate, fast.frame_rate, fast.max_seconds) == (
        tiny_engine.sample_rate, tiny_engine.frame_rate, tiny_engine.max_seconds)
    assert fast.capabilities == tiny_engine.capabilities == {NEGATIVE_PROMPT, CONTINUATION}


@pytest.mark.parametrize(("changes", "words"), [
    ({"seconds": 31.0}, "window of 30 s"),
    ({"seconds": 0.0}, "at least one frame"),
    ({"melody": np.zeros(32_000, np.float32), "melody_rate": 32_000}, "cannot do melody"),
    ({"prefix_codes": np.zeros((2, 4, 5), dtype=np.int64)}, "prefix codes must be"),
    ({"cfg": 0.5}, "cfg must be at least 1"),
])
def test_requests_it_cannot_do_are_refused_before_any_work(fast, changes, words):
    reports: list[float] = []
    with pytest.raises(EngineError, match=words):
        fast.generate(replace(SPEC, **changes), reports.append, threading.Event())
    assert reports == []


# -- conditioning: the reference engine's inputs, our decoding ------------------------------

NOISE = np.random.default_rng(0).standard_normal(int(0.43 * 44_100)).astype(np.float32) * 0.3


@pytest.mark.parametrize("changes", [
    {"negative_prompt": "muffled, distorted, lo-fi"},
    {"negative_prompt": "noise", "variations": 2, "cfg": 5.0},
    {"negative_prompt": "ignored without guidance", "cfg": 1.0},
    {"audio_prompt": NOISE, "prompt_rate": 44_100},
    {"audio_prompt": NOISE, "prompt_rate": 44_100, "keep_prompt": True, "variations": 2},
    {"prefix_codes": np.random.default_rng(1).integers(0, 2048, (2, 4, 9)), "variations": 2},
    {"prefix_codes": np.random.default_rng(2).integers(0, 2048, (1, 4, 3)),
     "keep_prompt": True, "negative_prompt": "noise"},
])
def test_conditioned_requests_give_the_reference_engines_codes_and_audio(
        tiny_engine, fast, changes):
    expected = run(tiny_engine, **changes)
    got = run(fast, **changes)
    assert got.audio.shape == expected.audio.shape
    assert np.array_equal(got.codes, expected.codes)
    assert np.array_equal(got.audio, expected.audio)


def test_long_clips_in_windows_are_the_reference_engines(tiny_engine, fast):
    from bridge.engine.windows import WindowedEngine, can_window

    assert can_window(fast)
    spec = replace(SPEC, seconds=2.3, variations=2)
    expected = run(WindowedEngine(tiny_engine, window_s=1.0, context_s=0.4), spec)
    got = run(WindowedEngine(fast, window_s=1.0, context_s=0.4), spec)
    assert got.audio.shape == expected.audio.shape == (2, 1, 115 * HOP)
    assert np.array_equal(got.codes, expected.codes)
    assert np.array_equal(got.audio, expected.audio)


def test_a_melody_model_is_refused_naming_the_engine_that_can():
    # A stand-in for a loaded MusicGen-Melody reference engine: building the tiny melody
    # model needs torchaudio, which the test environment lacks; only the flag is read.
    melody = SimpleNamespace(is_melody=True, model_id="tiny-melody")
    with pytest.raises(EngineError, match='MusicGen-Melody.*engine = "transformers"'):
        FastEngine(melody)  # type: ignore[arg-type]


# -- loading, int8, the pieces the CUDA graph relies on -----------------------------------

def test_the_config_loader_builds_it_from_a_checkpoint_directory(tiny_model_dir):
    from bridge.config import defaults
    from bridge.engine.loader import load_engine

    config = defaults().with_overrides({("model", "engine"): "fast",
                                        ("model", "name"): str(tiny_model_dir),
                                        ("model", "device"): "cpu"})
    engine = load_engine(config.model)
    assert isinstance(engine, FastEngine) and engine.mode == "eager"
    assert run(engine).audio.shape == (1, 1, 25 * HOP)


def test_a_missing_checkpoint_is_the_reference_loaders_error(tmp_path):
    with pytest.raises(EngineError, match="no such directory"):
        load_fast_engine(str(tmp_path / "nowhere"), "cpu")


def test_int8_is_deterministic_and_close_to_float(tiny_engine, fast):
    int8 = load_fast_engine(tiny_engine, cpu_int8=True)
    assert int8.cpu_int8
    first = run(int8, variations=2)
    assert np.array_equal(run(int8, variations=2).codes, first.codes)
    assert first.audio.shape == run(fast, variations=2).audio.shape
    # The float engine's token history fed through both: int8 logits stay close to float.
    steps = tiny_engine.max_new_tokens(0.5)
    grid = _greedy_grid(fast, steps)
    reference = _logits_along(fast, grid)
    quantized = _logits_along(int8, grid)
    assert not torch.equal(quantized, reference)  # int8 really ran
    assert (quantized - reference).abs().max() < 0.2 * reference.std()
    agree = (quantized.argmax(-1) == reference.argmax(-1)).float().mean()
    assert agree > 0.9


def _conditioned_stepper(engine: FastEngine, steps: int) -> EagerStepper:
    core = engine.core
    inputs = engine.processor(text=[PROMPT], padding=True, return_tensors="pt")
    text = engine.model.text_encoder(**inputs).last_hidden_state
    states, mask = core.conditioning(text, inputs["attention_mask"], True)
    return EagerStepper(core, core.cross_kv(states, mask), 2, steps, True)


@torch.inference_mode()
def _greedy_grid(engine: FastEngine, steps: int) -> torch.Tensor:
    pattern = build_pattern(torch.full((4, 1), 2048), 4, 2048, steps + 1)
    return decode(_conditioned_stepper(engine, steps), pattern,
                  Sampling(cfg=3.0, do_sample=False), None)


@torch.inference_mode()
def _logits_along(engine: FastEngine, grid: torch.Tensor) -> torch.Tensor:
    """CFG-mixed logits of every step with ``grid``'s tokens fed (teacher forcing)."""
    steps = grid.shape[-1] - 1
    stepper = _conditioned_stepper(engine, steps)
    seen = [stepper.prefill(grid[:, :1])]
    seen += [stepper.step(grid[:, c - 1:c], c - 1) for c in range(2, steps + 1)]
    return torch.stack([process(s, Sampling(cfg=3.0, do_sample=False)) for s in seen])


def test_buckets_cover_the_window():
    assert KV_BUCKETS[-1] >= 1503 and TEXT_BUCKETS == tuple(sorted(TEXT_BUCKETS))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graphs_give_the_eager_codes(tiny_model_dir):  # pragma: no cover - GPU only
    graphs = load_fast_engine(str(tiny_model_dir), "cuda")
    eager = load_fast_engine(graphs.reference, mode="eager", warmup=False)
    assert graphs.mode == "graphs"
    steps = graphs.max_new_tokens(1.4)
    sampling = Sampling(cfg=3.0, do_sample=False)
    assert torch.equal(graphs.codes([PROMPT] * 2, steps, sampling, 0),
                       eager.codes([PROMPT] * 2, steps, sampling, 0))

"""The fast engine: MusicGen through our own decode loop, same codes as transformers.

``load_fast_engine`` loads the checkpoint with the reference engine's loader (same checks,
same error messages, same dtype choice) and wraps the loaded model in a ``FastEngine``:
- the request's conditioning comes from ``bridge.engine.conditioning``, as the reference
  engine's does (the keyword arguments generate would get: text, negative prompt, audio
  prompt or prefix codes; the checks and prompt trimming), so both engines mean the same
  thing by a request; only the decoding is ours;
- text encoded once; guidance rows batched as [prompt rows; null (or negative) rows] exactly
  as generate builds them; the codebook delay pattern and logits processing of generate
  (see ``fast_pattern`` and ``fast_sampling``);
- a preallocated self-attention cache and cross-attention keys/values computed once per
  request (``fast_decoder``);
- on CUDA: float16 (bfloat16 on request), each step one CUDA graph replay (``fast_cuda``),
  graphs captured and kernels warmed at load;
- on the CPU: float32, or int8 decoder linears with ``cpu_int8`` (about half the step time;
  its effect on the token distribution is measured in docs/benchmarks.md).

Seeding matches the reference engine: a generator seeded with the request's seed feeds one
``torch.multinomial`` over all rows per step, as ``torch.manual_seed`` + generate does, so on
the CPU in float32 the same seed gives the same codes as ``TransformersEngine`` (tested).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch

from bridge.engine.base import (
    Cancelled,
    EngineError,
    GeneratedAudio,
    GenerationSpec,
    ProgressFn,
)
from bridge.engine.conditioning import GENERATE_LOCK, Conditioning
from bridge.engine.device import AUTO
from bridge.engine.fast_cuda import TEXT_CAPACITY, GraphDecoders
from bridge.engine.fast_decoder import DecoderCore
from bridge.engine.fast_loop import (
    TEXT_BUCKETS,
    EagerStepper,
    StaticStepper,
    Stepper,
    bucket,
    decode,
)
from bridge.engine.fast_pattern import build_pattern, undo_pattern
from bridge.engine.fast_sampling import Sampling
from bridge.engine.transformers_engine import TransformersEngine, load_engine

log = logging.getLogger(__name__)

Mode = Literal["auto", "eager", "static", "graphs"]
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


class FastEngine:
    """A loaded MusicGen decoded by our own loop; implements ``bridge.engine.base.Engine``.

    ``mode``: "auto" (CUDA graphs on CUDA, eager elsewhere), "eager", "static" (the graph
    step run eagerly: for tests), "graphs" (CUDA only).
    """

    name = "fast"

    def __init__(self, reference: TransformersEngine, *, cpu_int8: bool = False,
                 mode: Mode = "auto") -> None:
        if reference.is_melody:
            raise EngineError(f"the fast engine does not do MusicGen-Melody models yet "
                              f"({reference.model_id}); set [model] engine = \"transformers\"")
        self.reference = reference
        self.conditioning: Conditioning = reference.conditioning
        self.model = reference.model
        self.processor = reference.processor
        self.model_id = reference.model_id
        self.device = self.model.device
        self.sample_rate = reference.sample_rate
        self.frame_rate = reference.frame_rate
        self.num_codebooks = reference.num_codebooks
        self.max_seconds = reference.max_seconds
        if self.model.config.decoder.audio_channels != 1:
            raise EngineError(f"the fast engine does not do stereo models yet ({self.model_id}); "
                              'set [model] engine = "transformers"')
        # Negative prompts and continuation (audio prompt, prefix codes) as the reference
        # engine does them: the same conditioning inputs, our decoding.
        self.capabilities: frozenset[str] = self.conditioning.capabilities
        if mode == "auto":
            mode = "graphs" if self.device.type == "cuda" else "eager"
        if mode == "graphs" and self.device.type != "cuda":
            raise EngineError(f"CUDA graphs need a CUDA device, this model is on {self.device}")
        self.mode = mode
        self.cpu_int8 = cpu_int8 and self.device.type == "cpu"
        try:
            self.core = DecoderCore(self.model, int8=self.cpu_int8)
        except RuntimeError as err:
            raise EngineError(f"cpu_int8 is not available here ({err}); set [model] "
                              "cpu_int8 = false") from err
        self.graphs = GraphDecoders(self.core) if mode == "graphs" else None
        generation = self.model.generation_config
        self.start_token = int(generation.decoder_start_token_id)
        self.pad_token = int(generation.pad_token_id)

    # -- Engine --------------------------------------------------------------------------

    def max_new_tokens(self, seconds: float) -> int:
        return self.conditioning.max_new_tokens(seconds)

    def frames(self, seconds: float) -> int:
        return self.conditioning.frames(seconds)

    def generate(self, spec: GenerationSpec, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio:
        self._check(spec)
        if cancel.is_set():
            raise Cancelled()
        sampling = Sampling.from_knobs(cfg=spec.cfg, top_k=spec.top_k, top_p=spec.top_p,
                                       temperature=spec.temperature)
        steps = self.max_new_tokens(spec.seconds)

        def on_step(step: int) -> None:
            if cancel.is_set():
                raise Cancelled()
            progress(min(1.0, step / steps))

        with GENERATE_LOCK:
            if cancel.is_set():  # cancelled while another generation held the model
                raise Cancelled()
            log.debug("fast generate %d x %.2f s (%d steps) seed %d on %s (%s)",
                      spec.variations, spec.seconds, steps, spec.seed, self.device, self.mode)
            try:
                # The kwargs the reference engine gives generate: text, negative prompt
                # rows, audio prompt or prefix codes.
                inputs, prompt_frames = self.conditioning.inputs(spec)
                codes = self._codes(inputs, spec.variations, steps, sampling, spec.seed,
                                    on_step)
                audio = self.decode_audio(codes)
            except torch.cuda.OutOfMemoryError as err:
                raise EngineError(
                    f"out of GPU memory generating {spec.variations} x {spec.seconds:.1f} s on "
                    f"{self.device}; ask for fewer variations or a shorter clip, or use "
                    "--device cpu") from err
        out, kept = self.conditioning.drop_prompt(spec, prompt_frames, audio,
                                                codes.cpu().numpy().astype(np.int64))
        return GeneratedAudio(audio=out, sample_rate=self.sample_rate, codes=kept)

    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """EnCodec decoding of codes (variations, codebooks, frames), as generate decodes
        (bridge.engine.windows joins long clips with it)."""
        with GENERATE_LOCK:
            return self.conditioning.decode_codes(codes)

    # -- the work ------------------------------------------------------------------------

    def codes(self, texts: list[str], steps: int, sampling: Sampling, seed: int, *,
              prefix: torch.Tensor | None = None,
              on_step: Callable[[int], None] = lambda _: None) -> torch.Tensor:
        """Codes (len(texts), codebooks, frames) of ``steps`` decoding steps, as
        ``model.generate(max_new_tokens=steps, ...)`` makes them after ``torch.manual_seed
        (seed)``. ``prefix``: codes (batch, codebooks, frames) to continue, as generate's
        ``decoder_input_ids``; the result then starts with them."""
        inputs = dict(self.processor(text=texts, padding=True, return_tensors="pt"
                                     ).to(self.device))
        if prefix is not None:
            prefix = torch.as_tensor(prefix, dtype=torch.long, device=self.device)
            inputs["decoder_input_ids"] = prefix.reshape(-1, prefix.shape[-1])
        return self._codes(inputs, len(texts), steps, sampling, seed, on_step)

    @torch.inference_mode()
    def _codes(self, inputs: dict[str, Any], batch: int, steps: int, sampling: Sampling,
               seed: int, on_step: Callable[[int], None]) -> torch.Tensor:
        """Decode from generate's keyword arguments: ``input_ids`` + ``attention_mask``
        (text), or ``encoder_outputs`` + ``attention_mask`` (both halves of the guidance
        batch, as for a negative prompt: then no null rows are added), and optionally
        ``decoder_input_ids`` (batch * codebooks, frames) to continue from."""
        codebooks = self.num_codebooks
        text_mask = inputs["attention_mask"]
        if "encoder_outputs" in inputs:
            text_states, null_rows = inputs["encoder_outputs"].last_hidden_state, False
        else:
            text_states = self.model.text_encoder(input_ids=inputs["input_ids"],
                                                  attention_mask=text_mask).last_hidden_state
            null_rows = sampling.guided
        states, mask = self.core.conditioning(text_states, text_mask, null_rows)
        if states.shape[0] != batch * (2 if sampling.guided else 1):
            raise EngineError(f"conditioning has {states.shape[0]} rows for a batch of {batch}")
        start_ids = self._start_ids(inputs.get("decoder_input_ids"), batch)
        pattern = build_pattern(start_ids, codebooks, self.start_token,
                                length=start_ids.shape[-1] + steps,
                                audio_channels=self.model.config.decoder.audio_channels)
        if pattern.length - 1 > self.core.max_positions:
            raise EngineError(f"{pattern.length - 1} decoder positions exceed this model's "
                              f"{self.core.max_positions}; ask for a shorter clip")
        stepper = self._stepper(states, mask, batch, sampling.guided, pattern.length - 1)
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        grid = decode(stepper, pattern, sampling, generator, on_step)
        return undo_pattern(grid, batch, codebooks, self.pad_token)

    def _start_ids(self, prefix: torch.Tensor | None, batch: int) -> torch.Tensor:
        """The decoder input before the first step, as generate prepares it: the start token,
        prepended to ``prefix`` unless every row already starts with it."""
        start = torch.full((batch * self.num_codebooks, 1), self.start_token, dtype=torch.long,
                           device=self.device)
        if prefix is None:
            return start
        prefix = prefix.to(self.device, torch.long)
        if bool((prefix[..., 0] != self.start_token).all()):
            return torch.cat([start, prefix], dim=-1)
        return prefix

    @torch.inference_mode()
    def decode_audio(self, codes: torch.Tensor) -> np.ndarray:
        """EnCodec decoding, as generate ends: float32 (batch, channels, samples)."""
        audio = self.model.audio_encoder.decode(codes[None].to(self.device),
                                                audio_scales=[None] * codes.shape[0]
                                                ).audio_values
        out: np.ndarray = audio.float().cpu().numpy()
        return out

    @torch.inference_mode()
    def warm_up(self, seconds: float | None = None) -> float:
        """One short generation (lazy initialisation, allocator, kernels) and, with CUDA
        graphs, capture of the batch-1 steps for the whole window; returns seconds taken."""
        if seconds is None:  # a CPU is warm after a few steps; a GPU also tunes kernels
            seconds = 1.0 if self.device.type == "cuda" else 0.1
        started = time.perf_counter()
        sampling = Sampling.from_knobs(cfg=3.0, top_k=250, top_p=0.0, temperature=1.0)
        if self.graphs is not None:
            decoder = self.graphs.get(1, True, self.max_new_tokens(self.max_seconds))
            with GENERATE_LOCK:
                captured = decoder.capture_all()
            log.info("captured %d decoder step graphs", captured)
        with GENERATE_LOCK:
            codes = self.codes(["warm-up"], self.max_new_tokens(seconds), sampling, seed=0)
            self.decode_audio(codes)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - started

    # -- helpers -------------------------------------------------------------------------

    def _stepper(self, states: torch.Tensor, mask: torch.Tensor, batch: int, guided: bool,
                 length: int) -> Stepper:
        rows, tokens = states.shape[0], states.shape[1]
        if self.mode == "graphs" and tokens <= TEXT_CAPACITY:
            assert self.graphs is not None
            decoder = self.graphs.get(batch, guided, length)
            decoder.load_text(states, mask)
            return decoder
        if self.mode == "graphs":
            log.warning("prompt of %d tokens is longer than the %d the CUDA graphs hold; "
                        "decoding eagerly", tokens, TEXT_CAPACITY)
        if self.mode == "static":
            capacity = bucket(tokens, TEXT_BUCKETS, max(tokens, TEXT_CAPACITY))
            cross = self.core.cross_kv(states, mask, capacity=max(capacity, TEXT_CAPACITY))
            return StaticStepper(self.core, cross, rows, length, guided, tokens)
        return EagerStepper(self.core, self.core.cross_kv(states, mask), rows, length, guided)

    def _check(self, spec: GenerationSpec) -> None:
        if not math.isfinite(spec.cfg) or spec.cfg < 1.0:
            raise EngineError(f"cfg must be at least 1, got {spec.cfg:g}")
        # Lengths, window, variations, conditioning and prefix codes: the same rules and
        # words as the reference engine (whose capabilities this engine has).
        self.conditioning.check(spec)


def load_fast_engine(model: str | TransformersEngine = "facebook/musicgen-small",
                     device: str = AUTO, *, cpu_int8: bool = False,
                     cuda_dtype: str | None = None, mode: Mode = "auto",
                     warmup: bool = True) -> FastEngine:
    """Load ``model`` (hub id, checkpoint directory, or an already loaded reference engine)
    and return a warm ``FastEngine``. ``cpu_int8``: int8 decoder linears when on the CPU.
    ``cuda_dtype``: "float16" (default on CUDA) or "bfloat16"."""
    reference = model if isinstance(model, TransformersEngine) else load_engine(model, device)
    if cuda_dtype is not None and reference.device.type == "cuda":
        if cuda_dtype not in _DTYPES:
            raise EngineError(f"cuda_dtype must be one of {', '.join(_DTYPES)}, "
                              f"got {cuda_dtype!r}")
        reference.model.to(_DTYPES[cuda_dtype])
    if cpu_int8 and reference.device.type != "cpu":
        log.info("cpu_int8 ignored: the model runs on %s", reference.device)
    engine = FastEngine(reference, cpu_int8=cpu_int8, mode=mode)
    if warmup:
        took = engine.warm_up()
        log.info("fast engine warm on %s (%s%s) in %.1f s", engine.device, engine.mode,
                 ", int8" if engine.cpu_int8 else "", took)
    return engine

"""MusicGen through Hugging Face transformers: load once, keep warm, one batched call per job.

``load_engine`` turns a hub id or a local checkpoint directory into a ``TransformersEngine``;
every failure a user can cause (a typo in the path, a non-MusicGen checkpoint, no network for a
model not yet cached) becomes one ``EngineError`` that names the model and the fix.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoProcessor,
    MusicgenForConditionalGeneration,
    MusicgenMelodyForConditionalGeneration,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
)

from bridge.engine.base import (
    Cancelled,
    EngineError,
    GeneratedAudio,
    GenerationSpec,
    ProgressFn,
)
from bridge.engine.conditioning import GENERATE_LOCK, Conditioning
from bridge.engine.device import AUTO, pick_device, pick_dtype
from bridge.engine.hub import resolve_hub_model
from bridge.engine.melody import MelodyProcessor
from bridge.params import transformers_top_p

log = logging.getLogger(__name__)

DEFAULT_MODEL = "facebook/musicgen-small"
# What from_pretrained raises for a missing, partial or corrupt checkpoint.
_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, SafetensorError)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_FIX = ("pass a MusicGen checkpoint directory (`musicgen-bridge tiny-model DIR` makes a small "
        f"offline one) or a Hugging Face hub id such as {DEFAULT_MODEL}")


class TransformersEngine:
    """A loaded MusicGen model; implements ``bridge.engine.base.Engine``."""

    name = "transformers"

    # ``model`` is Any: transformers types a module's submodules as ``Tensor | Module``; what the
    # engine needs typed is copied into fields (here and in ``Conditioning``).
    def __init__(self, model: Any, processor: Any, *, model_id: str) -> None:
        self.model: Any = model
        self.processor = processor
        self.model_id = model_id
        self.device: torch.device = model.device
        self.conditioning = Conditioning(model, processor, model_id=model_id)
        self.sample_rate = self.conditioning.sample_rate
        self.frame_rate = self.conditioning.frame_rate
        self.num_codebooks = self.conditioning.num_codebooks
        self.max_seconds = self.conditioning.max_seconds
        self.capabilities: frozenset[str] = self.conditioning.capabilities
        # The keyword arguments of the latest model.generate call, read-only, so tests and
        # logs can see exactly what reached transformers.
        self.last_generate_kwargs: Mapping[str, Any] = MappingProxyType({})

    @property
    def is_melody(self) -> bool:
        return self.conditioning.is_melody

    def max_new_tokens(self, seconds: float) -> int:
        return self.conditioning.max_new_tokens(seconds)

    def frames(self, seconds: float) -> int:
        return self.conditioning.frames(seconds)

    def generate(self, spec: GenerationSpec, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio:
        self.conditioning.check(spec)
        if cancel.is_set():
            raise Cancelled()
        inputs, prompt_frames = self.conditioning.inputs(spec)
        steps = self.max_new_tokens(spec.seconds)
        watcher = _StepWatcher(steps, progress, cancel)
        kwargs: dict[str, Any] = dict(
            **inputs,
            max_new_tokens=steps,
            do_sample=True,
            top_k=int(spec.top_k),
            top_p=transformers_top_p(spec.top_p),
            temperature=float(spec.temperature),
            guidance_scale=float(spec.cfg),
        )
        with GENERATE_LOCK:
            if cancel.is_set():  # cancelled while another generation held the model
                raise Cancelled()
            self.last_generate_kwargs = MappingProxyType(dict(kwargs))
            log.debug("generate %d x %.2f s (%d steps) seed %d on %s", spec.variations,
                      spec.seconds, steps, spec.seed, self.device)
            torch.manual_seed(spec.seed)
            try:
                audio = self.model.generate(
                    **kwargs, stopping_criteria=StoppingCriteriaList([watcher]))
            except torch.cuda.OutOfMemoryError as err:
                raise EngineError(
                    f"out of GPU memory generating {spec.variations} x {spec.seconds:.1f} s on "
                    f"{self.device}; ask for fewer variations or a shorter clip, or use "
                    "--device cpu") from err
        codes = self._codes(watcher.sequences, spec.variations, steps,
                            prefix=kwargs.get("decoder_input_ids"))
        out, codes = self.conditioning.drop_prompt(spec, prompt_frames, audio.float().cpu().numpy(), codes)
        return GeneratedAudio(audio=out, sample_rate=self.sample_rate, codes=codes)

    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """EnCodec-decode codes (variations, codebooks, frames) into float32 audio, as
        generate decodes what it makes (bridge.engine.windows joins long clips with it)."""
        return self.conditioning.decode_codes(codes)

    def _codes(self, sequences: torch.Tensor | None, variations: int,
               steps: int, prefix: torch.Tensor | None = None) -> np.ndarray | None:
        """Undo the delay pattern on the final token grid exactly as generate does before
        decoding, so these codes decode to the returned audio. ``prefix``: the undelayed
        codes generate continued from (its decoder_input_ids); generate's pattern mask forces
        them into the grid, also where the delayed codebooks sampled something else."""
        if sequences is None:
            return None
        decoder = self.model.decoder
        gen = self.model.generation_config
        start = 1 if prefix is None else 1 + prefix.shape[-1]
        # Devices that check stopping one step late (mps) run one extra step; drop it.
        seq = sequences[:, :start + steps]
        head = seq[:, :1] if prefix is None else torch.cat(
            [seq[:, :1], prefix.to(seq.device, seq.dtype)], dim=-1)
        _, mask = decoder.build_delay_pattern_mask(
            head, pad_token_id=gen.decoder_start_token_id, max_length=seq.shape[-1])
        seq = decoder.apply_delay_pattern_mask(seq, mask)
        codes = seq[seq != gen.pad_token_id].reshape(variations, self.num_codebooks, -1)
        out: np.ndarray = codes.cpu().numpy().astype(np.int64)
        return out

class _StepWatcher(StoppingCriteria):
    """Called by generate after every decoding step: reports progress, honours cancel, and
    keeps the token grid for the codes. Cancelling must raise: returning True would stop
    early and crash generate's final reshape (it expects every step to have run)."""

    def __init__(self, steps: int, progress: ProgressFn, cancel: threading.Event) -> None:
        self.steps = steps
        self.progress = progress
        self.cancel = cancel
        self.start_len: int | None = None
        self.sequences: torch.Tensor | None = None

    # A bool Tensor: torch.BoolTensor is a legacy class no torch function is typed to return.
    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        if self.cancel.is_set():
            raise Cancelled()
        length = input_ids.shape[-1]
        if self.start_len is None:
            self.start_len = length - 1
        self.sequences = input_ids
        self.progress(min(1.0, (length - self.start_len) / self.steps))
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def load_engine(model: str = DEFAULT_MODEL, device: str = AUTO) -> TransformersEngine:
    """Load ``model`` (hub id or local directory) on ``device`` and return a warm engine."""
    torch_device = pick_device(device)
    dtype = pick_dtype(torch_device)
    source = _checkpoint_source(model)
    try:
        config = AutoConfig.from_pretrained(source)
    except _LOAD_ERRORS as err:
        raise EngineError(_load_failure(model, source, err)) from err
    model_type = getattr(config, "model_type", None)
    if model_type not in _MODEL_CLASSES:
        raise EngineError(f"model {model!r} is not a MusicGen checkpoint: its config says "
                          f"model_type {model_type!r}; {_FIX}")
    log.info("loading %s on %s (%s)", model, torch_device, str(dtype).removeprefix("torch."))
    try:
        processor = _load_processor(model_type, source)
        net: Any = _MODEL_CLASSES[model_type].from_pretrained(source, dtype=dtype)
    except _LOAD_ERRORS as err:
        raise EngineError(_load_failure(model, source, err)) from err
    net.to(torch_device).eval()
    engine = TransformersEngine(net, processor, model_id=model)
    log.info("loaded %s: %d Hz, %g frames/s, %d codebooks, window %g s", model,
             engine.sample_rate, engine.frame_rate, engine.num_codebooks, engine.max_seconds)
    return engine


# config.json model_type -> the class that loads it.
_MODEL_CLASSES: dict[str, type[PreTrainedModel]] = {
    "musicgen": MusicgenForConditionalGeneration,
    "musicgen_melody": MusicgenMelodyForConditionalGeneration,
}


def _load_processor(model_type: str, source: str) -> Any:
    """MusicGen's own processor; for MusicGen-Melody ours, which needs no torchaudio (see
    bridge.engine.melody) and computes the same chroma."""
    if model_type == "musicgen_melody":
        return MelodyProcessor.from_pretrained(source)
    return AutoProcessor.from_pretrained(source)


def _checkpoint_source(model: str) -> str:
    """A local directory as a path string, or a hub id; anything else is refused here, before
    transformers turns a mistyped path into a confusing hub lookup."""
    if not model.strip():  # Path("") is the current folder, never what was meant
        raise EngineError(f"no model given; {_FIX}")
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise EngineError(f"model {model!r} is a file, not a checkpoint directory; {_FIX}")
        if not (path / "config.json").is_file():
            raise EngineError(f"model {model!r} is not a MusicGen checkpoint: {path} has no "
                              f"config.json; {_FIX}")
        return str(path)
    if _HUB_ID.fullmatch(model) and not model.startswith("."):
        # The local cache first, then one announced download; offline fails here, at once.
        return resolve_hub_model(model)
    raise EngineError(f"model {model!r}: no such directory; {_FIX}")


def _load_failure(model: str, source: str, err: BaseException) -> str:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if Path(source).is_dir():
        return (f"could not load model {model!r} ({reason}); the checkpoint looks incomplete or "
                f"damaged: build or download it again, or {_FIX}")
    return (f"could not load model {model!r} from the Hugging Face hub ({reason}); it is no "
            "local directory either: check the spelling, connect to the network once so the "
            "model is downloaded and cached, or pass a local checkpoint directory")


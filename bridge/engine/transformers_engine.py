"""MusicGen through Hugging Face transformers: load once, keep warm, one batched call per job.

``load_engine`` turns a hub id or a local checkpoint directory into a ``TransformersEngine``;
every failure a user can cause (a typo in the path, a non-MusicGen checkpoint, no network for a
model not yet cached) becomes one ``EngineError`` that names the model and the fix.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import soxr
import torch
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoProcessor,
    MusicgenForConditionalGeneration,
    MusicgenMelodyForConditionalGeneration,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.modeling_outputs import BaseModelOutput

from bridge.engine.base import (
    CONTINUATION,
    MELODY,
    NEGATIVE_PROMPT,
    Cancelled,
    EngineError,
    GeneratedAudio,
    GenerationSpec,
    ProgressFn,
)
from bridge.engine.device import AUTO, pick_device, pick_dtype
from bridge.engine.hub import resolve_hub_model
from bridge.engine.melody import MelodyProcessor
from bridge.params import transformers_top_p

log = logging.getLogger(__name__)

DEFAULT_MODEL = "facebook/musicgen-small"
# Sampling uses torch's process-wide random generator, so seeded runs are only reproducible
# when no other generation draws from it at the same time: one lock for every engine.
_GENERATE_LOCK = threading.Lock()
# What from_pretrained raises for a missing, partial or corrupt checkpoint.
_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, SafetensorError)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_FIX = ("pass a MusicGen checkpoint directory (`musicgen-bridge tiny-model DIR` makes a small "
        f"offline one) or a Hugging Face hub id such as {DEFAULT_MODEL}")


class TransformersEngine:
    """A loaded MusicGen model; implements ``bridge.engine.base.Engine``."""

    name = "transformers"

    def __init__(self, model: MusicgenForConditionalGeneration, processor: Any, *,
                 model_id: str) -> None:
        self.model = model
        self.processor = processor
        self.model_id = model_id
        self.device = model.device
        config = model.config
        self.sample_rate = int(config.audio_encoder.sampling_rate)
        self.frame_rate = float(config.audio_encoder.frame_rate)
        self.num_codebooks = int(model.decoder.num_codebooks)
        self.max_seconds = model.generation_config.max_length / self.frame_rate
        self.capabilities: frozenset[str] = conditioning_capabilities(model)
        # The keyword arguments of the latest model.generate call, read-only, so tests and
        # logs can see exactly what reached transformers.
        self.last_generate_kwargs: Mapping[str, Any] = MappingProxyType({})

    def max_new_tokens(self, seconds: float) -> int:
        """Decoding steps for ``seconds`` of audio: codebook k is delayed by k steps, so the
        last frame needs num_codebooks - 1 steps beyond the frame count."""
        return self.frames(seconds) + self.num_codebooks - 1

    def frames(self, seconds: float) -> int:
        return int(round(seconds * self.frame_rate))

    def generate(self, spec: GenerationSpec, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio:
        self._check(spec)
        if cancel.is_set():
            raise Cancelled()
        inputs, prompt_frames = self._conditioning_inputs(spec)
        if spec.prefix_codes is not None:  # long clips: see _prefix_code_inputs
            inputs.update(self._prefix_code_inputs(spec))
            prompt_frames = int(np.shape(spec.prefix_codes)[-1])
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
        with _GENERATE_LOCK:
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
        out, codes = self._drop_prompt(spec, prompt_frames, audio.float().cpu().numpy(), codes)
        return GeneratedAudio(audio=out, sample_rate=self.sample_rate, codes=codes)

    def _check(self, spec: GenerationSpec) -> None:
        if not math.isfinite(spec.seconds) or self.frames(spec.seconds) < 1:
            raise EngineError(f"a clip must last at least one frame ({1 / self.frame_rate:g} s), "
                              f"got {spec.seconds:g} s")
        if spec.seconds > self.max_seconds + 0.5 / self.frame_rate:
            raise EngineError(
                f"{spec.seconds:.2f} s is longer than {self.model_id}'s window of "
                f"{self.max_seconds:g} s; ask for fewer bars or a faster tempo")
        if not 1 <= spec.variations:
            raise EngineError(f"variations must be at least 1, got {spec.variations}")
        wanted = {NEGATIVE_PROMPT: bool(spec.negative_prompt),
                  CONTINUATION: spec.audio_prompt is not None or spec.prefix_codes is not None,
                  MELODY: spec.melody is not None}
        missing = sorted(name for name, used in wanted.items()
                         if used and name not in self.capabilities)
        if missing:
            raise EngineError(f"this engine cannot do {', '.join(missing)} with "
                              f"{self.model_id}; leave it out of the request")
        self._check_conditioning(spec)
        self._check_prefix_codes(spec)

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
        return codes.cpu().numpy().astype(np.int64)

    # ---- conditioning: text, negative prompt, audio prompt, melody ------------------------
    # The inputs a spec's conditioning turns into; the decoding call itself stays in generate.

    @property
    def is_melody(self) -> bool:
        return isinstance(self.model, MusicgenMelodyForConditionalGeneration)

    @property
    def hop(self) -> int:
        """Audio samples per codec frame (640 at 32 kHz / 50 Hz)."""
        return int(round(self.sample_rate / self.frame_rate))

    def _check_conditioning(self, spec: GenerationSpec) -> None:
        if spec.audio_prompt is not None:
            if spec.prefix_codes is not None:
                raise EngineError("an audio prompt and prefix codes cannot be combined: "
                                  "continue from one of them")
            frames = len(self._prompt_wave(spec)) // self.hop
            if frames < 1:
                raise EngineError(f"the audio prompt is shorter than one frame "
                                  f"({1 / self.frame_rate:g} s); give a longer prompt")
            window = int(round(self.max_seconds * self.frame_rate))
            if frames + self.frames(spec.seconds) > window:
                raise EngineError(
                    f"an audio prompt of {frames / self.frame_rate:.2f} s plus {spec.seconds:.2f} "
                    f"s of new audio is longer than {self.model_id}'s window of "
                    f"{self.max_seconds:g} s; use fewer prompt seconds or fewer bars")
        if spec.melody is not None:
            if spec.melody_rate <= 0 or np.asarray(spec.melody).ndim != 1 or not spec.melody.size:
                raise EngineError("melody audio must be mono samples with their rate, got shape "
                                  f"{np.shape(spec.melody)} at {spec.melody_rate} Hz")

    def _prompt_wave(self, spec: GenerationSpec) -> np.ndarray:
        """The audio prompt at the model's rate, its last whole frames only (so its codes are
        exactly len // hop frames and trimming them from the output is sample-exact)."""
        assert spec.audio_prompt is not None
        if spec.prompt_rate <= 0:
            raise EngineError(f"the audio prompt needs its sample rate, got {spec.prompt_rate}")
        wave = np.asarray(spec.audio_prompt, dtype=np.float32)
        if wave.ndim != 1:
            raise EngineError(f"the audio prompt must be mono samples, got shape {wave.shape}")
        if spec.prompt_rate != self.sample_rate:
            wave = soxr.resample(wave, spec.prompt_rate, self.sample_rate, quality="HQ")
        usable = len(wave) // self.hop * self.hop
        return np.ascontiguousarray(wave[len(wave) - usable:], dtype=np.float32)

    def _conditioning_inputs(self, spec: GenerationSpec) -> tuple[dict[str, Any], int]:
        """Keyword arguments for model.generate carrying the spec's conditioning, and the
        audio prompt's length in frames (0: none), which the output starts with.

        Text: the prompt, once per variation. Negative prompt (guidance > 1): the text
        encoder's outputs for [prompt x N; negative x N] with their attention mask, so
        guidance mixes ``negative + cfg * (prompt - negative)`` instead of using the zero
        ("null") row. Audio prompt: its codes as ``decoder_input_ids``, the decoder's prefix.
        Melody: chroma ``input_features``.
        """
        n = spec.variations
        chroma = None
        if spec.melody is not None:
            chroma = self.processor.feature_extractor(spec.melody, spec.melody_rate)
            chroma = chroma.to(self.device, self.model.dtype)
        if spec.negative_prompt and spec.cfg > 1:
            kwargs = self._negative_prompt_inputs(spec, chroma)
        else:
            if spec.negative_prompt:
                log.debug("negative prompt ignored: guidance %.2f mixes in no unconditional row",
                          spec.cfg)
            kwargs = dict(self.processor(text=[spec.text] * n, padding=True,
                                         return_tensors="pt").to(self.device))
            if chroma is not None:
                kwargs["input_features"] = chroma.repeat(n, 1, 1)
        prompt_frames = 0
        if spec.audio_prompt is not None:
            wave = self._prompt_wave(spec)
            prompt_frames = len(wave) // self.hop
            kwargs.update(self._audio_prompt_inputs(wave, n))
        return kwargs, prompt_frames

    def _negative_prompt_inputs(self, spec: GenerationSpec,
                                chroma: torch.Tensor | None) -> dict[str, Any]:
        n = spec.variations
        tokens = self.processor(text=[spec.text, spec.negative_prompt], padding=True,
                                return_tensors="pt").to(self.device)
        with torch.no_grad():
            hidden = self.model.text_encoder(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
            ).last_hidden_state
        rows = torch.tensor([0] * n + [1] * n, device=self.device)
        mask = tokens["attention_mask"][rows]
        # Batch N: generate takes its batch size from these; the encoder is not run again.
        inputs = tokens["input_ids"][:1].repeat(n, 1)
        if not self.is_melody:
            return {"inputs": inputs, "attention_mask": mask,
                    "encoder_outputs": BaseModelOutput(last_hidden_state=hidden[rows])}
        return {"inputs": inputs,
                "encoder_hidden_states": self._melody_prefix(hidden[rows], mask, chroma, n)}

    def _melody_prefix(self, text_hidden: torch.Tensor, text_mask: torch.Tensor,
                       chroma: torch.Tensor | None, n: int) -> torch.Tensor:
        """MusicGen-Melody's conditioning prefix as its generate builds it (projected chroma,
        tiled to chroma_length, then the projected, masked text), except that the N
        unconditional rows carry ``text_hidden``'s negative prompt rows, not zeros. Those rows
        get the null chroma: guidance then steers toward the melody and away from the
        negative prompt."""
        model = self.model
        config = model.config
        if model.text_encoder.config.hidden_size != model.decoder.config.hidden_size:
            text_hidden = model.enc_to_dec_proj(text_hidden)
        text_hidden = text_hidden * text_mask[..., None]
        length = 1 if chroma is None else chroma.shape[1]
        null = torch.zeros((1, length, config.num_chroma), device=self.device,
                           dtype=model.dtype)
        null[:, :, 0] = 1
        cond = null if chroma is None else chroma
        audio = torch.cat([cond.expand(n, -1, -1), null.expand(n, -1, -1)], dim=0)
        with torch.no_grad():
            if config.num_chroma != model.decoder.config.hidden_size:
                audio = model.audio_enc_to_dec_proj(audio)
            repeats = math.ceil(config.chroma_length / audio.shape[1])
            audio = audio.repeat(1, repeats, 1)[:, :config.chroma_length]
            return torch.cat([audio, text_hidden], dim=1)

    def _audio_prompt_inputs(self, wave: np.ndarray, n: int) -> dict[str, Any]:
        """The prompt's codes as ``decoder_input_ids`` (n * codebooks, frames): encoded once,
        as generate encodes ``input_values`` (MusicGen's processor, then the audio encoder).
        Passing codes rather than audio lets _codes rebuild generate's pattern mask, and lets
        MusicGen-Melody, whose generate takes no audio prompt, continue too."""
        values, mask = torch.from_numpy(wave)[None, None], None
        if not self.is_melody:
            features = self.processor(audio=wave, sampling_rate=self.sample_rate,
                                      return_tensors="pt")
            values, mask = features["input_values"], features["padding_mask"].to(self.device)
        with torch.no_grad():
            codes = self.model.audio_encoder.encode(
                values.to(self.device, self.model.dtype), mask).audio_codes[0]  # (1, K, frames)
        return {"decoder_input_ids": codes.repeat(n, 1, 1).reshape(n * self.num_codebooks, -1)}

    def _drop_prompt(self, spec: GenerationSpec, prompt_frames: int, audio: np.ndarray,
                     codes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Without keep_prompt, cut the re-synthesised prompt: exactly its frames."""
        if not prompt_frames or spec.keep_prompt:
            return audio, codes
        audio = np.ascontiguousarray(audio[..., prompt_frames * self.hop:])
        return audio, None if codes is None else np.ascontiguousarray(codes[..., prompt_frames:])

    # ---- long clips: continuing exactly from earlier codes (bridge.engine.windows) --------
    # spec.prefix_codes (variations, codebooks, frames) reach generate as decoder_input_ids
    # (variations * codebooks, frames), undelayed: generate prepends the start token and lays
    # them out in the delay pattern itself, and its pattern mask forces codebook k's first k
    # steps to the prefix's last k frames, so the model sees the prefix exactly and samples
    # only the frames after it. spec.seconds counts the new frames. The result is cut like an
    # audio prompt's (_drop_prompt): the new frames' codes, and their audio decoded with the
    # prefix as left context; with keep_prompt both start with the prefix.

    def _check_prefix_codes(self, spec: GenerationSpec) -> None:
        if spec.prefix_codes is None:
            return
        codes = np.asarray(spec.prefix_codes)
        if (codes.ndim != 3 or codes.shape[:2] != (spec.variations, self.num_codebooks)
                or codes.shape[-1] < 1 or not np.issubdtype(codes.dtype, np.integer)):
            raise EngineError(
                "prefix codes must be integers shaped (variations, codebooks, frames) = "
                f"({spec.variations}, {self.num_codebooks}, 1 or more), got {codes.dtype} "
                f"{codes.shape}")
        vocab = int(self.model.decoder.config.vocab_size)
        if codes.min() < 0 or codes.max() >= vocab:
            raise EngineError(f"prefix codes must lie in 0..{vocab - 1}, got "
                              f"{codes.min()}..{codes.max()}")
        if codes.shape[-1] + self.frames(spec.seconds) > self.frames(self.max_seconds):
            raise EngineError(
                f"{codes.shape[-1] / self.frame_rate:.2f} s of prefix codes plus "
                f"{spec.seconds:.2f} s of new audio is longer than {self.model_id}'s window of "
                f"{self.max_seconds:g} s; carry fewer frames over or ask for less new audio")

    def _prefix_code_inputs(self, spec: GenerationSpec) -> dict[str, torch.Tensor]:
        codes = torch.as_tensor(np.asarray(spec.prefix_codes, dtype=np.int64), device=self.device)
        return {"decoder_input_ids": codes.reshape(spec.variations * self.num_codebooks, -1)}

    @torch.inference_mode()
    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """EnCodec-decode codes (variations, codebooks, frames) into float32 audio
        (variations, channels, frames * hop), as generate decodes what it makes. Mono codecs
        (those with CONTINUATION): bridge.engine.windows decodes a long clip's joined codes."""
        ids = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=self.device)
        audio = self.model.audio_encoder.decode(
            ids[None], audio_scales=[None] * ids.shape[0]).audio_values
        return audio.float().cpu().numpy()


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

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
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
    source = _resolve(model)
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
        net = _MODEL_CLASSES[model_type].from_pretrained(source, dtype=dtype)
    except _LOAD_ERRORS as err:
        raise EngineError(_load_failure(model, source, err)) from err
    net.to(torch_device).eval()
    engine = TransformersEngine(net, processor, model_id=model)
    log.info("loaded %s: %d Hz, %g frames/s, %d codebooks, window %g s", model,
             engine.sample_rate, engine.frame_rate, engine.num_codebooks, engine.max_seconds)
    return engine


# config.json model_type -> the class that loads it.
_MODEL_CLASSES: dict[str, type] = {
    "musicgen": MusicgenForConditionalGeneration,
    "musicgen_melody": MusicgenMelodyForConditionalGeneration,
}


def conditioning_capabilities(model: Any) -> frozenset[str]:
    """What ``model`` can be conditioned on besides text (bridge.engine.base constants).

    Continuation needs a mono model (the audio prompt is mono; stereo checkpoints interleave
    two channels' codebooks); melody a MusicGen-Melody model.
    """
    capabilities = {NEGATIVE_PROMPT}
    if int(getattr(model.decoder.config, "audio_channels", 1)) == 1:
        capabilities.add(CONTINUATION)
    if isinstance(model, MusicgenMelodyForConditionalGeneration):
        capabilities.add(MELODY)
    return frozenset(capabilities)


def _load_processor(model_type: str, source: str) -> Any:
    """MusicGen's own processor; for MusicGen-Melody ours, which needs no torchaudio (see
    bridge.engine.melody) and computes the same chroma."""
    if model_type == "musicgen_melody":
        return MelodyProcessor.from_pretrained(source)
    return AutoProcessor.from_pretrained(source)


def _resolve(model: str) -> str:
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


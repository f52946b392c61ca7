"""What a MusicGen checkpoint is conditioned on, shared by every engine that decodes it.

The reference engine (``transformers_engine``) hands these inputs to transformers' generate;
the fast engine (``fast``) decodes from the same inputs with its own loop, so both mean the
same thing by a request: the same checks and error words, text rows and guidance rows
(``[prompt x N; negative x N]`` for a negative prompt), audio prompt or prefix codes as the
decoder's prefix, melody chroma, and the same trimming of the prompt from the output.

``GENERATE_LOCK`` is the seed lock: sampling draws from torch's process-wide generator (the
reference engine seeds it with ``torch.manual_seed``), so seeded runs are reproducible only
when no other generation, with any engine, runs at the same time.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import numpy as np
import soxr
import torch
from transformers import MusicgenMelodyForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from bridge.engine.base import (
    CONTINUATION,
    MELODY,
    NEGATIVE_PROMPT,
    EngineError,
    GenerationSpec,
)

log = logging.getLogger(__name__)

GENERATE_LOCK = threading.Lock()


class Conditioning:
    """A loaded checkpoint's conditioning: ``check(spec)``, then ``inputs(spec)`` (generate's
    keyword arguments), then ``drop_prompt`` on what was decoded."""

    def __init__(self, model: Any, processor: Any, *, model_id: str) -> None:
        self.model = model
        self.processor = processor
        self.model_id = model_id
        self.device: torch.device = model.device
        config = model.config
        self.sample_rate = int(config.audio_encoder.sampling_rate)
        self.frame_rate = float(config.audio_encoder.frame_rate)
        self.num_codebooks = int(model.decoder.num_codebooks)
        self.max_seconds: float = model.generation_config.max_length / self.frame_rate
        self.capabilities: frozenset[str] = conditioning_capabilities(model)

    def max_new_tokens(self, seconds: float) -> int:
        """Decoding steps for ``seconds`` of audio: codebook k is delayed by k steps, so the
        last frame needs num_codebooks - 1 steps beyond the frame count."""
        return self.frames(seconds) + self.num_codebooks - 1

    def frames(self, seconds: float) -> int:
        return int(round(seconds * self.frame_rate))

    def inputs(self, spec: GenerationSpec) -> tuple[dict[str, Any], int]:
        """Keyword arguments for model.generate carrying the spec's conditioning, and how many
        frames the output starts with that are not new (an audio prompt's or prefix codes')."""
        inputs, prompt_frames = self._conditioning_inputs(spec)
        if spec.prefix_codes is not None:  # long clips: see _prefix_code_inputs
            inputs.update(self._prefix_code_inputs(spec))
            prompt_frames = int(np.shape(spec.prefix_codes)[-1])
        return inputs, prompt_frames

    def check(self, spec: GenerationSpec) -> None:
        """Refuse, with an EngineError a user can act on, what this checkpoint cannot do."""
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

    # ---- text, negative prompt, audio prompt, melody ---------------------------------------

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
                "encoder_hidden_states": self.melody_prefix(hidden[rows], mask, chroma, n)}

    def melody_prefix(self, text_hidden: torch.Tensor, text_mask: torch.Tensor,
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
        Passing codes rather than audio lets the engines rebuild generate's pattern mask, and lets
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

    def drop_prompt(self, spec: GenerationSpec, prompt_frames: int, audio: np.ndarray,
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
    # audio prompt's (drop_prompt): the new frames' codes, and their audio decoded with the
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
        out: np.ndarray = audio.float().cpu().numpy()
        return out


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

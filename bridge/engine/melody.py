"""MusicGen-Melody's chroma features and processor, without torchaudio.

transformers' ``MusicgenMelodyFeatureExtractor`` (and so ``MusicgenMelodyProcessor``) needs
torchaudio for one call, its ``Spectrogram``; torchaudio cannot be installed everywhere this
project runs. ``ChromaExtractor`` computes the same features with ``torch.stft`` and
transformers' own chroma filter bank, step by step as the upstream extractor does:

1. audio longer than ``chunk_length`` seconds is cut to its first ``chunk_length`` seconds;
   audio shorter than one FFT window is zero-padded on both sides to ``n_fft`` samples;
2. power spectrogram: Hann window of ``n_fft``, hop ``hop_length``, centred frames with
   reflect padding, divided by the window's energy (torchaudio's ``normalized=True``);
3. projected onto ``num_chroma`` pitch classes (``chroma_filter_bank``, tuning 0, starting at C);
4. per frame, the strongest pitch class becomes 1 and the others 0 (a silent frame: class 0).

Output: float32 ``(batch, frames, num_chroma)``, frames = 1 + samples // hop_length, which is
what ``MusicgenMelodyForConditionalGeneration`` takes as ``input_features``.

``MelodyProcessor`` pairs it with the checkpoint's tokenizer and reads and writes the same
configuration files as ``MusicgenMelodyProcessor``, so a checkpoint saved here loads with the
upstream processor where torchaudio exists, and a hub checkpoint loads here without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import soxr
import torch
from transformers import AutoTokenizer, BatchFeature, PreTrainedTokenizerBase
from transformers.audio_utils import chroma_filter_bank
from transformers.feature_extraction_utils import FeatureExtractionMixin

FEATURE_EXTRACTOR_TYPE = "MusicgenMelodyFeatureExtractor"
PROCESSOR_CLASS = "MusicgenMelodyProcessor"


class ChromaExtractor:
    """``MusicgenMelodyFeatureExtractor``'s features for mono audio (see the module doc)."""

    model_input_names = ["input_features"]

    def __init__(self, feature_size: int = 12, sampling_rate: int = 32_000,
                 hop_length: int = 4096, chunk_length: int = 30, n_fft: int = 16384,
                 num_chroma: int = 12, padding_value: float = 0.0,
                 stem_indices: tuple[int, ...] | list[int] = (3, 2), **_ignored: Any) -> None:
        self.feature_size = int(feature_size)
        self.sampling_rate = int(sampling_rate)
        self.hop_length = int(hop_length)
        self.chunk_length = int(chunk_length)
        self.n_fft = int(n_fft)
        self.num_chroma = int(num_chroma)
        self.padding_value = float(padding_value)
        self.stem_indices = list(stem_indices)
        self.n_samples = self.chunk_length * self.sampling_rate
        self.chroma_filters = torch.from_numpy(chroma_filter_bank(
            sampling_rate=self.sampling_rate, num_frequency_bins=self.n_fft, tuning=0,
            num_chroma=self.num_chroma)).float()
        self.window = torch.hann_window(self.n_fft)

    @classmethod
    def from_pretrained(cls, source: str | Path) -> ChromaExtractor:
        """From a checkpoint's feature-extractor settings (processor_config.json or the older
        preprocessor_config.json; a hub id is looked up like transformers does)."""
        settings, _ = FeatureExtractionMixin.get_feature_extractor_dict(str(source))
        kind = settings.get("feature_extractor_type", FEATURE_EXTRACTOR_TYPE)
        if kind != FEATURE_EXTRACTOR_TYPE:
            raise ValueError(f"{source} has a {kind}, not a {FEATURE_EXTRACTOR_TYPE}: it is not "
                             "a MusicGen-Melody checkpoint")
        return cls(**settings)

    def to_dict(self) -> dict[str, Any]:
        """The settings as MusicgenMelodyFeatureExtractor saves them."""
        return {
            "chunk_length": self.chunk_length, "feature_extractor_type": FEATURE_EXTRACTOR_TYPE,
            "feature_size": self.feature_size, "hop_length": self.hop_length,
            "n_fft": self.n_fft, "n_samples": self.n_samples, "num_chroma": self.num_chroma,
            "padding_side": "right", "padding_value": self.padding_value,
            "return_attention_mask": False, "sampling_rate": self.sampling_rate,
            "stem_indices": self.stem_indices,
        }

    def __call__(self, audio: np.ndarray, sampling_rate: int) -> torch.Tensor:
        """One-hot chroma ``(1, frames, num_chroma)`` of mono ``audio`` at ``sampling_rate``."""
        wave = np.asarray(audio, dtype=np.float32)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"melody audio must be a non-empty mono array, got shape {wave.shape}")
        if sampling_rate != self.sampling_rate:
            wave = soxr.resample(wave, sampling_rate, self.sampling_rate, quality="HQ")
        x = torch.from_numpy(np.ascontiguousarray(wave[:self.n_samples], dtype=np.float32))
        if x.shape[-1] < self.n_fft:
            pad = self.n_fft - x.shape[-1]
            x = torch.nn.functional.pad(x, (pad // 2, pad - pad // 2))
        spec = torch.stft(x[None], self.n_fft, hop_length=self.hop_length,
                          win_length=self.n_fft, window=self.window, center=True,
                          pad_mode="reflect", normalized=False, onesided=True,
                          return_complex=True)
        spec = spec / self.window.pow(2.0).sum().sqrt()
        power = spec.abs().pow(2.0)  # (1, freq, frames)
        raw = torch.einsum("cf,...ft->...ct", self.chroma_filters, power)
        norm = torch.nn.functional.normalize(raw, p=float("inf"), dim=-2, eps=1e-6)
        norm = norm.transpose(1, 2)  # (1, frames, chroma)
        one_hot = torch.zeros_like(norm)
        one_hot.scatter_(-1, norm.argmax(-1, keepdim=True), 1.0)
        return one_hot


class MelodyProcessor:
    """Tokenizer plus ``ChromaExtractor``: the parts of ``MusicgenMelodyProcessor`` we use."""

    def __init__(self, feature_extractor: ChromaExtractor,
                 tokenizer: PreTrainedTokenizerBase) -> None:
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, source: str | Path) -> MelodyProcessor:
        return cls(ChromaExtractor.from_pretrained(source),
                   AutoTokenizer.from_pretrained(str(source)))

    def save_pretrained(self, path: str | Path) -> None:
        """The tokenizer files and processor_config.json, as MusicgenMelodyProcessor writes."""
        path = Path(path)
        self.tokenizer.save_pretrained(path)
        config = {"feature_extractor": self.feature_extractor.to_dict(),
                  "processor_class": PROCESSOR_CLASS}
        (path / "processor_config.json").write_text(json.dumps(config, indent=2) + "\n",
                                                    encoding="utf-8")

    def __call__(self, text: list[str] | str | None = None, audio: np.ndarray | None = None,
                 sampling_rate: int | None = None, padding: bool = True,
                 return_tensors: str = "pt") -> BatchFeature:
        """``input_ids``/``attention_mask`` for ``text`` and ``input_features`` (chroma) for
        ``audio``, one mono array shared by every text row."""
        data: dict[str, Any] = {}
        rows = 1
        if text is not None:
            data.update(self.tokenizer(text, padding=padding, return_tensors=return_tensors))
            rows = int(data["input_ids"].shape[0])
        if audio is not None:
            rate = sampling_rate or self.feature_extractor.sampling_rate
            data["input_features"] = self.feature_extractor(audio, rate).repeat(rows, 1, 1)
        return BatchFeature(data)

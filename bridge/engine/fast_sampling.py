"""Logits to tokens exactly as transformers' ``generate`` does it for MusicGen.

Order and semantics of ``generate(do_sample=True, ...)``: classifier-free guidance first
(``ClassifierFreeGuidanceLogitsProcessor``: uncond + scale * (cond - uncond)), then
``TemperatureLogitsWarper`` (only when temperature != 1), ``TopKLogitsWarper`` (top_k != 0),
``TopPLogitsWarper`` (top_p < 1), softmax and one ``torch.multinomial`` draw for every row.
The same operations in the same order on the same float32 logits give bit-identical scores,
and the same draws from a generator seeded alike give the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bridge.params import transformers_top_p


@dataclass(frozen=True)
class Sampling:
    """Token choice settings in transformers' terms (top_p 1.0 = off, top_k 0 = off)."""

    cfg: float = 3.0
    do_sample: bool = True
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.cfg) or self.cfg < 1.0:
            # transformers runs a different, unbatched guidance below 1; we do not copy it.
            raise ValueError(f"cfg must be a finite number of at least 1, got {self.cfg}")
        if not self.temperature > 0.0:
            raise ValueError(f"temperature must be above 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be 0 (off) or more, got {self.top_k}")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError(f"top_p must be in 0..1 (1 = off), got {self.top_p}")

    @property
    def guided(self) -> bool:
        """Guidance on: generate doubles the batch with a null-conditioning row per sample."""
        return self.cfg > 1.0

    @classmethod
    def from_knobs(cls, *, cfg: float, top_k: int, top_p: float,
                   temperature: float) -> Sampling:
        """Our knob values (top_p 0 = off) as the reference engine passes them to generate."""
        return cls(cfg=float(cfg), do_sample=True, temperature=float(temperature),
                   top_k=int(top_k), top_p=transformers_top_p(top_p))


def process(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Scores after guidance and the warpers. ``logits``: float32, (rows, vocab) with the
    conditional rows first and, when guided, the unconditional rows after them."""
    scores = logits
    if sampling.guided:
        cond, uncond = scores.split(scores.shape[0] // 2, dim=0)
        scores = uncond + (cond - uncond) * sampling.cfg
    if not sampling.do_sample:
        return scores
    if sampling.temperature != 1.0:
        scores = scores / sampling.temperature
    if sampling.top_k:
        top_k = min(sampling.top_k, scores.size(-1))
        kth = torch.topk(scores, top_k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    if sampling.top_p < 1.0:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - sampling.top_p)
        remove[..., -1:] = 0  # keep at least one token
        remove = remove.scatter(1, sorted_indices, remove)
        scores = scores.masked_fill(remove, -float("inf"))
    return scores


def choose(scores: torch.Tensor, sampling: Sampling,
           generator: torch.Generator | None) -> torch.Tensor:
    """One token per row: a multinomial draw when sampling, else the argmax."""
    if sampling.do_sample:
        probs = torch.nn.functional.softmax(scores, dim=-1)
        return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)
    return torch.argmax(scores, dim=-1)

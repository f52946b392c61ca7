"""The decode loop: text conditioning once, then one decoder step per grid column.

Mirrors ``MusicgenForConditionalGeneration.generate``: the same delay pattern, the same CFG
batch layout ([conditional rows; null-conditioned rows]), the same logits processing and one
multinomial draw over all rows per step, so with the same seed the same codes come out.
How a step runs (eager, fixed-shape, CUDA graph) is a ``Stepper``'s business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from bridge.engine.fast_decoder import CrossKV, DecoderCore
from bridge.engine.fast_pattern import DelayPattern, apply_pattern
from bridge.engine.fast_sampling import Sampling, choose, process

# Self-attention columns a fixed-shape step attends to: the smallest bucket that holds the
# current column (attention over a bucket beyond the real length is masked, so it only costs).
KV_BUCKETS = (64, 128, 256, 512, 768, 1024, 1280, 1536, 2048)
TEXT_BUCKETS = (16, 32, 64, 128, 256)


def bucket(size: int, buckets: tuple[int, ...], limit: int) -> int:
    """The smallest bucket >= ``size``, never above ``limit`` (>= size)."""
    for b in buckets:
        if size <= b <= limit:
            return b
    return limit


class Stepper(Protocol):
    """Runs the decoder for one request's shapes; logits are float32 (rows*codebooks, V)."""

    def prefill(self, ids: torch.Tensor) -> torch.Tensor: ...

    def step(self, ids: torch.Tensor, column: int) -> torch.Tensor: ...


class EagerStepper:
    """Python-int positions and exact-length attention: the CPU path."""

    def __init__(self, core: DecoderCore, cross: CrossKV, rows: int, length: int,
                 guided: bool) -> None:
        self.core, self.cross, self.guided = core, cross, guided
        self.cache = core.new_cache(rows, length)

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        return self.core.forward(ids, 0, self.cache, self.cross, self.guided)

    def step(self, ids: torch.Tensor, column: int) -> torch.Tensor:
        return self.core.forward(ids, column, self.cache, self.cross, self.guided)


class StaticStepper:
    """Fixed-shape steps (``DecoderCore.forward_static``) run eagerly: exactly what the CUDA
    graph replays, runnable anywhere, so CPU tests can prove its tokens."""

    def __init__(self, core: DecoderCore, cross: CrossKV, rows: int, length: int,
                 guided: bool, text_tokens: int) -> None:
        self.core, self.cross, self.guided = core, cross, guided
        self.cache = core.new_cache(rows, length)
        self.position = torch.zeros(1, dtype=torch.long, device=core.device)
        self.text_len = bucket(text_tokens, TEXT_BUCKETS, cross.length)

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] == 1:
            return self.step(ids, 0)
        return self.core.forward(ids, 0, self.cache, self.cross, self.guided)

    def step(self, ids: torch.Tensor, column: int) -> torch.Tensor:
        self.position.fill_(column)
        kv_len = bucket(column + 1, KV_BUCKETS, self.cache.length)
        return self.core.forward_static(ids, self.position, self.cache, self.cross,
                                        self.guided, kv_len, self.text_len).float()


def decode(stepper: Stepper, pattern: DelayPattern, sampling: Sampling,
           generator: torch.Generator | None,
           on_step: Callable[[int], None] = lambda _: None) -> torch.Tensor:
    """Fill the grid column by column; returns it (batch * codebooks, length) with the
    pattern applied. ``on_step(i)`` runs after step i of ``pattern.steps`` (1-based) and may
    raise to stop (cancel)."""
    grid = pattern.pattern.clone()
    start = pattern.start
    grid[:, :start] = pattern.start_ids
    logits = stepper.prefill(pattern.start_ids)
    for column in range(start, pattern.length):
        if column > start:
            logits = stepper.step(grid[:, column - 1:column], column - 1)
        tokens = choose(process(logits, sampling), sampling, generator)
        grid[:, column] = apply_pattern(tokens, pattern.pattern[:, column])
        on_step(column - start + 1)
    return grid

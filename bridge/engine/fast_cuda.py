"""CUDA graphs of the fixed-shape decoder step: one launch per step instead of ~15 per layer.

A ``GraphDecoder`` owns static buffers for one (batch, guidance) shape: the self-attention
cache, the cross-attention keys/values (zero-padded to ``TEXT_CAPACITY`` tokens behind a mask),
the step's input tokens and position. Each (self-attention bucket, text bucket) pair gets its
own captured graph over those same buffers, captured on first use (warm-up captures the
common ones at load). Sampling stays outside the graph: it is a handful of kernels, and it
keeps the random stream exactly that of transformers' generate.

NOT MEASURED YET: no GPU was available where this was written; the CPU tests run the same
``forward_static`` eagerly (StaticStepper) and prove its tokens, not the capture itself.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from typing import Any

import torch

from bridge.engine.fast_decoder import CrossKV, DecoderCore
from bridge.engine.fast_loop import KV_BUCKETS, TEXT_BUCKETS, bucket

log = logging.getLogger(__name__)

TEXT_CAPACITY = TEXT_BUCKETS[-1]
# The CPU may queue at most this many steps ahead of the GPU, so progress and cancel stay
# within a few steps of what the GPU has done, without a stall every step.
MAX_STEPS_AHEAD = 4


class GraphDecoder:
    """Static buffers and captured step graphs for one batch size and guidance setting."""

    def __init__(self, core: DecoderCore, batch: int, guided: bool, length: int) -> None:
        self.core, self.batch, self.guided = core, batch, guided
        rows = batch * (2 if guided else 1)
        self.cache = core.new_cache(rows, length)
        shape = (rows, core.heads, TEXT_CAPACITY, core.head_dim)
        self.cross = CrossKV(
            keys=[torch.zeros(shape, dtype=core.dtype, device=core.device)
                  for _ in core.layers],
            values=[torch.zeros(shape, dtype=core.dtype, device=core.device)
                    for _ in core.layers],
            mask=torch.zeros(rows, 1, 1, TEXT_CAPACITY, dtype=core.dtype, device=core.device))
        self.ids = torch.zeros(batch * core.num_codebooks, 1, dtype=torch.long,
                               device=core.device)
        self.position = torch.zeros(1, dtype=torch.long, device=core.device)
        self.text_len = TEXT_BUCKETS[0]
        self.graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.pool: Any = None  # the graphs' shared memory pool, once the first is captured
        self.pending: deque[torch.cuda.Event] = deque()

    @property
    def length(self) -> int:
        return self.cache.length

    def load_text(self, states: torch.Tensor, mask: torch.Tensor) -> None:
        """Cross-attention keys/values of this request into the static buffers."""
        fresh = self.core.cross_kv(states, mask, capacity=TEXT_CAPACITY)
        for static, new in zip(self.cross.keys + self.cross.values, fresh.keys + fresh.values,
                               strict=True):
            static.copy_(new)
        assert self.cross.mask is not None
        if fresh.mask is None:  # exactly TEXT_CAPACITY tokens, none of them masked
            self.cross.mask.zero_()
        else:
            self.cross.mask.copy_(fresh.mask)
        self.text_len = bucket(states.shape[1], TEXT_BUCKETS, TEXT_CAPACITY)

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] == 1:
            return self.step(ids, 0)
        return self.core.forward(ids, 0, self.cache, self.cross, self.guided)

    def step(self, ids: torch.Tensor, column: int) -> torch.Tensor:
        self.ids.copy_(ids)
        self.position.fill_(column)
        key = (bucket(column + 1, KV_BUCKETS, self.length), self.text_len)
        graph, logits = self.graphs.get(key) or self.capture(*key)
        graph.replay()
        # A copy: the next replay overwrites ``logits`` (and a float32 model's .float()
        # would return the very same tensor).
        out = logits.to(torch.float32, copy=True)
        self._bound_lead()
        return out

    def capture(self, kv_len: int, text_len: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """Capture the step for these buckets. Runs it on the current static inputs (warm-up
        and capture rewrite the same cache column with the same values: harmless)."""

        def body() -> torch.Tensor:
            return self.core.forward_static(self.ids, self.position, self.cache, self.cross,
                                            self.guided, kv_len, text_len)

        side = torch.cuda.Stream(device=self.core.device)
        side.wait_stream(torch.cuda.current_stream(self.core.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # lazy initialisation (cuBLAS handles, kernels) off the graph
                body()
        torch.cuda.current_stream(self.core.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            logits = body()
        self.pool = graph.pool()
        self.graphs[(kv_len, text_len)] = (graph, logits)
        log.debug("captured decoder step: batch %d, guided %s, %d cache / %d text columns",
                  self.batch, self.guided, kv_len, text_len)
        return graph, logits

    def capture_all(self, text_lens: tuple[int, ...] = TEXT_BUCKETS[:3]) -> int:
        """Capture every cache bucket for the usual text lengths (warm-up); returns count."""
        kv_lens = sorted({bucket(n, KV_BUCKETS, self.length) for n in (*KV_BUCKETS, self.length)
                          if n <= self.length})
        for text_len in text_lens:
            for kv_len in kv_lens:
                if (kv_len, text_len) not in self.graphs:
                    self.capture(kv_len, text_len)
        return len(self.graphs)

    def _bound_lead(self) -> None:
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.core.device))
        self.pending.append(event)
        if len(self.pending) > MAX_STEPS_AHEAD:
            self.pending.popleft().synchronize()


class GraphDecoders:
    """``GraphDecoder``s by (batch, guided), the most recently used few kept (each holds a
    cache sized for its longest request so far)."""

    def __init__(self, core: DecoderCore, keep: int = 3) -> None:
        self.core, self.keep = core, keep
        self.decoders: OrderedDict[tuple[int, bool], GraphDecoder] = OrderedDict()

    def get(self, batch: int, guided: bool, length: int) -> GraphDecoder:
        key = (batch, guided)
        decoder = self.decoders.get(key)
        if decoder is None or decoder.length < length:
            size = bucket(length, KV_BUCKETS, max(length, self.core.max_positions))
            self.decoders.pop(key, None)
            while len(self.decoders) >= self.keep:
                self.decoders.popitem(last=False)
            decoder = GraphDecoder(self.core, batch, guided, size)
            self.decoders[key] = decoder
        self.decoders.move_to_end(key)
        return decoder

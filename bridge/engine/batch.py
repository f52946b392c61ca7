"""Several generation specs in one decode: what a GPU worker batches (bridge.worker).

The ``Engine`` interface makes one spec per call (its variations already one batched decode).
A worker serving many daemons wants more: concurrent requests of the same shape decoded as
one batch of rows. ``generate_batch`` does that on an engine with a multi-prompt ``codes``
method (the fast engine: ``codes(texts, steps, sampling, seed, on_step=...)`` and
``decode_audio``), and runs specs one at a time on any other engine.

Compatible (``batch_key`` equal): the same number of decoding steps and sampling knobs, text
conditioning only (no negative prompt, audio prompt, melody or prefix codes). The batch's rows
are every spec's variations in order; the engine pairs each row with its guidance row as it
does for variations ([all conditional rows; all unconditional rows]).

Seeds: a lone spec is generated exactly as ``engine.generate`` makes it, so its seed gives the
same clip as on a local engine. A batch of several draws every row from one random stream
seeded with the first spec's seed: each clip is then reproducible as part of that batch, not
from its own seed alone (docs/cluster.md; a worker started with a batch size of 1 keeps every
clip reproducible from its seed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeGuard

import numpy as np

from bridge.engine.base import Cancelled, Engine, GeneratedAudio, GenerationSpec, ProgressFn

if TYPE_CHECKING:
    import torch

    from bridge.engine.fast_sampling import Sampling


class BatchEngine(Engine, Protocol):
    """An ``Engine`` that ``can_batch`` accepted: it decodes several prompts in one call."""

    def max_new_tokens(self, seconds: float) -> int: ...

    def codes(self, texts: list[str], steps: int, sampling: Sampling, seed: int, *,
              on_step: Callable[[int], None]) -> torch.Tensor: ...

    def decode_audio(self, codes: torch.Tensor) -> np.ndarray: ...


def batch_key(spec: GenerationSpec, engine: Engine) -> Hashable | None:
    """Specs with equal keys may share one decode; None: this spec decodes alone."""
    if not can_batch(engine):
        return None
    if (spec.negative_prompt or spec.audio_prompt is not None or spec.melody is not None
            or spec.prefix_codes is not None or spec.cfg < 1.0):
        return None
    steps = engine.max_new_tokens(spec.seconds)
    return (steps, float(spec.cfg), int(spec.top_k), float(spec.top_p),
            float(spec.temperature))


def can_batch(engine: Engine) -> TypeGuard[BatchEngine]:
    return all(callable(getattr(engine, name, None))
               for name in ("codes", "decode_audio", "max_new_tokens"))


def generate_batch(engine: Engine, specs: Sequence[GenerationSpec],
                   progress: Sequence[ProgressFn], cancels: Sequence[threading.Event]
                   ) -> list[GeneratedAudio | BaseException]:
    """Each spec's result, or the exception that ended it (``Cancelled`` for a cancelled one).

    Specs with one ``batch_key`` (not None) decode together; a batch stops when every one of
    its specs is cancelled, and a partly cancelled batch runs on for the others. The caller
    runs one call at a time per engine (the worker runs one batch at a time).
    """
    results: list[GeneratedAudio | BaseException | None] = [None] * len(specs)
    groups: dict[Hashable, list[int]] = {}
    for index, spec in enumerate(specs):
        key = batch_key(spec, engine)
        groups.setdefault(("alone", index) if key is None else key, []).append(index)
    for members in groups.values():
        if len(members) == 1:
            index = members[0]
            try:
                results[index] = engine.generate(specs[index], progress[index], cancels[index])
            except Exception as err:  # reported per spec; the other specs still run
                results[index] = err
            continue
        assert can_batch(engine)  # a shared batch_key is never None
        try:
            made = _decode_together(engine, [specs[i] for i in members],
                                    [progress[i] for i in members], [cancels[i] for i in members])
        except Exception as err:
            made = [err] * len(members)
        for index, result in zip(members, made, strict=True):
            results[index] = Cancelled() if cancels[index].is_set() else result
    return [r if r is not None else RuntimeError("not generated") for r in results]


def _decode_together(engine: BatchEngine, specs: list[GenerationSpec], progress: list[ProgressFn],
                     cancels: list[threading.Event]) -> list[GeneratedAudio | BaseException]:
    from bridge.engine.fast_sampling import Sampling

    first = specs[0]
    steps = engine.max_new_tokens(first.seconds)
    sampling = Sampling.from_knobs(cfg=first.cfg, top_k=first.top_k, top_p=first.top_p,
                                   temperature=first.temperature)
    texts = [spec.text for spec in specs for _ in range(spec.variations)]

    def on_step(step: int) -> None:
        if all(cancel.is_set() for cancel in cancels):
            raise Cancelled()
        for report in progress:
            report(min(1.0, step / steps))

    if all(cancel.is_set() for cancel in cancels):
        raise Cancelled()
    codes = engine.codes(texts, steps, sampling, first.seed, on_step=on_step)
    audio = np.asarray(engine.decode_audio(codes), dtype=np.float32)
    codes_np = codes.cpu().numpy().astype(np.int64)
    out: list[GeneratedAudio | BaseException] = []
    row = 0
    for spec in specs:
        rows = slice(row, row + spec.variations)
        out.append(GeneratedAudio(audio=np.ascontiguousarray(audio[rows]),
                                  sample_rate=engine.sample_rate, codes=codes_np[rows]))
        row += spec.variations
    return out

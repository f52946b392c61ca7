"""Long clips: generate past the model's window in windows that continue each other exactly.

MusicGen attends over at most its window (30 s). A longer clip is made like audiocraft's
``extend_stride``: the first window is generated from the text alone; every later window is
re-prompted with the last ``context_s`` seconds of codes made so far and adds ``window_s -
context_s`` seconds of new codes. The carried codes reach the model unchanged
(``GenerationSpec.prefix_codes``, passed to transformers as ``decoder_input_ids``), never
decoded and re-encoded, so there is no lossy round trip at a seam. Every window generates all
variations in one batched call.

The joined code sequence is then decoded once, as if one window had made it all: EnCodec
never sees a seam, so there is nothing to crossfade and no click to hide. (Decoding
window by window and butting the pieces together would not be exact: the codec's LSTM and
convolutions look across a seam.)

The contract an inner engine keeps to be windowed (``can_window``):
- ``generate`` honours ``spec.prefix_codes``, int codes (variations, codebooks, frames): the
  model continues from them exactly, ``spec.seconds`` is the length of the NEW audio only, and
  the result holds only the new part: ``codes`` (variations, codebooks, new frames) and
  ``audio`` (the new frames' samples, decoded with the prefix as left context).
  ``spec.seconds`` plus the prefix must fit the model's window.
- ``decode_codes(codes)`` turns codes (variations, codebooks, frames) into float32 audio
  (variations, channels, frames * samples per frame), as ``generate`` decodes its own.
``TransformersEngine`` keeps it; an engine that does not is refused clips longer than its
window, with a message that says so (``bridge.jobs.pipeline.check_duration``).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, replace
from typing import Protocol, TypeGuard, runtime_checkable

import numpy as np

from bridge.engine.base import (
    CONTINUATION,
    Cancelled,
    Engine,
    EngineError,
    GeneratedAudio,
    GenerationSpec,
    ProgressFn,
)
from bridge.params import SEED_MAX

log = logging.getLogger(__name__)

# audiocraft's default: 30 s windows advanced by an extend_stride of 18 s, i.e. 12 s of codes
# carried into each next window. More context is more coherence across a seam, and less new
# audio per window (more windows, more time). A shorter window carries the same share.
DEFAULT_CONTEXT_S = 12.0
DEFAULT_CONTEXT_SHARE = 0.4
# A guard on one call, not a setting: the pipeline refuses clips above [fit] max_seconds (at
# most 600 s) before this, and such a clip plus its tempo-fit material stays below it.
DEFAULT_MAX_SECONDS = 900.0


@runtime_checkable
class ContinuesCodes(Protocol):
    """What an engine adds to ``Engine`` to be windowed (see the module docstring)."""

    def decode_codes(self, codes: np.ndarray) -> np.ndarray: ...


class WindowableEngine(Engine, ContinuesCodes, Protocol):
    """An ``Engine`` that ``can_window`` accepted."""


def can_window(engine: Engine) -> TypeGuard[WindowableEngine]:
    """Whether ``engine`` keeps the prefix-codes contract, so clips may pass its window.
    (Continuing from codes is continuation: engines refuse prefix codes without it.)"""
    return isinstance(engine, ContinuesCodes) and CONTINUATION in engine.capabilities


@dataclass(frozen=True)
class Window:
    """One generate call of a long clip, in codec frames."""

    index: int
    start: int  # index of its first new frame in the clip
    frames: int  # new frames it makes
    context: int  # frames of earlier codes it continues from (0: the text alone)


def plan_windows(total: int, window: int, context: int, *, history: int = 0
                 ) -> tuple[Window, ...]:
    """The windows that make ``total`` new frames, each at most ``window`` frames including
    the ``context`` frames it carries over. ``history``: frames that exist before the clip
    (a caller's own prefix), carried into the first window like any earlier window's."""
    if total < 1:
        raise ValueError(f"total must be at least 1 frame, got {total}")
    if not 0 < context < window:
        raise ValueError(f"context must be 1..{window - 1} frames (less than the window), "
                         f"got {context}")
    windows: list[Window] = []
    start = 0
    while start < total:
        carried = min(context, history + start)
        frames = min(window - carried, total - start)
        windows.append(Window(len(windows), start, frames, carried))
        start += frames
    return tuple(windows)


class WindowedEngine:
    """An ``Engine`` without the inner engine's window limit: clips that fit one window go
    straight through; longer ones are made in windows (module docstring).

    ``window_s`` (default: the inner engine's window) and ``context_s`` (default 12 s, or 40 %
    of a shorter window) are parameters so a test can use short windows on a small model. Text conditioning only across windows: an
    audio prompt or a melody covers one window, so such clips must fit one. With a caller's
    own ``prefix_codes`` the result holds only the new part (``keep_prompt`` is not honoured).
    """

    def __init__(self, inner: Engine, *, window_s: float | None = None,
                 context_s: float | None = None,
                 max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        if not can_window(inner):
            raise EngineError(f"the {inner.name} engine cannot continue from earlier codes, so "
                              f"it cannot generate past its {inner.max_seconds:g} s window")
        self.inner: WindowableEngine = inner
        self.name = inner.name  # a wrapper: messages name the engine that does the work
        self.model_id = inner.model_id
        self.sample_rate = inner.sample_rate
        self.frame_rate = inner.frame_rate
        self.capabilities = inner.capabilities
        self.max_seconds = max_seconds
        window_s = inner.max_seconds if window_s is None else window_s
        if not 0 < window_s <= inner.max_seconds:
            raise ValueError(f"window_s must be in (0, {inner.max_seconds:g}] (the model's "
                             f"window), got {window_s!r}")
        self.window = self._frames(window_s)
        if context_s is None:
            context_s = min(DEFAULT_CONTEXT_S, DEFAULT_CONTEXT_SHARE * window_s)
        self.context = self._frames(context_s)
        if not 0 < self.context < self.window:
            raise ValueError(f"context_s must be more than 0 and less than window_s "
                             f"({window_s:g} s), got {context_s!r}")

    def _frames(self, seconds: float) -> int:
        return int(round(seconds * self.frame_rate))

    def plan(self, spec: GenerationSpec) -> tuple[Window, ...]:
        """The windows ``spec`` is made in (one for a clip that fits the window)."""
        if not math.isfinite(spec.seconds) or self._frames(spec.seconds) < 1:
            raise EngineError(f"a clip must last at least one frame ({1 / self.frame_rate:g} "
                              f"s), got {spec.seconds:g} s")
        history = 0 if spec.prefix_codes is None else int(np.shape(spec.prefix_codes)[-1])
        return plan_windows(self._frames(spec.seconds), self.window, self.context,
                            history=history)

    def generate(self, spec: GenerationSpec, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio:
        if spec.seconds > self.max_seconds:
            raise EngineError(f"{spec.seconds:.1f} s is longer than the {self.max_seconds:g} s "
                              "this engine makes in one call; ask for fewer bars")
        windows = self.plan(spec)
        if len(windows) == 1 and spec.prefix_codes is None:
            return self.inner.generate(spec, progress, cancel)
        self._check(spec)
        log.info("generating %.1f s in %d windows of up to %d frames (%d carried over)",
                 spec.seconds, len(windows), self.window, self.context)
        history = None if spec.prefix_codes is None else np.asarray(spec.prefix_codes, np.int64)
        codes = self._generate_codes(spec, windows, history, progress, cancel)
        audio = self._decode(codes, history)
        return GeneratedAudio(audio=audio, sample_rate=self.sample_rate, codes=codes)

    def _check(self, spec: GenerationSpec) -> None:
        used = [name for name, value in (("a melody", spec.melody),
                                         ("an audio prompt", spec.audio_prompt))
                if value is not None]
        if used:
            raise EngineError(f"{' and '.join(used)} can condition one window "
                              f"({self.window / self.frame_rate:g} s) only, and "
                              f"{spec.seconds:.1f} s needs more; ask for fewer bars or leave "
                              f"out {' and '.join(used)}")

    def _generate_codes(self, spec: GenerationSpec, windows: tuple[Window, ...],
                        history: np.ndarray | None, progress: ProgressFn,
                        cancel: threading.Event) -> np.ndarray:
        """All windows' new codes joined: (variations, codebooks, total new frames)."""
        total = windows[-1].start + windows[-1].frames
        report = _MonotonicProgress(progress)
        made: list[np.ndarray] = []
        for window in windows:
            if cancel.is_set():
                raise Cancelled()
            carried = None
            if window.context:
                so_far = [history] if history is not None else []
                carried = _last_frames(np.concatenate([*so_far, *made], axis=-1), window.context)
            window_spec = replace(
                spec, seconds=window.frames / self.frame_rate, prefix_codes=carried,
                # Each window its own seed: the same one would replay window 0's random draws.
                seed=(spec.seed + window.index) % (SEED_MAX + 1), keep_prompt=False)
            base, share = window.start / total, window.frames / total
            result = self.inner.generate(window_spec, _scaled(report, base, share), cancel)
            made.append(self._new_codes(result, window, spec.variations))
            log.debug("window %d/%d: %d frames after %d carried over", window.index + 1,
                      len(windows), window.frames, window.context)
        report(1.0)
        return np.concatenate(made, axis=-1)

    @staticmethod
    def _new_codes(result: GeneratedAudio, window: Window, variations: int) -> np.ndarray:
        codes = result.codes
        if codes is None or codes.ndim != 3 or codes.shape[0] != variations \
                or codes.shape[-1] != window.frames:
            shape = None if codes is None else codes.shape
            raise EngineError(f"window {window.index + 1}: the engine returned codes of shape "
                              f"{shape}, expected ({variations}, codebooks, {window.frames})")
        return np.asarray(codes, dtype=np.int64)

    def _decode(self, codes: np.ndarray, history: np.ndarray | None) -> np.ndarray:
        """Decode the joined codes in one piece per variation (one at a time: a long clip
        per variation costs about the codec memory that a window of every variation does).
        A caller's own prefix is decoded along as left context, then cut off."""
        decode = self.inner.decode_codes
        lead = 0 if history is None else min(self.context, history.shape[-1])
        pieces = []
        for v in range(codes.shape[0]):
            joined = codes[v:v + 1] if history is None or not lead else np.concatenate(
                [history[v:v + 1, :, -lead:], codes[v:v + 1]], axis=-1)
            audio = np.asarray(decode(joined), dtype=np.float32)
            pieces.append(audio[..., audio.shape[-1] * lead // joined.shape[-1]:])
        return np.concatenate(pieces, axis=0)


def _last_frames(codes: np.ndarray, frames: int) -> np.ndarray:
    return np.ascontiguousarray(codes[..., -frames:])


class _MonotonicProgress:
    """Forwards 0..1 progress, never backwards (a window's first report may sit below the
    previous window's last)."""

    def __init__(self, progress: ProgressFn) -> None:
        self.progress = progress
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        if fraction > self.last:
            self.last = min(1.0, fraction)
            self.progress(self.last)


def _scaled(report: ProgressFn, base: float, share: float) -> ProgressFn:
    """A window's own 0..1 progress as its share of the whole clip's."""
    return lambda fraction: report(base + share * fraction)

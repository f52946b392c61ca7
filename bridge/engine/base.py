"""The engine interface: what the job worker needs from a model, and nothing more.

The transformers engine implements it today; the fast decode loop and a remote GPU engine
replace it without touching the queue, the inputs or the writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bridge.errors import UserError

# Conditioning a loaded model may or may not support; requests needing one it lacks are refused.
CONTINUATION = "continuation"
MELODY = "melody"
NEGATIVE_PROMPT = "negative_prompt"


class Cancelled(Exception):
    """Raised out of ``Engine.generate`` when its cancel event was set."""


class EngineError(UserError, RuntimeError):
    """A generation failed for a reason a person can act on (message says how).

    A UserError (so every input answers it with its reason, as it does a ValueError) and a
    RuntimeError (what callers caught before)."""


@dataclass(frozen=True)
class GenerationSpec:
    """One batched generate call: ``variations`` clips of ``seconds`` of new audio."""

    text: str
    seconds: float
    top_k: int
    top_p: float  # ours: 0 = off
    temperature: float
    cfg: float
    seed: int
    variations: int = 1
    negative_prompt: str = ""
    # Continuation: mono float32 at ``prompt_rate``; the engine returns only new audio
    # unless keep_prompt is set.
    audio_prompt: np.ndarray | None = None
    prompt_rate: int = 0
    keep_prompt: bool = False
    # Melody conditioning: mono float32 at ``melody_rate``.
    melody: np.ndarray | None = None
    melody_rate: int = 0
    # Long clips: codes (variations, codebooks, frames) to continue from exactly; ``seconds``
    # counts the new audio only, and the result holds only the new frames' codes and audio
    # unless keep_prompt (see bridge.engine.windows).
    prefix_codes: np.ndarray | None = None
    # A trained style (LoRA adapter, bridge.engine.styles) and its scale; "" or 0: the base
    # model exactly. Only engines wrapped in StyledEngine honour it.
    style: str = ""
    style_strength: float = 0.0


@dataclass(frozen=True)
class GeneratedAudio:
    audio: np.ndarray  # float32, (variations, channels, samples)
    sample_rate: int
    codes: np.ndarray | None = None  # int64, (variations, codebooks, frames) when known


ProgressFn = Callable[[float], None]


class Engine(Protocol):
    name: str
    model_id: str
    sample_rate: int  # of the audio generate returns
    frame_rate: float  # codec frames per second
    max_seconds: float  # longest audio one generate call can make
    capabilities: frozenset[str]

    def generate(self, spec: GenerationSpec, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio: ...

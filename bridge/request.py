"""The generation request: one schema for the CLI, OSC snapshots, inbox files and the journal.

``REQUEST_FIELDS`` is the contract (docs/requests.md and the Reaper script tests read it);
``GenerationRequest.from_dict`` validates a plain dict (a JSON request file, a journal line)
against it with messages that name the field, the value and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bridge.musical_time import Meter, check_bars, check_bpm, normalize_key
from bridge.params import PARAMS, check_seed

MAX_PROMPT_CHARS = 2000
MAX_CLIENT_ID_CHARS = 128


def _text(limit: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {type(value).__name__}")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters, got {len(value)}")
        return value

    return check


def _optional_seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number of seconds or null, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _optional_path(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise ValueError(f"must be a file path string or null, got {value!r}")
    return value


def _style(value: object) -> str:
    # The style's folder name (bridge.engine.styles checks it exists); "" is none.
    if not isinstance(value, str) or len(value) > 48 or (value and not all(
            c.isalnum() or c in "-_" for c in value)):
        raise ValueError(f"must be a style name (letters, digits, '-', '_'; at most 48) or "
                         f"empty for none, got {value!r}")
    return value


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"must be true or false, got {value!r}")


def _prompt_seconds(value: object) -> float:
    seconds = _optional_seconds(value)
    if seconds is None or not 0.5 <= seconds <= 25.0:
        raise ValueError(f"must be 0.5..25 seconds, got {value!r}")
    return seconds


def _optional_job(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be a job id (integer >= 0) or null, got {value!r}")
    return value


@dataclass(frozen=True)
class RequestField:
    name: str
    json_type: str  # as documented: "string", "number", "integer", "boolean", "string|null", ...
    required: bool
    check: Callable[[object], Any]
    doc: str


REQUEST_FIELDS: tuple[RequestField, ...] = (
    RequestField("prompt", "string", True, _text(MAX_PROMPT_CHARS),
                 "what to generate, in words (the musical context is added by the daemon)"),
    RequestField("bpm", "number", True, check_bpm, "project tempo in quarter notes per minute"),
    RequestField("meter", "string", False, Meter.parse, 'time signature, "4/4", "6/8"'),
    RequestField("key", "string", False, normalize_key, '"A minor", "F# major"; empty: unknown'),
    RequestField("bars", "integer", True, check_bars, "clip length in bars"),
    *(RequestField(spec.name, "integer" if spec.type is int else "number", False, spec.check,
                   spec.help)
      for spec in PARAMS.values()),
    RequestField("seed", "integer|null", False, check_seed, "-1 or null: random"),
    RequestField("position_s", "number|null", False, _optional_seconds,
                 "where in the project the clip belongs (seconds); passed to the sidecar"),
    RequestField("client_id", "string", False, _text(MAX_CLIENT_ID_CHARS),
                 "who asked (a Max device, a script); replies are routed by it"),
    RequestField("quality", "string", False, _text(200),
                 'quality words or a preset ("hi-fi", "lo-fi", "none") added to the prompt'),
    RequestField("negative_prompt", "string", False, _text(MAX_PROMPT_CHARS),
                 "what guidance should steer away from"),
    RequestField("audio_prompt", "string|null", False, _optional_path,
                 "audio file to continue from"),
    RequestField("prompt_seconds", "number", False, _prompt_seconds,
                 "how many of the audio prompt's last seconds to use (shortened when "
                 "prompt and new material would not fit the model's 30 s window)"),
    RequestField("keep_prompt", "boolean", False, _flag,
                 "the N bars hold the audio prompt, then the new material (default: N bars "
                 "of new material only, starting where the prompt ends)"),
    RequestField("melody_audio", "string|null", False, _optional_path,
                 "audio whose melody (chroma) conditions a melody model"),
    RequestField("loop", "boolean", False, _flag, "make the clip loop seamlessly"),
    RequestField("tempo_lock", "boolean|null", False,
                 lambda v: None if v is None else _flag(v),
                 "fit the clip to the project tempo grid; null: the daemon's setting"),
    RequestField("parent_job", "integer|null", False, _optional_job,
                 "the job these variations derive from"),
    RequestField("style", "string", False, _style,
                 "a trained style (musicgen-bridge style list); empty: none"),
)
REQUEST_FIELD_NAMES = tuple(f.name for f in REQUEST_FIELDS)
_FIELD_BY_NAME = {f.name: f for f in REQUEST_FIELDS}


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    bpm: float
    bars: int
    meter: Meter = field(default_factory=lambda: Meter(4, 4))
    key: str = ""
    top_k: int = int(PARAMS["top_k"].default)
    top_p: float = float(PARAMS["top_p"].default)
    temperature: float = float(PARAMS["temperature"].default)
    cfg: float = float(PARAMS["cfg"].default)
    style_strength: float = float(PARAMS["style_strength"].default)
    variations: int = int(PARAMS["variations"].default)
    seed: int | None = None
    position_s: float | None = None
    client_id: str = ""
    quality: str = "hi-fi"
    negative_prompt: str = ""
    audio_prompt: str | None = None
    prompt_seconds: float = 8.0
    keep_prompt: bool = False
    melody_audio: str | None = None
    loop: bool = False
    tempo_lock: bool | None = None
    parent_job: int | None = None
    style: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, base: GenerationRequest | None = None
                  ) -> GenerationRequest:
        """Validate ``data``; fields it lacks come from ``base`` (or the defaults).

        Raises ValueError listing every bad or unknown field, e.g.
        ``bpm: bpm must be in 20..400, got 0; bars: missing (a whole number 1..512)``.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a request must be a JSON object, got {type(data).__name__}")
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name in data:
            if name not in _FIELD_BY_NAME:
                problems.append(f"{name}: unknown field (known: {', '.join(REQUEST_FIELD_NAMES)})")
        for spec in REQUEST_FIELDS:
            if spec.name in data:
                try:
                    values[spec.name] = spec.check(data[spec.name])
                except ValueError as err:
                    problems.append(f"{spec.name}: {err}")
            elif spec.required and base is None:
                problems.append(f"{spec.name}: missing ({spec.doc})")
        if problems:
            raise ValueError("; ".join(problems))
        return replace(base, **values) if base is not None else cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, round-trips through ``from_dict``."""
        data = asdict(self)
        data["meter"] = str(self.meter)
        return data

    def with_changes(self, **changes: Any) -> GenerationRequest:
        """A copy with validated changes (same checks as ``from_dict``)."""
        return GenerationRequest.from_dict(changes, base=self)


assert {f.name for f in fields(GenerationRequest)} == set(REQUEST_FIELD_NAMES), \
    "REQUEST_FIELDS and GenerationRequest must name the same fields"

"""The generation request: one schema for the CLI, OSC snapshots, inbox files and the journal.

``GenerationRequest`` is the contract: a frozen pydantic dataclass whose fields carry their
checks and docs, so docs/requests.md and the Reaper scripts' schema are generated from its
JSON Schema (tools/schema.py). ``GenerationRequest.from_dict`` validates a plain dict (a JSON
request file, a journal line) with messages that name the field, the value and what was
expected. Being a dataclass, ``dataclasses.replace`` validates too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic.dataclasses import dataclass as schema_dataclass
from pydantic.dataclasses import is_pydantic_dataclass
from pydantic.fields import FieldInfo

from bridge.musical_time import (
    DENOMINATORS,
    MAX_BARS,
    MAX_BPM,
    MIN_BPM,
    Meter,
    check_bars,
    check_bpm,
    normalize_key,
)
from bridge.params import PARAMS, SEED_MAX, SEED_RANDOM, check_seed
from bridge.schema import CLOSED, Check, check_of, problems

MAX_PROMPT_CHARS = 2000
MAX_CLIENT_ID_CHARS = 128
MAX_PATH_CHARS = 4096


def text(limit: int) -> Check:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {type(value).__name__}")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters, got {len(value)}")
        return value

    return Check(check, {"type": "string", "maxLength": limit})


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
    if not isinstance(value, str) or len(value) > MAX_PATH_CHARS:
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


def _optional_retries(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
        raise ValueError(f"must be a whole number of retries 0-5, or null, got {value!r}")
    return value


def _optional_job(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be a job id (integer >= 0) or null, got {value!r}")
    return value


def _meter(value: object) -> Meter:
    return Meter.parse(value)


# The musical fields, shared with the [generation] config section.
Bpm = Annotated[float, Check(check_bpm, {"type": "number", "minimum": MIN_BPM,
                                         "maximum": MAX_BPM})]
Bars = Annotated[int, Check(check_bars, {"type": "integer", "minimum": 1, "maximum": MAX_BARS})]
METER_SCHEMA = {"type": "string", "pattern": r"^\s*\d+\s*/\s*\d+\s*$", "x-numerator": [1, 32],
                "x-denominators": list(DENOMINATORS)}
MeterValue = Annotated[Meter, Check(_meter, METER_SCHEMA)]
Key = Annotated[str, Check(normalize_key, {"type": "string"})]
Seed = Annotated[int | None, Check(check_seed, {"type": ["integer", "null"],
                                                "minimum": SEED_RANDOM, "maximum": SEED_MAX})]
PromptText = Annotated[str, text(MAX_PROMPT_CHARS)]
TopK = Annotated[int, PARAMS["top_k"].schema_check()]
TopP = Annotated[float, PARAMS["top_p"].schema_check()]
Temperature = Annotated[float, PARAMS["temperature"].schema_check()]
Cfg = Annotated[float, PARAMS["cfg"].schema_check()]
Variations = Annotated[int, PARAMS["variations"].schema_check()]
StyleStrength = Annotated[float, PARAMS["style_strength"].schema_check()]
_Style = Annotated[str, Check(_style, {"type": "string", "maxLength": 48,
                                       "pattern": "^[A-Za-z0-9_-]*$"})]
_Seconds = Annotated[float | None, Check(_optional_seconds, {"type": ["number", "null"],
                                                             "minimum": 0})]
_Path = Annotated[str | None, Check(_optional_path, {"type": ["string", "null"],
                                                     "maxLength": MAX_PATH_CHARS})]
_Flag = Annotated[bool, Check(_flag, {"type": "boolean"})]
_OptionalFlag = Annotated[bool | None, Check(lambda v: None if v is None else _flag(v),
                                             {"type": ["boolean", "null"]})]
_PromptSeconds = Annotated[float, Check(_prompt_seconds, {"type": "number", "minimum": 0.5,
                                                          "maximum": 25.0})]
_Job = Annotated[int | None, Check(_optional_job, {"type": ["integer", "null"], "minimum": 0})]
_Retries = Annotated[int | None, Check(_optional_retries, {"type": ["integer", "null"],
                                                           "minimum": 0, "maximum": 5})]


def param_field(name: str) -> Any:
    """A schema field holding the parameter ``name``: its default and its help as the doc."""
    spec = PARAMS[name]
    return Field(spec.cast(spec.default), description=spec.help)


# Defaults are passed as ``default=``: a type checker reads a dataclass field's default only from
# that keyword, and would otherwise take the fields after ``meter`` as required.
@schema_dataclass(frozen=True, config=CLOSED)
class GenerationRequest:
    prompt: PromptText = Field(
        description="what to generate, in words (the musical context is added by the daemon)")
    bpm: Bpm = Field(description="project tempo in quarter notes per minute")
    bars: Bars = Field(description="clip length in bars")
    meter: MeterValue = Field(default_factory=lambda: Meter(4, 4),
                              description='time signature, "4/4", "6/8"',
                              json_schema_extra={"default": "4/4"})
    key: Key = Field(default="", description='"A minor", "F# major"; empty: unknown')
    top_k: TopK = param_field("top_k")
    top_p: TopP = param_field("top_p")
    temperature: Temperature = param_field("temperature")
    cfg: Cfg = param_field("cfg")
    variations: Variations = param_field("variations")
    style_strength: StyleStrength = param_field("style_strength")
    seed: Seed = Field(default=None, description="-1 or null: random")
    position_s: _Seconds = Field(
        default=None,
        description="where in the project the clip belongs (seconds); passed to the sidecar")
    client_id: Annotated[str, text(MAX_CLIENT_ID_CHARS)] = Field(
        default="", description="who asked (a Max device, a script); replies are routed by it")
    quality: Annotated[str, text(200)] = Field(
        default="hi-fi",
        description='quality words or a preset ("hi-fi", "lo-fi", "none") added to the prompt')
    negative_prompt: PromptText = Field(default="",
                                        description="what guidance should steer away from")
    audio_prompt: _Path = Field(default=None, description="audio file to continue from")
    prompt_seconds: _PromptSeconds = Field(
        default=8.0,
        description="how many of the audio prompt's last seconds to use (shortened when "
                    "prompt and new material would not fit the model's 30 s window)")
    keep_prompt: _Flag = Field(
        default=False,
        description="the N bars hold the audio prompt, then the new material (default: "
                    "N bars of new material only, starting where the prompt ends)")
    melody_audio: _Path = Field(
        default=None, description="audio whose melody (chroma) conditions a melody model")
    loop: _Flag = Field(default=False, description="make the clip loop seamlessly")
    tempo_lock: _OptionalFlag = Field(
        default=None,
        description="fit the clip to the project tempo grid; null: the daemon's setting")
    retries: _Retries = Field(default=None, description=(
        "regenerate with the next seed up to this many times (0-5) when the clip cannot be "
        "locked to the grid confidently; null: the daemon's [fit] setting"))
    parent_job: _Job = Field(default=None, description="the job these variations derive from")
    style: _Style = Field(default="", description=(
        "a trained style (musicgen-bridge style list); empty: none"))

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, base: GenerationRequest | None = None
                  ) -> GenerationRequest:
        """Validate ``data``; fields it lacks come from ``base`` (or the defaults).

        Raises ValueError listing every bad or unknown field, e.g.
        ``bpm: bpm must be in 20..400, got 0; bars: missing (clip length in bars)``.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a request must be a JSON object, got {type(data).__name__}")
        # Any: these are untrusted values, and checking them is what the constructor is for.
        values: dict[str, Any] = {str(k): v for k, v in data.items()}
        if base is not None:
            values = {**{f.name: getattr(base, f.name) for f in fields(cls)}, **values}
        try:
            return cls(**values)
        except ValidationError as err:
            raise ValueError(describe(err)) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, round-trips through ``from_dict``."""
        data = asdict(self)
        data["meter"] = str(self.meter)
        return data

    def with_changes(self, **changes: Any) -> GenerationRequest:
        """A copy with validated changes (same checks as ``from_dict``)."""
        return GenerationRequest.from_dict(changes, base=self)


@dataclass(frozen=True)
class RequestField:
    """One request field as the docs, the inbox's messages and the Lua schema show it."""

    name: str
    json_type: str  # "string", "number", "integer", "boolean", "string|null", ...
    required: bool
    doc: str


def _schema_fields(cls: type[Any]) -> dict[str, FieldInfo]:
    if not is_pydantic_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a pydantic dataclass")
    return cls.__pydantic_fields__


REQUEST_FIELDS: tuple[RequestField, ...] = tuple(
    RequestField(name, check_of(info.rebuild_annotation()).json_type, info.is_required(),
                 info.description or "")
    for name, info in _schema_fields(GenerationRequest).items()
)
REQUEST_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in REQUEST_FIELDS)


def describe(err: ValidationError) -> str:
    """A request's problems in field order, each ``name: what was expected``."""
    docs = {f.name: f.doc for f in REQUEST_FIELDS}
    parts = []
    for p in problems(err):
        name = str(p.loc[0]) if p.loc else "request"
        if p.kind == "unknown":
            parts.append(f"{name}: unknown field (known: {', '.join(REQUEST_FIELD_NAMES)})")
        elif p.kind == "missing":
            parts.append(f"{name}: missing ({docs.get(name)})")
        else:
            parts.append(f"{name}: {p.expected}")
    return "; ".join(parts)

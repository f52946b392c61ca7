"""The JSON sidecar written beside every clip: the contract, defined once.

``SIDECAR_FIELDS`` is what DAW-side importers (the Reaper script, the Max device) and
docs/sidecar.md rely on; their tests read it from here. ``build_sidecar`` fills it from the
request and the job and refuses anything that does not match it, so a clip never lands with
a sidecar the importers cannot read. Later features add fields through ``extra``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple

from bridge.output.settings import OutputSettings
from bridge.request import GenerationRequest


class SidecarField(NamedTuple):
    name: str
    json_type: str  # "string", "number" or "integer"
    meaning: str


SIDECAR_FIELDS: tuple[SidecarField, ...] = (
    SidecarField("prompt", "string", "the user's text, as typed"),
    SidecarField("full_prompt", "string",
                 "the text the model got: the prompt plus tempo, meter, key and quality words"),
    SidecarField("bpm", "number", "project tempo in quarter notes per minute"),
    SidecarField("meter", "string", 'time signature, "4/4", "6/8"'),
    SidecarField("key", "string", '"A minor", "F# major"; empty: unknown'),
    SidecarField("bars", "integer", "clip length in bars"),
    SidecarField("seed", "integer", "the seed used (a random request records the one drawn)"),
    SidecarField("top_k", "integer", "top-k sampling"),
    SidecarField("top_p", "number", "top-p sampling; 0: off"),
    SidecarField("temperature", "number", "sampling temperature"),
    SidecarField("cfg", "number", "classifier-free guidance scale"),
    SidecarField("model", "string", "the checkpoint: a hub id or a local directory"),
    SidecarField("sample_rate", "integer", "sample rate of the audio file, Hz"),
    SidecarField("frames", "integer",
                 "samples per channel in the audio file: round(bars * bar seconds * rate)"),
    SidecarField("duration_s", "number", "frames / sample_rate, seconds"),
    SidecarField("job_id", "integer", "the daemon's job number"),
    SidecarField("variation", "integer", "which of the job's variations this clip is"),
    SidecarField("created", "string", "when the clip was finished, ISO 8601 in UTC"),
    SidecarField("position_s", "number",
                 "where the clip belongs in the project, seconds; only when the request gave one"),
    SidecarField("client_id", "string", "who asked (a Max device, a script); empty: unknown"),
    SidecarField("format", "string", '"wav" or "flac"'),
    SidecarField("style", "string", "the trained style applied; empty: none (the base model)"),
    SidecarField("style_strength", "number",
                 "the style's strength (LoRA scale); 0 when no style was applied"),
)
SIDECAR_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in SIDECAR_FIELDS)
# Present only when the request carried it; every other field is always there.
OPTIONAL_SIDECAR_FIELDS: frozenset[str] = frozenset({"position_s"})
REQUIRED_SIDECAR_FIELDS: tuple[str, ...] = tuple(
    name for name in SIDECAR_FIELD_NAMES if name not in OPTIONAL_SIDECAR_FIELDS
)
_TYPE_BY_NAME = {f.name: f.json_type for f in SIDECAR_FIELDS}


def build_sidecar(request: GenerationRequest, *, full_prompt: str, seed: int, model: str,
                  settings: OutputSettings, frames: int, job_id: int, variation: int,
                  created: datetime | None = None, extra: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """The sidecar dict for one clip, validated against ``SIDECAR_FIELDS``.

    ``seed`` is the seed actually used (the request's may be None: random); ``settings``
    gives the file's rate and format; ``frames`` is the finished clip's length. ``created``
    defaults to now and must be timezone-aware. ``extra`` adds fields for later features
    (tempo-fit results, ...); it may not replace a contract field.
    """
    when = created if created is not None else datetime.now(timezone.utc)
    if when.tzinfo is None:
        raise ValueError("created must be timezone-aware, e.g. datetime.now(timezone.utc)")
    data: dict[str, Any] = {
        "prompt": request.prompt,
        "full_prompt": full_prompt,
        "bpm": request.bpm,
        "meter": str(request.meter),
        "key": request.key,
        "bars": request.bars,
        "seed": seed,
        "top_k": request.top_k,
        "top_p": request.top_p,
        "temperature": request.temperature,
        "cfg": request.cfg,
        "model": model,
        "sample_rate": settings.sample_rate,
        "frames": frames,
        "duration_s": frames / settings.sample_rate,
        "job_id": job_id,
        "variation": variation,
        "created": when.astimezone(timezone.utc).isoformat(timespec="milliseconds"),
        "client_id": request.client_id,
        "format": settings.format,
        "style": request.style,
        "style_strength": request.style_strength if request.style else 0.0,
    }
    if request.position_s is not None:
        data["position_s"] = request.position_s
    for name, value in (extra or {}).items():
        if name in _TYPE_BY_NAME:
            raise ValueError(f"extra field {name!r} would replace the sidecar contract's field; "
                             "give it another name")
        data[name] = value
    validate_sidecar(data)
    return data


def validate_sidecar(data: Mapping[str, Any]) -> None:
    """Raise ValueError naming every missing or mistyped contract field (extras pass)."""
    problems = [f"{name}: missing" for name in REQUIRED_SIDECAR_FIELDS if name not in data]
    for name, value in data.items():
        expected = _TYPE_BY_NAME.get(name)
        if expected is not None and not _is_json_type(value, expected):
            problems.append(f"{name}: expected a JSON {expected}, got {value!r}")
    try:
        json.dumps(dict(data), allow_nan=False)
    except (TypeError, ValueError) as err:
        problems.append(f"not JSON-serialisable ({err}); extra values must be plain JSON")
    if problems:
        raise ValueError("sidecar does not match SIDECAR_FIELDS: " + "; ".join(problems))


def _is_json_type(value: object, json_type: str) -> bool:
    if isinstance(value, bool):
        return False
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "integer":
        return isinstance(value, int)
    if json_type == "number":
        return isinstance(value, (int, float)) and math.isfinite(value)
    raise AssertionError(f"unknown JSON type {json_type!r} in SIDECAR_FIELDS")

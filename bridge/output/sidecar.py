"""The JSON sidecar written beside every clip: the contract, defined once.

``Sidecar`` (a pydantic model; ``SIDECAR_FIELDS`` lists its fields) is what DAW-side importers
(the Reaper script, the Max device) and docs/sidecar.md rely on; their tests read it from here. ``build_sidecar`` fills it from the
request and the job and refuses anything that does not match it, so a clip never lands with
a sidecar the importers cannot read. Later features add fields through ``extra``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.output.settings import OutputSettings
from bridge.request import GenerationRequest
from bridge.schema import Check, check_of, problems


def _json_type(name: str, accepts: Callable[[object], bool]) -> Check:
    def check(value: object) -> object:
        if isinstance(value, bool) or not accepts(value):
            raise ValueError(f"expected a JSON {name}, got {value!r}")
        return value

    return Check(check, {"type": name})


String = Annotated[str, _json_type("string", lambda v: isinstance(v, str))]
Integer = Annotated[int, _json_type("integer", lambda v: isinstance(v, int))]
_NUMBER = _json_type("number", lambda v: isinstance(v, (int, float)) and math.isfinite(v))
Number = Annotated[float, _NUMBER]


class Sidecar(BaseModel):
    """The sidecar's contract fields; any other field is an extra (later features)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    prompt: String = Field(description="the user's text, as typed")
    full_prompt: String = Field(description=(
        "the text the model got: the prompt plus tempo, meter, key and quality words"))
    bpm: Number = Field(description="project tempo in quarter notes per minute")
    meter: String = Field(description='time signature, "4/4", "6/8"')
    key: String = Field(description='"A minor", "F# major"; empty: unknown')
    bars: Integer = Field(description="clip length in bars")
    seed: Integer = Field(description="the seed used (a random request records the one drawn)")
    top_k: Integer = Field(description="top-k sampling")
    top_p: Number = Field(description="top-p sampling; 0: off")
    temperature: Number = Field(description="sampling temperature")
    cfg: Number = Field(description="classifier-free guidance scale")
    model: String = Field(description="the checkpoint: a hub id or a local directory")
    sample_rate: Integer = Field(description="sample rate of the audio file, Hz")
    frames: Integer = Field(description=(
        "samples per channel in the audio file: round(bars * bar seconds * rate)"))
    duration_s: Number = Field(description="frames / sample_rate, seconds")
    job_id: Integer = Field(description="the daemon's job number")
    variation: Integer = Field(description="which of the job's variations this clip is")
    created: String = Field(description="when the clip was finished, ISO 8601 in UTC")
    # Present only when the request carried it; every other field is always there.
    position_s: Annotated[float | None, _NUMBER] = Field(None, description=(
        "where the clip belongs in the project, seconds; only when the request gave one"))
    client_id: String = Field(description="who asked (a Max device, a script); empty: unknown")
    format: String = Field(description='"wav" or "flac"')
    style: String = Field(description="the trained style applied; empty: none (the base model)")
    style_strength: Number = Field(description=(
        "the style's strength (LoRA scale); 0 when no style was applied"))
    time_map_scale: Annotated[float | None, _NUMBER] = Field(None, description=(
        "tempo lock's time map: clip time t plays generated-audio time "
        "time_map_scale * t + time_map_offset_s; only when tempo lock ran"))
    time_map_offset_s: Annotated[float | None, _NUMBER] = Field(None, description=(
        "the time map's offset, seconds of generated audio; only when tempo lock ran"))


class SidecarField(NamedTuple):
    name: str
    json_type: str  # "string", "number" or "integer"
    meaning: str


SIDECAR_FIELDS: tuple[SidecarField, ...] = tuple(
    SidecarField(name, check_of(info.rebuild_annotation()).json_type, info.description or "")
    for name, info in Sidecar.model_fields.items()
)
SIDECAR_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in SIDECAR_FIELDS)
OPTIONAL_SIDECAR_FIELDS: frozenset[str] = frozenset(
    name for name, info in Sidecar.model_fields.items() if not info.is_required())
REQUIRED_SIDECAR_FIELDS: tuple[str, ...] = tuple(
    name for name in SIDECAR_FIELD_NAMES if name not in OPTIONAL_SIDECAR_FIELDS
)


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
        if name in data:
            raise ValueError(f"extra field {name!r} would replace the sidecar contract's field; "
                             "give it another name")
        data[name] = value
    validate_sidecar(data)
    return data


def validate_sidecar(data: Mapping[str, Any]) -> None:
    """Raise ValueError naming every missing or mistyped contract field (extras pass)."""
    found: list[str] = []
    try:
        Sidecar.model_validate(dict(data))
    except ValidationError as err:
        found = [f"{p.loc[0]}: missing" if p.kind == "missing" else f"{p.loc[0]}: {p.expected}"
                 for p in sorted(problems(err), key=lambda p: p.kind != "missing")]
    try:
        json.dumps(dict(data), allow_nan=False)
    except (TypeError, ValueError) as err:
        found.append(f"not JSON-serialisable ({err}); extra values must be plain JSON")
    if found:
        raise ValueError("sidecar does not match SIDECAR_FIELDS: " + "; ".join(found))

"""The worker's wire format, one definition for both ends (bridge.worker and RemoteEngine).

``POST /generate`` takes one JSON object: a client-chosen ``job_id`` and the generation spec
the daemon's pipeline resolved from the request (the full prompt after the daemon's template,
the seed it drew, the seconds tempo lock and loop mode need, the knobs, and any audio prompt,
melody or prefix codes as arrays): the worker makes exactly what a local engine would be asked
for, and everything after generation stays with the daemon. The knobs are checked against the
same parameter table as every request (bridge.params), with the same messages.

The answer streams newline-delimited JSON events:
``accepted`` (job id, whether it came from the result cache), ``progress`` (0..1, a few
percent apart), one ``audio`` per variation (float32 samples, base64, with rate and shape),
then ``done`` (job id, variation count). A failure ends with ``error`` (a reason a person can
act on, and ``retry``: whether the same job id may succeed later). A stream without ``done``
or ``error`` is a failed stream, whatever the connection said.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from bridge.engine.base import GeneratedAudio, GenerationSpec
from bridge.params import PARAMS, SEED_MAX

GENERATE_PATH = "/generate"
DECODE_PATH = "/decode"
CANCEL_PATH = "/cancel"
INFO_PATH = "/info"
CONTENT_TYPE = "application/x-ndjson"
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_TEXT_CHARS = 8000
MAX_SECONDS = 900.0
MAX_ARRAY_VALUES = 48_000 * 60  # a minute of 48 kHz audio: more than any prompt needs
# What a worker may send back: a long clip's decoded audio ([fit] max_seconds, 600 s at most).
MAX_RESULT_VALUES = 32_000 * 2 * 660
MAX_RESULT_BYTES = 8 * MAX_RESULT_VALUES
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

ACCEPTED, PROGRESS, AUDIO, DONE, ERROR = "accepted", "progress", "audio", "done", "error"

_KNOBS = ("top_k", "top_p", "temperature", "cfg", "variations")
_ARRAYS = {"audio_prompt": "float32", "melody": "float32", "prefix_codes": "int64"}
_FIELDS = {"job_id", "text", "seconds", "seed", "negative_prompt", "prompt_rate", "keep_prompt",
           "melody_rate", *_KNOBS, *_ARRAYS}


class WireError(ValueError):
    """A request or a stream that does not follow this format; the message says what."""


# ---- the request ---------------------------------------------------------------------------

def request_body(job_id: str, spec: GenerationSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": job_id, "text": spec.text, "seconds": spec.seconds, "seed": spec.seed,
        "top_k": spec.top_k, "top_p": spec.top_p, "temperature": spec.temperature,
        "cfg": spec.cfg, "variations": spec.variations,
        "negative_prompt": spec.negative_prompt, "keep_prompt": spec.keep_prompt,
    }
    if spec.audio_prompt is not None:
        body["audio_prompt"] = encode_array(spec.audio_prompt, "float32")
        body["prompt_rate"] = spec.prompt_rate
    if spec.melody is not None:
        body["melody"] = encode_array(spec.melody, "float32")
        body["melody_rate"] = spec.melody_rate
    if spec.prefix_codes is not None:
        body["prefix_codes"] = encode_array(spec.prefix_codes, "int64")
    return body


def parse_request(data: object) -> tuple[str, GenerationSpec]:
    """The job id and spec of a request body; WireError lists every problem found."""
    if not isinstance(data, Mapping):
        raise WireError(f"a request must be a JSON object, got {type(data).__name__}")
    problems = [f"{name}: unknown field (known: {', '.join(sorted(_FIELDS))})"
                for name in data if name not in _FIELDS]
    values: dict[str, Any] = {}

    def check(name: str, fn: Any, required: bool = True) -> None:
        if name not in data:
            if required:
                problems.append(f"{name}: missing")
            return
        try:
            values[name] = fn(data[name])
        except (ValueError, TypeError) as err:
            problems.append(f"{name}: {err}")

    check("job_id", parse_job_id)
    check("text", _text)
    check("seconds", _seconds)
    check("seed", _seed)
    for knob in _KNOBS:
        check(knob, PARAMS[knob].check, required=False)
    check("negative_prompt", _text, required=False)
    check("keep_prompt", _bool, required=False)
    for name in ("prompt_rate", "melody_rate"):
        check(name, _rate, required=False)
    for name, dtype in _ARRAYS.items():
        check(name, lambda v, dtype=dtype: decode_array(v, dtype), required=False)
    for array, rate in (("audio_prompt", "prompt_rate"), ("melody", "melody_rate")):
        if array in data and rate not in data:
            problems.append(f"{rate}: missing (the sample rate of {array})")
    if problems:
        raise WireError("; ".join(problems))
    job_id = values.pop("job_id")
    spec = GenerationSpec(
        text=values["text"], seconds=values["seconds"], seed=values["seed"],
        top_k=int(values.get("top_k", PARAMS["top_k"].default)),
        top_p=float(values.get("top_p", PARAMS["top_p"].default)),
        temperature=float(values.get("temperature", PARAMS["temperature"].default)),
        cfg=float(values.get("cfg", PARAMS["cfg"].default)),
        variations=int(values.get("variations", 1)),
        negative_prompt=values.get("negative_prompt", ""),
        audio_prompt=values.get("audio_prompt"), prompt_rate=values.get("prompt_rate", 0),
        keep_prompt=values.get("keep_prompt", False),
        melody=values.get("melody"), melody_rate=values.get("melody_rate", 0),
        prefix_codes=values.get("prefix_codes"),
    )
    return job_id, spec


def fingerprint(data: Mapping[str, Any]) -> str:
    """What a job id stands for: the body without the id. A resubmission under the same id
    must ask for the same thing, or the cached clip would answer someone else's request."""
    rest = {k: v for k, v in data.items() if k != "job_id"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def parse_job_id(value: object) -> str:
    if not isinstance(value, str) or not JOB_ID.fullmatch(value):
        raise WireError(f"must be 1..64 letters, digits, '-' or '_', got {value!r:.80}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise WireError(f"must be a string of at most {MAX_TEXT_CHARS} characters")
    return value


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise WireError(f"must be a number of seconds in (0, {MAX_SECONDS:g}], got {value!r:.40}")
    return float(value)


def _seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise WireError(f"must be an integer 0..{SEED_MAX}, got {value!r:.40}")
    return value


def _rate(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 384_000:
        raise WireError(f"must be a sample rate 1..384000 Hz, got {value!r:.40}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"must be true or false, got {value!r:.40}")
    return value


# ---- arrays ----------------------------------------------------------------------------

def encode_array(array: np.ndarray, dtype: str) -> dict[str, Any]:
    values = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(values.shape),
            "data": base64.b64encode(values.tobytes()).decode("ascii")}


def decode_array(value: object, dtype: str, max_values: int = MAX_ARRAY_VALUES) -> np.ndarray:
    if not isinstance(value, Mapping) or set(value) != {"dtype", "shape", "data"}:
        raise WireError('must be {"dtype", "shape", "data"} (little-endian values, base64)')
    shape = value["shape"]
    if value["dtype"] != dtype:
        raise WireError(f"dtype must be {dtype}, got {value['dtype']!r:.40}")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise WireError(f"shape must be a list of 1 to 3 sizes, got {shape!r:.80}")
    count = math.prod(shape)
    if count > max_values:
        raise WireError(f"holds {count} values, more than the {max_values} allowed")
    if not isinstance(value["data"], str):
        raise WireError("data must be a base64 string")
    try:
        raw = base64.b64decode(value["data"], validate=True)
    except ValueError as err:
        raise WireError(f"data is not base64 ({err})") from None
    item = np.dtype(dtype).newbyteorder("<")
    if len(raw) != count * item.itemsize:
        raise WireError(f"data holds {len(raw)} bytes; shape {shape} of {dtype} needs "
                        f"{count * item.itemsize}")
    array = np.frombuffer(raw, dtype=item).astype(dtype).reshape(shape)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise WireError("values must be finite (no NaN or infinity)")
    return array


# ---- the stream ----------------------------------------------------------------------------

def line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def result_lines(job_id: str, result: GeneratedAudio, **done: Any) -> list[bytes]:
    """A finished job's stream tail: every variation's audio, then done (with ``done``'s
    extra fields: the worker adds its generation time)."""
    audio = np.asarray(result.audio, dtype=np.float32)
    out = []
    for index, clip in enumerate(audio):
        event = {"event": AUDIO, "variation": index, "sample_rate": result.sample_rate,
                 **encode_array(clip, "float32")}
        if result.codes is not None:  # what a long clip's next window continues from
            event["codes"] = encode_array(result.codes[index], "int64")
        out.append(line(event))
    out.append(line({"event": DONE, "job_id": job_id, "variations": len(audio), **done}))
    return out


def error_line(reason: str, *, retry: bool) -> bytes:
    return line({"event": ERROR, "reason": reason, "retry": retry})


def audio_of(events: list[Mapping[str, Any]], done: Mapping[str, Any]) -> GeneratedAudio:
    """The result a stream's audio events carry; WireError when they do not add up."""
    clips = [e for e in events if e.get("event") == AUDIO]
    expected = done.get("variations")
    if not clips or len(clips) != expected or [c.get("variation") for c in clips] != list(
            range(len(clips))):
        raise WireError(f"the stream carried {len(clips)} audio events for {expected!r} "
                        "variations")
    rates = {c.get("sample_rate") for c in clips}
    arrays = [decode_array({k: c.get(k) for k in ("dtype", "shape", "data")}, "float32",
                           MAX_RESULT_VALUES) for c in clips]
    if len(rates) != 1 or len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 2:
        raise WireError("the stream's variations differ in rate or shape")
    rate = rates.pop()
    if not isinstance(rate, int) or rate <= 0:
        raise WireError(f"bad sample rate {rate!r}")
    codes = None
    if all("codes" in c for c in clips):
        codes = np.stack([decode_array(c["codes"], "int64") for c in clips])
    return GeneratedAudio(audio=np.stack(arrays), sample_rate=rate, codes=codes)

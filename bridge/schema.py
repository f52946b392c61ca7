"""The one schema system: pydantic v2 models for config sections, the request and the sidecar.

Each field's type is ``Annotated[T, Check(fn, json_schema)]``: one check function (a plain function that returns the
normalized value or raises ValueError saying what was expected) and the JSON Schema that
describes the same rule, defined side by side so they cannot drift. pydantic runs the checks,
collects every problem at once with its location, and writes the JSON Schema that docs, the
Lua schema and the Max device are generated from (tools/schema.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic_core import core_schema

# Closed: a misspelt key must not silently do nothing. Frozen: settings are shared by threads.
CLOSED = ConfigDict(extra="forbid")
FROZEN = ConfigDict(frozen=True, extra="forbid")


class Section(BaseModel):
    """A config section: frozen, unknown keys refused; field descriptions are the comments
    ``config init`` writes."""

    model_config = FROZEN


@dataclass(frozen=True, eq=False)  # hashed by identity: typing hashes Annotated metadata
class Check:
    """``Annotated[T, Check(fn, json_schema)]``: a value validated by ``fn`` (returns the
    normalized value or raises ValueError saying what was expected) and described by
    ``json_schema``. pydantic runs ``fn`` in place of its own coercion, so the messages and the
    strictness are the project's (no "1" for true, no bool for an int)."""

    fn: Callable[[Any], Any]
    json_schema: Mapping[str, Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.fn)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return dict(self.json_schema)

    @property
    def json_type(self) -> str:
        """The JSON type as the docs and the Lua schema write it: "integer", "string|null"."""
        kind = self.json_schema.get("type", "string")
        return "|".join(kind) if isinstance(kind, list) else str(kind)


def check_of(annotation: Any) -> Check:
    """The Check inside an ``Annotated[T, Check(...)]`` field annotation."""
    return next(m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Check))


class Problem(NamedTuple):
    """One thing wrong with an input: where (field path), the value given, what was expected."""

    loc: tuple[str | int, ...]
    value: object
    expected: str
    kind: str  # "invalid", "missing" or "unknown"


def problems(err: ValidationError) -> list[Problem]:
    """Every problem pydantic found, in input order, with the check's own words."""
    out = []
    for e in err.errors():
        kind = {"missing": "missing", "extra_forbidden": "unknown",
                "unexpected_keyword_argument": "unknown"}.get(e["type"], "invalid")
        ctx_error = e.get("ctx", {}).get("error")
        expected = str(ctx_error) if ctx_error is not None else e["msg"]
        if e["type"] == "model_type":
            expected = "expected a table"
        out.append(Problem(tuple(e["loc"]), e.get("input"), expected, kind))
    return out


# ---- check factories: each makes one checked type (check + JSON Schema) ----

def _choice_check(options: Sequence[Any]) -> Callable[[object], Any]:
    def check(value: object) -> Any:
        if isinstance(value, bool) or value not in options:
            raise ValueError(f"expected one of {', '.join(repr(o) for o in options)}")
        return value

    return check


def choice(*options: Any) -> Check:
    kind = "integer" if isinstance(options[0], int) else "string"
    return Check(_choice_check(options), {"type": kind, "enum": list(options)})


def int_range(lo: int, hi: int) -> Check:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"expected an integer {lo}..{hi}")
        return value

    return Check(check, {"type": "integer", "minimum": lo, "maximum": hi})


def float_range(lo: float, hi: float) -> Check:
    def check(value: object) -> float:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not lo <= value <= hi):
            raise ValueError(f"expected a number {lo:g}..{hi:g}")
        return float(value)

    return Check(check, {"type": "number", "minimum": lo, "maximum": hi})


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _str_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('expected a list of strings, e.g. ["a", "b"]')
    return list(value)


Text = Annotated[str, Check(_str, {"type": "string"})]
Flag = Annotated[bool, Check(_bool, {"type": "boolean"})]
TextList = Annotated[list[str], Check(_str_list, {"type": "array", "items": {"type": "string"}})]


def plain(value: object) -> Any:
    """tomlkit items -> plain Python values (other values pass unchanged)."""
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def plain_table(value: object) -> Any:
    """A TOML document or table (tomlkit items) as plain dicts, lists and scalars."""
    value = plain(value)
    if isinstance(value, Mapping):
        return {str(k): plain_table(v) for k, v in value.items()}
    return value

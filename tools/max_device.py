"""The Max for Live device's parameters, derived from the request in the JSON Schema.

The four knob dials, the Bars and Variations boxes and the seed box in
``max_patches/MusicGen Bridge.maxpat`` take their ranges, defaults, curves and help text from
the request's fields in tools.schema (which reads ``bridge.params`` and ``bridge.request``);
this module writes them into the patcher so a change to a parameter is one edit in the
package, not a hand edit in Max.

    python -m tools.max_device           check: exit 1 if the patcher is stale
    python -m tools.max_device --write   rewrite the patcher

The file is written in Max's own layout (4-space indent, arrays of plain values on one line),
so a patcher saved by Max and a synced one differ only where a value changed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools import schema as schema_mod

PATCH = Path(__file__).resolve().parents[1] / "max_patches" / "MusicGen Bridge.maxpat"


def request_fields() -> dict[str, dict[str, Any]]:
    """The request's fields as JSON Schema properties."""
    return schema_mod.entry(schema_mod.build(), "request")["properties"]


def dial_exponent(prop: dict[str, Any]) -> float:
    """Live dials only offer power curves (lo + (hi - lo) * x ** e). For a log knob, pick e so
    the dial's centre shows the daemon's knob centre (the geometric mean); the ends match
    exactly, the rest approximately."""
    if prop["x-curve"] != "log":
        return 1.0
    lo, hi = prop["minimum"], prop["maximum"]
    centre = math.sqrt(lo * hi)
    return round(math.log((centre - lo) / (hi - lo)) / math.log(0.5), 4)


def dial_values(prop: dict[str, Any]) -> dict[str, Any]:
    """The valueof attributes a knob dial carries for the request field ``prop``."""
    values: dict[str, Any] = {
        "parameter_longname": prop["x-label"],
        "parameter_mmin": float(prop["minimum"]),
        "parameter_mmax": float(prop["maximum"]),
        "parameter_initial": [float(prop["default"])],
        "parameter_exponent": dial_exponent(prop),
        "parameter_info": prop["description"],
    }
    if prop["x-unit"]:
        values.update(parameter_unitstyle=9, parameter_units=f"%.2f {prop['x-unit']}")
    else:
        values["parameter_unitstyle"] = 0 if prop["type"] == "integer" else 1
    return values


def _boxes_by_varname(patch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["box"]["varname"]: b["box"] for b in patch["patcher"]["boxes"]
            if "varname" in b["box"]}


def sync(patch: dict[str, Any], fields: dict[str, dict[str, Any]] | None = None
         ) -> dict[str, Any]:
    """Write the request ``fields`` (default: the package's) into ``patch`` (in place) and
    return it. Raises ValueError naming the fix when a box the package expects is missing."""
    fields = request_fields() if fields is None else fields
    knobs = [name for name, prop in fields.items() if prop.get("x-knob")]
    boxes = _boxes_by_varname(patch)
    expected = (*knobs, "bars", "variations", "seed_box")
    missing = [name for name in expected if name not in boxes]
    if missing:
        raise ValueError(f"the patcher has no box with scripting name {', '.join(missing)}; "
                         "add it in Max (Inspector > Scripting Name) and run this again")
    for name in knobs:
        boxes[name]["saved_attribute_attributes"]["valueof"].update(dial_values(fields[name]))
    bars = boxes["bars"]["saved_attribute_attributes"]["valueof"]
    bars.update(parameter_mmin=float(fields["bars"]["minimum"]),
                parameter_mmax=float(fields["bars"]["maximum"]))
    spec = fields["variations"]
    variations = boxes["variations"]["saved_attribute_attributes"]["valueof"]
    variations.update(parameter_mmin=float(spec["minimum"]), parameter_mmax=float(spec["maximum"]),
                      parameter_initial=[float(spec["default"])],
                      parameter_info=spec["description"])
    boxes["seed_box"].update(minimum=fields["seed"]["minimum"], maximum=fields["seed"]["maximum"])
    return patch


def render(value: Any, level: int = 0) -> str:
    """JSON in Max's layout."""
    pad, end = "    " * (level + 1), "    " * level
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {render(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, (dict, list)) for v in value):
            return "[ " + ", ".join(json.dumps(v) for v in value) + " ]"
        return "[\n" + ",\n".join(pad + render(v, level + 1) for v in value) + "\n" + end + "]"
    return json.dumps(value, ensure_ascii=False)


def synced_text(path: Path = PATCH) -> str:
    return render(sync(json.loads(path.read_text(encoding="utf-8")))) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.max_device", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the patcher")
    args = parser.parse_args(argv)
    text = synced_text()
    if PATCH.read_text(encoding="utf-8") == text:
        print(f"{PATCH.name} matches the package")
        return 0
    if args.write:
        tmp = PATCH.with_name(f".{PATCH.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(PATCH)
        print(f"wrote {PATCH}")
        return 0
    print(f"{PATCH.name} is stale: run python -m tools.max_device --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

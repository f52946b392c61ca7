"""The tables in docs/midi.md, rendered from the mapping and trigger tables.

``python -m tools.midi_docs`` prints them; a test checks docs/midi.md contains them
verbatim, so the docs cannot drift from the code.
"""

from __future__ import annotations

from bridge.midi.mapping import DEFAULT_CCS, MAPPING_KEYS, MODES
from bridge.midi.triggers import ACTIONS, DEFAULT_NOTES
from bridge.params import PARAMS


def tables() -> str:
    lines = ["| mode | what sends it |", "|---|---|"]
    lines += [f"| `{m.name}` | {m.doc} |" for m in MODES.values()]
    lines += ["", "| key | meaning |", "|---|---|"]
    lines += [f"| `{k.key}` | {k.doc} |" for k in MAPPING_KEYS.values()]
    lines += ["", "| default knob | parameter | range, curve |", "|---|---|---|"]
    for param, cc in DEFAULT_CCS.items():
        spec = PARAMS[param]
        lines.append(f"| CC {cc}, any channel | `{param}` | {spec.minimum:g}..{spec.maximum:g},"
                     f" {spec.curve} |")
    lines += ["", "| trigger | default note, any channel | action |", "|---|---|---|"]
    lines += [f"| `{a}` | {DEFAULT_NOTES[a]} | {doc} |" for a, doc in ACTIONS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(tables(), end="")

"""Style-training requests in the request folder: ``{"style_train": {...}}``.

A script that cannot open a socket (the REAPER script "train a style from the selected
items") drops one JSON object with one key, ``style_train``, holding ``name``, ``clips`` (a
list of audio file paths, absolute or relative to the request folder) and an optional
``description``. The inbox hands it to ``Control.train_style``; the file then moves to
``done/NAME.style.json`` or, with every reason, to ``rejected/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAIN_KEY = "style_train"
_FIELDS = {"name", "clips", "description"}


def is_train_request(data: Any) -> bool:
    return isinstance(data, dict) and TRAIN_KEY in data


def parse_train_request(data: dict[str, Any], folder: Path) -> tuple[str, list[str], str]:
    """(name, clip paths, description); ValueError listing every problem."""
    problems = [f"{key}: unknown key beside {TRAIN_KEY} (a training request holds only "
                f"{TRAIN_KEY})" for key in data if key != TRAIN_KEY]
    body = data[TRAIN_KEY]
    if not isinstance(body, dict):
        raise ValueError(f'{TRAIN_KEY} must be an object like {{"name": "mybass", "clips": '
                         f'["a.wav", ...]}}, got {type(body).__name__}')
    problems += [f"{TRAIN_KEY}.{key}: unknown (known: {', '.join(sorted(_FIELDS))})"
                 for key in body if key not in _FIELDS]
    name, clips, description = body.get("name"), body.get("clips"), body.get("description", "")
    if not isinstance(name, str) or not name:
        problems.append(f"{TRAIN_KEY}.name: missing (the style's name)")
    if not isinstance(clips, list) or not all(isinstance(c, str) and c for c in clips):
        problems.append(f"{TRAIN_KEY}.clips: must be a list of audio file paths")
        clips = []
    if not isinstance(description, str):
        problems.append(f"{TRAIN_KEY}.description: must be a string")
    if problems:
        raise ValueError("; ".join(problems))
    paths = [str(p if (p := Path(c).expanduser()).is_absolute() else folder / p) for c in clips]
    return str(name), paths, str(description)

"""The prompt builder: the user's words plus the musical context MusicGen was trained to read.

The template is a comma-separated list of parts with {prompt}, {bpm}, {meter}, {key} and
{quality} placeholders; a part whose placeholders are all empty is dropped, so an unknown key
leaves no dangling "in ".
"""

from __future__ import annotations

import string
from typing import Annotated

from pydantic import Field

from bridge.musical_time import Meter, format_bpm
from bridge.schema import Check, Section, Text

DEFAULT_TEMPLATE = "{prompt}, {bpm} BPM, {meter} time signature, in {key}, {quality}"
QUALITY_PRESETS: dict[str, str] = {
    "hi-fi": "320kbps, 48kHz",
    "lo-fi": "64kbps, 16kHz",
    "none": "",
}
DEFAULT_QUALITY = "hi-fi"
PLACEHOLDERS = ("prompt", "bpm", "meter", "key", "quality")


def check_template(template: str) -> str:
    """Refuse a template that names an unknown placeholder or forgets the user's prompt."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = names - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"prompt template names unknown placeholder(s) {sorted(unknown)}; "
            f"use only {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )
    if "prompt" not in names:
        raise ValueError("prompt template must contain {prompt}, or the user's words are lost")
    return template


def quality_words(quality: str) -> str:
    """A preset name ("lo-fi") or literal words ("96kbps, 22kHz")."""
    return QUALITY_PRESETS.get(quality.strip().lower(), quality.strip())


def build_prompt(prompt: str, *, bpm: float, meter: Meter, key: str = "",
                 quality: str = DEFAULT_QUALITY, template: str = DEFAULT_TEMPLATE) -> str:
    values = {
        "prompt": " ".join(prompt.split()),
        "bpm": format_bpm(bpm),
        "meter": str(meter),
        "key": key,
        "quality": quality_words(quality),
    }
    parts = []
    for part in template.split(","):
        names = [n for _, n, _, _ in string.Formatter().parse(part) if n is not None]
        if names and all(not values[n] for n in names):
            continue
        text = part.format(**values).strip()
        if text:
            parts.append(text)
    return ", ".join(parts)


def _template(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return check_template(value)


class PromptSettings(Section):
    """The [prompt] config section: how the words the model reads are put together."""

    template: Annotated[str, Check(_template, {"type": "string"})] = Field(
        DEFAULT_TEMPLATE, description="parts without a value (e.g. no key) are dropped")
    quality: Text = Field(DEFAULT_QUALITY, description=(
        'quality words, or a preset: "hi-fi" (320kbps, 48kHz), "lo-fi" (64kbps, 16kHz), "none"'))

"""The [generation] config section: what a fresh session's request starts from."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridge.musical_time import Meter
from bridge.params import SEED_MAX, SEED_RANDOM, check_seed
from bridge.request import (
    METER_SCHEMA,
    Bars,
    Bpm,
    Cfg,
    Key,
    StyleStrength,
    Temperature,
    TopK,
    TopP,
    Variations,
    param_field,
)
from bridge.schema import Check, Section, Text, TextList


def _meter_text(value: object) -> str:
    return str(Meter.parse(value))


def _seed(value: object) -> int:
    seed = check_seed(value)
    return SEED_RANDOM if seed is None else seed


class GenerationSettings(Section):
    prompt: Text = Field("", description="default prompt text")
    bpm: Bpm = Field(120.0, description="default tempo until the DAW sends one")
    meter: Annotated[str, Check(_meter_text, METER_SCHEMA)] = Field(
        "4/4", description="default meter")
    key: Key = Field("", description='default key, e.g. "A minor"; empty: none')
    bars: Bars = Field(4, description="default clip length in bars")
    top_k: TopK = param_field("top_k")
    top_p: TopP = param_field("top_p")
    temperature: Temperature = param_field("temperature")
    cfg: Cfg = param_field("cfg")
    variations: Variations = param_field("variations")
    style_strength: StyleStrength = param_field("style_strength")
    seed: Annotated[int, Check(_seed, {"type": "integer", "minimum": SEED_RANDOM,
                                       "maximum": SEED_MAX})] = Field(
        SEED_RANDOM, description="-1: a new random seed per job")
    negative_prompt: Text = Field("", description="what guidance steers away from")
    audio_folders: TextList = Field(default_factory=list, description=(
        "folders audio prompts and melodies may be read from, besides the clip folder "
        '(e.g. ["~/Music/stems"]); a path anywhere else is refused'))

"""The [output] config section: where clips go and what the clip file looks like."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridge.schema import Section, Text, choice, float_range, int_range

FORMATS = ("wav", "flac")


class OutputSettings(Section):
    """What the clip file looks like; built from ``[output]``, or directly (tests, benches)."""

    project_dir: Text = Field("", description=(
        "the DAW project folder; clips go into its MusicGen/ folder (empty: the data folder)"))
    format: Annotated[str, choice(*FORMATS)] = Field("wav", description="clip file format")
    sample_rate: Annotated[int, int_range(8000, 192000)] = Field(
        48000, description="clip sample rate")
    channels: Annotated[int, int_range(1, 2)] = Field(2, description="1: mono, 2: stereo")
    bit_depth: Annotated[int, choice(16, 24, 32)] = Field(
        24, description="16, 24 or 32 (float) bits")
    lufs: Annotated[float, float_range(-40.0, 0.0)] = Field(
        -14.0, description="integrated loudness target")
    true_peak_db: Annotated[float, float_range(-12.0, 0.0)] = Field(
        -1.0, description="true-peak ceiling, dBTP")
    fade_ms: Annotated[float, float_range(0.0, 100.0)] = Field(
        4.0, description="fade in/out against clicks")

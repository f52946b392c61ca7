"""The [fit] config section: how clips are fitted to the project's grid."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridge.schema import Flag, Section, float_range


class FitSettings(Section):
    tempo_lock: Flag = Field(True, description="stretch and align clips to the project grid")
    max_seconds: Annotated[float, float_range(1.0, 600.0)] = Field(120.0, description=(
        "longest clip, generated in windows past the model's 30 s"))

"""The [fit] config section: how clips are fitted to the project's grid."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridge.schema import Flag, Section, float_range, int_range


class FitSettings(Section):
    tempo_lock: Flag = Field(True, description="stretch and align clips to the project grid")
    retries: Annotated[int, int_range(0, 5)] = Field(0, description=(
        "when a clip asked to be on the grid cannot be locked confidently, generate it "
        "again with the next seed, up to this many times (each costs a generation); 0: off"))
    max_seconds: Annotated[float, float_range(1.0, 600.0)] = Field(120.0, description=(
        "longest clip, generated in windows past the model's 30 s"))

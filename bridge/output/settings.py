"""What a clip file looks like: format, rate, channels, depth, loudness, fades."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from bridge.config import SETTINGS

FORMATS = ("wav", "flac")


@dataclass(frozen=True)
class OutputSettings:
    """What the clip file looks like; validated with the same checks as ``[output]``."""

    format: str = "wav"
    sample_rate: int = 48000
    channels: int = 2
    bit_depth: int = 24
    lufs: float = -14.0
    true_peak_db: float = -1.0
    fade_ms: float = 4.0

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            try:
                checked = _OUTPUT_CHECKS[spec.name](value)
            except ValueError as err:
                raise ValueError(
                    f"output {spec.name} = {value!r} is invalid: {err}; fix [output] "
                    f"{spec.name} in the config or the matching command-line option"
                ) from None
            object.__setattr__(self, spec.name, checked)

    @classmethod
    def from_config(cls, config: Any) -> OutputSettings:
        """Read ``config.output`` (a loaded ``bridge.config.Config``)."""
        section = config.output
        return cls(**{spec.name: getattr(section, spec.name) for spec in fields(cls)})


# One source of truth for the ranges: the [output] settings table in bridge.config.
_OUTPUT_CHECKS = {s.key: s.check for s in SETTINGS if s.section == "output"}

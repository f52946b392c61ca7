"""Grading a tempo lock against a corpus clip's ground truth, through the time map alone.

The map (``time_map_scale``, ``time_map_offset_s`` in the sidecar) says which instant of the
generated audio plays at each instant of the finished clip; the ground truth says where the
generated audio's beats and bar lines are. So the true beats can be placed on the clip and
compared with the project grid without looking at the fit's own measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.musical_time import Meter, beat_seconds, clip_seconds
from tests.corpus import Clip

TOLERANCE_S = 0.010


@dataclass(frozen=True)
class Grade:
    applied: bool
    locked: bool
    downbeat_error_s: float | None
    beat_errors_s: tuple[float, ...]
    tempo_error: float | None


def place(sidecar: dict, source_times: np.ndarray) -> np.ndarray:
    """Times in the finished clip at which these instants of the generated audio play."""
    return (np.asarray(source_times) - sidecar["time_map_offset_s"]) / sidecar["time_map_scale"]


def grade(clip: Clip, sidecar: dict) -> Grade:
    applied = bool(sidecar["tempo_locked"])
    if clip.beatless:
        return Grade(applied, False, None, (), None)
    meter = Meter.parse(clip.meter)
    length = clip_seconds(clip.bars, clip.project_bpm, meter)
    grid = beat_seconds(clip.project_bpm, meter)
    beats = place(sidecar, clip.beats())
    beats = beats[(beats > -TOLERANCE_S) & (beats < length)]
    errors = np.abs(beats - grid * np.round(beats / grid))
    downbeats = place(sidecar, clip.downbeats(with_previous=True))
    downbeat_error = float(np.min(np.abs(downbeats)))
    locked = downbeat_error <= TOLERANCE_S and errors.size > 0 \
        and float(errors.max()) <= TOLERANCE_S
    tempo = clip.true_bpm * sidecar["time_map_scale"]
    return Grade(applied, locked, downbeat_error, tuple(float(e) for e in errors),
                 abs(tempo - clip.project_bpm) / clip.project_bpm)

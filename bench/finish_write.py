"""Benchmark: finishing + writing one 16-bar clip at 120 BPM in 4/4 (32 s) at 48 kHz.

Run from the repository root: ``python -m bench.finish_write [--repeats 5]``.

The input is what the engine hands over: mono 32 kHz audio of whole 20 ms frames. Two inputs:
"noise" (steady Gaussian noise: its peaks fit under -1 dBTP at -14 LUFS, so loudness is a
plain gain) and "bursts" (noise with a decaying burst on every beat, like drums: its peaks
need the limiter, which takes several measure-and-correct passes). Each is finished with the
default [output] settings (stereo, 48 kHz, -14 LUFS, -1 dBTP, 4 ms fades) and written as a
24-bit WAV with its sidecar and manifest line into a temporary folder on the same disk as the
system's temp dir, fsyncs included. Each stage is also timed alone on the
same input, so the figures say where the time goes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.musical_time import Meter, clip_samples, clip_seconds
from bridge.output.sidecar import build_sidecar
from bridge.output.writer import ClipWriter
from bridge.post import finishing
from bridge.request import GenerationRequest

MODEL_RATE = 32000
FRAME_SAMPLES = 640  # one 20 ms EnCodec frame at 32 kHz
BARS, BPM, METER = 16, 120.0, Meter(4, 4)


@dataclass(frozen=True)
class FinishWriteTimes:
    """Milliseconds per repeat, for each stage and for the whole."""

    scenario: str
    clip_seconds: float
    repeats: int
    stages_ms: dict[str, tuple[float, ...]]

    def median_ms(self, stage: str) -> float:
        return statistics.median(self.stages_ms[stage])

    def lines(self) -> list[str]:
        out = [f"finish + write of a {BARS}-bar clip at {BPM:g} BPM {METER} "
               f"({self.clip_seconds:g} s, 32 kHz mono {self.scenario} -> 48 kHz stereo 24-bit "
               "WAV), "
               f"{self.repeats} repeats, median (min) ms:"]
        for stage, values in self.stages_ms.items():
            out.append(f"  {stage:<28} {statistics.median(values):8.1f}  ({min(values):.1f})")
        return out


SCENARIOS = ("noise", "bursts")


def _model_output(seconds: float, scenario: str, seed: int = 0) -> np.ndarray:
    n = round(seconds * 50) * FRAME_SAMPLES
    rng = np.random.default_rng(seed)
    if scenario == "noise":
        return (0.1 * rng.standard_normal((1, n))).astype(np.float32)
    beat = 60.0 / BPM
    envelope = np.exp(-(np.arange(n) / MODEL_RATE % beat) * 30.0)
    x = 0.05 * rng.standard_normal(n) + 0.3 * envelope * rng.standard_normal(n)
    return x.astype(np.float32)[np.newaxis]


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return 1000.0 * (time.perf_counter() - start), result


def bench_finish_write(repeats: int = 5, out_dir: Path | None = None, verbose: bool = True,
                       scenario: str = "noise") -> FinishWriteTimes:
    """Time finish() and ClipWriter.write() for the 16-bar clip; print the figures."""
    settings = finishing.OutputSettings()
    rate = settings.sample_rate
    seconds = clip_seconds(BARS, BPM, METER)
    n = clip_samples(BARS, BPM, METER, rate)
    raw = _model_output(seconds, scenario)
    request = GenerationRequest(prompt="benchmark noise", bpm=BPM, bars=BARS, meter=METER)
    stages: dict[str, list[float]] = {}

    def record(stage: str, ms: float) -> None:
        stages.setdefault(stage, []).append(ms)

    with tempfile.TemporaryDirectory(prefix="bench-finish-write-", dir=out_dir) as folder:
        writer = ClipWriter(folder, settings)
        finishing.finish(raw[:, :MODEL_RATE], MODEL_RATE, rate, settings)  # warm-up
        for index in range(repeats):
            ms, stereo = _timed(finishing.to_channels, raw, settings.channels)
            record("stage: channels", ms)
            ms, resampled = _timed(finishing.resample, stereo, MODEL_RATE, rate)
            record("stage: resample (soxr VHQ)", ms)
            ms_fit, fitted = _timed(finishing.fit_length, resampled, n)
            ms, faded = _timed(finishing.fade, fitted, rate, settings.fade_ms)
            record("stage: fit length + fades", ms_fit + ms)
            ms, _ = _timed(finishing.normalize_loudness, faded, rate, settings.lufs,
                           settings.true_peak_db)
            record("stage: loudness + limiter", ms)
            finish_ms, clip = _timed(finishing.finish, raw, MODEL_RATE, n, settings)
            sidecar = build_sidecar(request, full_prompt=request.prompt, seed=index,
                                    model="benchmark", settings=settings, frames=n,
                                    job_id=index, variation=1)
            write_ms, _ = _timed(writer.write, clip, sidecar, slug_source=request.prompt)
            record("finish()", finish_ms)
            record("write() (24-bit WAV, fsync)", write_ms)
            record("finish + write", finish_ms + write_ms)
    result = FinishWriteTimes(scenario, seconds, repeats,
                              {k: tuple(v) for k, v in stages.items()})
    if verbose:
        print("\n".join(result.lines()))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to write into (a temporary folder inside it)")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    for scenario in SCENARIOS:
        bench_finish_write(args.repeats, args.out, scenario=scenario)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

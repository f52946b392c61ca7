"""Benchmark: tempo analysis, stretch and loop for 8- and 32-bar clips at 48 kHz.

    .venv/bin/python bench/fit.py [--repeats 3] [--bpm 120] [--material-bpm 116]

Prints absolute seconds and seconds per second of clip for each stage; the share of the
generation time is worked out against the core benchmark's seconds for the same clip. The
material is a synthetic stereo groove (kicks, snares, hats, a chord) a few BPM off the
project tempo, generated as long as the engine would (clip plus ``extra_seconds``), so the
stretch path runs every time. The first call in a process also pays for librosa's numba
compilation; that is reported on its own line, since the daemon pays it once at start-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.musical_time import Meter, clip_samples, clip_seconds  # noqa: E402
from bridge.post import tempo_fit  # noqa: E402
from bridge.post.loop import DEFAULT_CROSSFADE_S, make_loop  # noqa: E402
from bridge.post.tempo_fit import extra_seconds, fit_tempo  # noqa: E402

RATE = 48000
METER = Meter(4, 4)


def groove(bpm: float, seconds: float, seed: int = 0) -> np.ndarray:
    """Kick on 1 and 3, noise snare on 2 and 4, eighth hats, a sustained chord and hiss."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    out = sum(0.06 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    kt = np.arange(int(0.25 * RATE)) / RATE
    kick = 0.8 * np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-kt * 35)) / RATE)
    kick *= np.exp(-kt * 14)
    eighth = 30.0 / bpm
    for i in range(int(seconds / eighth)):
        start = int(round(i * eighth * RATE))
        hits = [0.15 * np.diff(rng.standard_normal(1921)) * np.exp(-np.arange(1920) / RATE * 80)]
        if i % 4 == 0:
            hits.append(kick)
        if i % 4 == 2:
            hits.append(0.3 * rng.standard_normal(7200) * np.exp(-np.arange(7200) / RATE * 25))
        for hit in hits:
            out[start:start + hit.size] += hit[:n - start]
    out = out + 0.003 * rng.standard_normal(n)
    return np.stack([out, 0.9 * out]).astype(np.float32)


def run(bars: int, bpm: float, material_bpm: float, repeats: int) -> dict[str, float]:
    clip_s = clip_seconds(bars, bpm, METER)
    n = clip_samples(bars, bpm, METER, RATE)
    generated_s = clip_s + extra_seconds(bpm, METER, clip_s) + DEFAULT_CROSSFADE_S
    audio = groove(material_bpm, generated_s)
    times: dict[str, list[float]] = {"analysis": [], "fit": [], "loop": []}
    for _ in range(repeats):
        start = time.perf_counter()
        tempo_fit._measure(audio.mean(axis=0), RATE, bpm)
        times["analysis"].append(time.perf_counter() - start)

        start = time.perf_counter()
        fitted, fit = fit_tempo(audio, RATE, bpm=bpm, meter=METER, bars=bars)
        times["fit"].append(time.perf_counter() - start)
        if not fit.applied:
            raise SystemExit(f"benchmark material was not fitted: {fit.reason}")

        start = time.perf_counter()
        looped = make_loop(fitted, RATE, n)
        times["loop"].append(time.perf_counter() - start)
        assert looped.shape[1] == n
    result = {name: statistics.median(values) for name, values in times.items()}
    # fit_tempo runs the analysis itself; the rest of its time is stretch and alignment.
    result["stretch+align"] = result["fit"] - result["analysis"]
    result["total"] = result["fit"] + result["loop"]
    result["clip_s"] = clip_s
    result["generated_s"] = generated_s
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bpm", type=float, default=120.0)
    parser.add_argument("--material-bpm", type=float, default=116.0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    warm = groove(args.material_bpm, 6.0)
    fit_tempo(warm, RATE, bpm=args.bpm, meter=METER, bars=2)
    print(f"first call in the process (numba compile + 2-bar fit): "
          f"{time.perf_counter() - start:.2f} s")
    print(f"{args.material_bpm:g} BPM material to {args.bpm:g} BPM, {METER}, {RATE} Hz stereo, "
          f"median of {args.repeats}")
    header = (f"{'bars':>4} {'clip s':>7} {'input s':>7} {'analysis':>9} {'stretch+align':>14} "
              f"{'loop':>7} {'total':>7} {'s per s':>8}")
    print(header)
    for bars in (8, 32):
        r = run(bars, args.bpm, args.material_bpm, args.repeats)
        print(f"{bars:>4} {r['clip_s']:>7.1f} {r['generated_s']:>7.1f} {r['analysis']:>8.3f}s "
              f"{r['stretch+align']:>13.3f}s {r['loop']:>6.3f}s {r['total']:>6.3f}s "
              f"{r['total'] / r['clip_s']:>8.4f}")


if __name__ == "__main__":
    main()

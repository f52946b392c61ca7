"""Benchmark: the tempo lock on the rendered realistic corpus (tests/corpus), by category.

    .venv/bin/python bench/fit_real.py [--only NAME ...] [--verbose]

Renders (first run only: fluidsynth, espeak-ng; cached under ~/.cache/musicgen-bridge/corpus)
and fits every clip with the daemon's defaults, grading each through the time map the
sidecar records against the clip's ground truth (tests/corpus/grading.py):

- locked: the first downbeat within 10 ms of sample 0 and every beat within 10 ms of the grid;
- downbeat right: among clips that were stretched or shifted, the downbeat within 10 ms;
- tempo error: the finished clip's tempo against the project's (median, worst);
- beat error p50/p90 over all beats of the clips that were fitted;
- false stretches: beatless clips whose timing was changed (must be 0);
- analysis + stretch seconds per second of clip (``fit_tempo`` alone): CPU seconds of this
  process, median per clip, which other work on a shared machine barely changes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.post import tempo_fit  # noqa: E402
from bridge.post.tempo_fit import to_sidecar  # noqa: E402
from tests.corpus import RATE, clips, load, renderer_available  # noqa: E402
from tests.corpus.grading import grade  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="clip names (default: all)")
    parser.add_argument("--verbose", action="store_true", help="one line per clip")
    parser.add_argument("--code", type=Path, help="another tempo_fit.py to grade (a baseline: "
                        "git show 53faf5b:bridge/post/tempo_fit.py > /tmp/old.py)")
    args = parser.parse_args(argv)
    module = _load(args.code) if args.code else tempo_fit
    problem = renderer_available()
    if problem:
        print(problem)
        return 1
    module.warm_up()
    rows: dict[str, list] = defaultdict(list)
    confidences: dict[str, list[float]] = defaultdict(list)
    for clip in clips():
        if args.only and clip.name not in args.only:
            continue
        audio = load(clip)
        started = time.process_time()
        _, fit = module.fit_tempo(audio, RATE, bpm=clip.project_bpm, meter=clip.meter,
                                  bars=clip.bars)
        seconds = time.process_time() - started
        sidecar = _sidecar(fit)
        g = grade(clip, sidecar)
        rows[clip.category].append((clip, fit, g, seconds / (audio.shape[1] / RATE)))
        confidences["beatless" if clip.beatless else "beat"].append(fit.confidence)
        if args.verbose:
            db = "" if g.downbeat_error_s is None else f"db {g.downbeat_error_s * 1000:7.1f} ms"
            print(f"{clip.name:30s} {'LOCK' if g.locked else '    '} conf {fit.confidence:.2f} "
                  f"dbconf {getattr(fit, 'downbeat_confidence', 0):.2f} {db}  {fit.reason}",
                  flush=True)
    _table(rows)
    for kind, values in confidences.items():
        print(f"confidence, {kind} clips: " + " ".join(f"{v:.2f}" for v in sorted(values)))
    return 0


def _load(path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("baseline_tempo_fit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _sidecar(fit) -> dict:
    """The sidecar's fields; a baseline without a time map gets the one its stretch ratio and
    offset imply (stretch anchored at 0, then the cut)."""
    if hasattr(fit, "map_scale"):
        return to_sidecar(fit)
    return {"tempo_locked": fit.applied, "time_map_scale": fit.stretch_ratio,
            "time_map_offset_s": fit.stretch_ratio * fit.offset_s}


def _table(rows: dict[str, list]) -> None:
    print(f"{'category':16s} {'clips':>5s} {'locked':>8s} {'db right':>9s} "
          f"{'tempo err p50/max':>18s} {'beat err p50/p90 ms':>20s} {'false str.':>10s} "
          f"{'s per s':>8s}")
    everything = []
    for category in sorted(rows) + ["all with a beat"]:
        if category == "all with a beat":
            entries = [e for c in rows if c != "beatless" for e in rows[c]]
        else:
            entries = rows[category]
        everything.extend(entries if category != "all with a beat" else [])
        beat = [e for e in entries if not e[0].beatless]
        fitted = [e for e in beat if e[2].applied]
        locked = sum(e[2].locked for e in beat)
        right = sum(e[2].downbeat_error_s <= 0.010 for e in fitted)
        tempo = [e[2].tempo_error * 100 for e in fitted]
        errors = [x for e in fitted for x in e[2].beat_errors_s]
        false = sum(e[2].applied for e in entries if e[0].beatless)
        n_beatless = sum(e[0].beatless for e in entries)
        cost = statistics.median(e[3] for e in entries)
        print(f"{category:16s} {len(entries):5d} "
              f"{f'{locked}/{len(beat)}' if beat else '-':>8s} "
              f"{f'{right}/{len(fitted)}' if fitted else '-':>9s} "
              f"{f'{np.median(tempo):.3f}/{max(tempo):.3f} %' if tempo else '-':>18s} "
              f"{f'{np.percentile(errors, 50) * 1000:.1f}/{np.percentile(errors, 90) * 1000:.1f}' if errors else '-':>20s} "  # noqa: E501
              f"{f'{false}/{n_beatless}' if n_beatless else '-':>10s} {cost:8.4f}")


if __name__ == "__main__":
    sys.exit(main())

"""Oracle: how often madmom's RNN downbeat tracker finds the first downbeat of the corpus.

madmom's downbeat model is the field's reference (its weights are CC BY-NC-SA, so it cannot
ship with this project); this puts our lock's "downbeat right" next to it on the same clips.
Two steps, because madmom 0.16 needs its own environment (old numpy, Cython):

    .venv/bin/python bench/madmom_oracle.py --export /tmp/oracle [--seed N]
    /path/to/madmom-venv/bin/python bench/madmom_oracle.py --evaluate /tmp/oracle

The export writes each clip with a beat (mono, 44.1 kHz) and its ground truth; the evaluation
runs RNNDownBeatProcessor + DBNDownBeatTrackingProcessor with the clip's beats per bar and
counts the first tracked downbeat as right when it lies within 70 ms (the usual tolerance of
downbeat evaluation) of a true bar line, and also within 10 ms (the lock's tolerance).

A madmom environment on Python 3.11: pip install "cython<3" "numpy<1.24" scipy mido wheel
setuptools; pip download --no-deps madmom; delete the sdist's generated .c files; pip install
--no-build-isolation it; then in madmom/processors.py import MutableSequence from
collections.abc.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ORACLE_RATE = 44100


def export(folder: Path, seed: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import soxr

    from tests.corpus import RATE, clips, load, renderer_available

    problem = renderer_available()
    if problem:
        raise SystemExit(problem)
    folder.mkdir(parents=True, exist_ok=True)
    truth = []
    for i, clip in enumerate(c for c in clips(seed) if not c.beatless):
        mono = soxr.resample(load(clip).mean(axis=0), RATE, ORACLE_RATE)
        np.save(folder / f"{i:03d}.npy", mono.astype(np.float32))
        truth.append({"file": f"{i:03d}.npy", "name": clip.name, "category": clip.category,
                      "beats_per_bar": int(clip.meter.split("/")[0]),
                      "downbeats": clip.downbeats(with_previous=True).tolist()})
    (folder / "truth.json").write_text(json.dumps(truth, indent=1))
    print(f"{len(truth)} clips written to {folder}")


def evaluate(folder: Path) -> None:
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    rnn = RNNDownBeatProcessor()
    totals: dict[str, list[tuple[bool, bool]]] = {}
    for item in json.loads((folder / "truth.json").read_text()):
        mono = np.load(folder / item["file"])
        activations = rnn(mono)
        dbn = DBNDownBeatTrackingProcessor(beats_per_bar=[item["beats_per_bar"]], fps=100)
        tracked = dbn(activations)
        firsts = tracked[tracked[:, 1] == 1, 0]
        error = float(np.min(np.abs(np.asarray(item["downbeats"]) - firsts[0]))) \
            if firsts.size else float("inf")
        totals.setdefault(item["category"], []).append((error <= 0.070, error <= 0.010))
        print(f"{item['name']:30s} first downbeat error {error * 1000:8.1f} ms", flush=True)
    everything = [v for values in totals.values() for v in values]
    for category, values in [*sorted(totals.items()), ("all with a beat", everything)]:
        print(f"{category:16s} right within 70 ms {sum(a for a, _ in values)}/{len(values)}, "
              f"within 10 ms {sum(b for _, b in values)}/{len(values)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--export", type=Path, help="write the clips and truth here")
    group.add_argument("--evaluate", type=Path, help="run madmom on an exported folder")
    parser.add_argument("--seed", type=int, default=0, help="corpus variant (export only)")
    args = parser.parse_args(argv)
    if args.export:
        export(args.export, args.seed)
    else:
        evaluate(args.evaluate)
    return 0


if __name__ == "__main__":
    sys.exit(main())

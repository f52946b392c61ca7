"""Benchmark of style slots: training speed and memory, adapter size, switch time.

Run from the repository root: ``python -m bench.style [--models tiny,small] [--clips 5]
[--seconds 5] [--epochs 1]``.

Each model runs in its own process (peak memory is per process): the tiny model and the
musicgen-small architecture with random weights, built in memory from its configs (no
download; random weights cost what trained ones do per step). Clips are rendered here
(pulsed tones and noise). Rows:

- training: seconds per second of training audio per epoch (optimizer steps only; the
  held-out score and the clip encoding are timed apart), and peak memory (process RSS on the
  CPU; ``torch.cuda.max_memory_allocated`` on a GPU);
- adapter: the saved adapter's size on disk (rank 16 on every decoder attention and
  feed-forward linear);
- switch: the first load of a style into the warm model, then switching between two loaded
  styles (what a job pays before its first decoding step).

On a GPU the small-architecture row uses 10 clips x 30 s (the issue's target: under 10
minutes and 16 GB on one H100) unless --clips/--seconds say otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _render(folder: Path, count: int, seconds: float) -> list[Path]:
    import soundfile as sf

    rate = 44_100
    t = np.arange(int(seconds * rate)) / rate
    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) * (np.sin(2 * np.pi * 2 * t) > 0)
        x = x + 0.02 * rng.standard_normal(len(t))
        path = folder / f"clip{i}.wav"
        sf.write(path, x, rate)
        paths.append(path)
    return paths


def _engine(model: str, device: str):
    import torch
    from transformers import MusicgenForConditionalGeneration

    from bridge.engine.tiny_model import _processor, small_config, tiny_config
    from bridge.engine.transformers_engine import TransformersEngine

    config = small_config() if model == "small" else tiny_config()
    torch.manual_seed(0)
    net = MusicgenForConditionalGeneration(config)
    net.generation_config.update(decoder_start_token_id=2048, pad_token_id=2048,
                                 bos_token_id=2048, max_length=1500)
    net.to(device).eval()
    return TransformersEngine(net, _processor(False), model_id=f"{model}-random")


def run_case(model: str, device: str, clips: int, seconds: float, epochs: int) -> dict:
    import torch

    from bridge.engine.style_train import StyleTrainer, TrainSettings
    from bridge.engine.styles import ADAPTER_WEIGHTS, StyleSwitch, read_style

    engine = _engine(model, device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = _render(folder, clips, seconds)
        settings = TrainSettings(epochs=epochs, patience=epochs + 1)
        names = ["a", "b"]
        timed: dict[str, float] = {}
        for name in names:  # "a" is timed; "b" gives the switch a second style
            trainer = StyleTrainer(engine, name, paths, folder / "styles", settings=settings)
            started = time.perf_counter()
            trainer.prepare()
            timed.setdefault("encode_s", time.perf_counter() - started)
            if device == "cuda" and name == "a":
                torch.cuda.reset_peak_memory_stats()
            train_s, steps = 0.0, 0
            while True:
                started = time.perf_counter()
                report = trainer.step()
                if report is None:
                    break
                if report.heldout is None:  # an epoch's last step also scores held-out
                    train_s += time.perf_counter() - started
                    steps += 1
            timed.setdefault("train_s", train_s)
            timed.setdefault("steps", steps)
            audio_per_step = np.mean([trainer.clips[i].seconds for i in trainer.train_ids])
            info = trainer.finish()
        info = read_style(folder / "styles", "a")
        size = (info.path / ADAPTER_WEIGHTS).stat().st_size
        switch = StyleSwitch(engine.model, folder / "styles", engine.model_id)
        switch.check("a")  # fingerprint once, as the daemon does on the first styled job
        started = time.perf_counter()
        with switch.applied("a", 1.0):
            pass
        first_load = time.perf_counter() - started
        with switch.applied("b", 1.0):
            pass
        times = []
        for i in range(10):
            started = time.perf_counter()
            with switch.applied(names[i % 2], 1.0):
                pass
            times.append(time.perf_counter() - started)
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "model": model, "device": device, "clips": clips, "clip_s": seconds,
        "train_steps": int(timed["steps"]),
        "s_per_audio_s_per_epoch": timed["train_s"] / max(1, timed["steps"]) / audio_per_step,
        "encode_s": timed["encode_s"], "peak_mb": peak / 2**20, "adapter_mb": size / 2**20,
        "first_load_ms": first_load * 1e3, "switch_ms": float(np.median(times)) * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("--clips", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # model:device, in a subprocess
    args = parser.parse_args(argv)
    if args.case:
        model, device = args.case.split(":")
        print(json.dumps(run_case(model, device, args.clips, args.seconds, args.epochs)))
        return 0
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for model in args.models.split(","):
            gpu_small = device == "cuda" and model == "small"
            clips = args.clips or (10 if gpu_small else 5)
            seconds = args.seconds or (30.0 if gpu_small else 5.0)
            env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error",
                   "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
            out = subprocess.run(
                [sys.executable, "-m", "bench.style", "--case", f"{model}:{device}",
                 "--clips", str(clips), "--seconds", str(seconds), "--epochs", str(args.epochs)],
                capture_output=True, text=True, env=env, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| model | device | clips | train s per audio s per epoch | encode s | peak MB | "
          "adapter MB | first load ms | switch ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['device']} | {r['clips']} x {r['clip_s']:g} s | "
              f"{r['s_per_audio_s_per_epoch']:.3f} | {r['encode_s']:.1f} | "
              f"{r['peak_mb']:.0f} | {r['adapter_mb']:.2f} | {r['first_load_ms']:.1f} | "
              f"{r['switch_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the generation core on the full musicgen-small architecture.

Run from the repository root: ``python -m bench.core [--seconds 2] [--repeats 3]``.

The model is musicgen-small's architecture with random weights, built from its configs (no
download) and cached under bench/.cache/ (2.4 GB, built once). Random weights cost exactly
what trained ones do per step, which is all a timing needs.

Decode step: ms per decoding step of ``TransformersEngine.generate`` against a plain
``model.generate`` with the same inputs, settings and seed, on the same loaded model,
alternating so that drift on a shared machine hits both alike. The engine must add nothing
measurable; the run also checks that both produce bit-identical audio, which proves the
settings really were the same.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.finish_write import bench_finish_write
from bridge.engine.base import GenerationSpec
from bridge.engine.tiny_model import build_small_architecture
from bridge.engine.transformers_engine import TransformersEngine, load_engine

log = logging.getLogger(__name__)

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
SMALL_DIR_NAME = "musicgen-small-random"
PROMPT = "lo-fi hip hop beat with dusty drums and warm keys, 90 BPM, 4/4 time signature"


@dataclass(frozen=True)
class CallTimes:
    """Times of repeated identical generate calls of ``steps`` decoding steps each.

    ``seconds`` is wall time, what a user waits; ``cpu_seconds`` is this process's CPU time,
    which other work on a shared machine barely changes (with one thread), so it is the
    steadier measure of what the engine itself adds.
    """

    label: str
    steps: int
    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.median_s / self.steps

    @property
    def best_ms_per_step(self) -> float:
        """On a shared machine other work only ever adds time: the fastest run is the
        least disturbed one."""
        return 1000.0 * min(self.seconds) / self.steps

    @property
    def cpu_ms_per_step(self) -> float:
        return 1000.0 * statistics.median(self.cpu_seconds) / self.steps


@dataclass(frozen=True)
class DecodeStepResult:
    engine: CallTimes
    plain: CallTimes
    identical_audio: bool

    @property
    def ratio(self) -> float:
        return self.engine.ms_per_step / self.plain.ms_per_step

    @property
    def best_ratio(self) -> float:
        return self.engine.best_ms_per_step / self.plain.best_ms_per_step

    @property
    def cpu_ratio(self) -> float:
        return self.engine.cpu_ms_per_step / self.plain.cpu_ms_per_step


def small_model_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """The cached random-weight musicgen-small checkpoint, built on first use."""
    path = cache_dir / SMALL_DIR_NAME
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return path
    print(f"building the musicgen-small architecture with random weights into {path} "
          "(once; 2.4 GB) ...", flush=True)
    started = time.perf_counter()
    build_small_architecture(path)
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def bench_decode_step(engine: TransformersEngine, *, seconds: float, repeats: int,
                      seed: int = 0, cfg: float = 3.0) -> DecodeStepResult:
    """Time the engine against plain model.generate with identical settings."""
    spec = GenerationSpec(text=PROMPT, seconds=seconds, top_k=250, top_p=0.0,
                          temperature=1.0, cfg=cfg, seed=seed)
    steps = engine.max_new_tokens(seconds)

    def run_engine() -> np.ndarray:
        return engine.generate(spec, lambda _: None, threading.Event()).audio

    def run_plain() -> np.ndarray:
        inputs = engine.processor(text=[PROMPT], padding=True,
                                  return_tensors="pt").to(engine.device)
        torch.manual_seed(seed)
        audio = engine.model.generate(**inputs, max_new_tokens=steps, do_sample=True,
                                      top_k=250, top_p=1.0, temperature=1.0,
                                      guidance_scale=cfg)
        return audio.float().cpu().numpy()

    # Warm-up: first calls pay for allocator growth and lazy initialisation.
    identical = bool(np.array_equal(run_engine(), run_plain()))
    wall: dict[str, list[float]] = {"engine": [], "plain": []}
    cpu: dict[str, list[float]] = {"engine": [], "plain": []}
    for _ in range(repeats):
        for label, fn in (("plain", run_plain), ("engine", run_engine)):
            started, started_cpu = time.perf_counter(), time.process_time()
            fn()  # returns host numpy: the device has finished when it returns
            wall[label].append(time.perf_counter() - started)
            cpu[label].append(time.process_time() - started_cpu)

    def times(label: str, name: str) -> CallTimes:
        return CallTimes(name, steps, tuple(wall[label]), tuple(cpu[label]))

    return DecodeStepResult(engine=times("engine", "TransformersEngine.generate"),
                            plain=times("plain", "plain model.generate"),
                            identical_audio=identical)


def format_decode_step(result: DecodeStepResult, seconds: float, cfg: float) -> str:
    lines = [f"decode step: {seconds:g} s of audio = {result.plain.steps} steps, batch 1, "
             f"cfg {cfg:g}, {len(result.plain.seconds)} runs each; ms per step as "
             "wall median / wall best / CPU median"]
    for times in (result.plain, result.engine):
        runs = ", ".join(f"{s:.2f}" for s in times.seconds)
        lines.append(f"  {times.label:<30} {times.ms_per_step:7.1f} / "
                     f"{times.best_ms_per_step:6.1f} / {times.cpu_ms_per_step:6.1f}   "
                     f"(wall runs {runs} s)")
    lines.append(f"  {'ratio engine / plain':<30} {result.ratio:7.3f} / "
                 f"{result.best_ratio:6.3f} / {result.cpu_ratio:6.3f}")
    lines.append(f"  same audio from both: {'yes' if result.identical_audio else 'NO'}")
    return "\n".join(lines)


def machine_line(engine: TransformersEngine) -> str:
    params = sum(p.numel() for p in engine.model.parameters())
    if engine.device.type == "cuda":
        where = torch.cuda.get_device_name(engine.device)
    else:
        where = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return (f"model: musicgen-small architecture, random weights ({params / 1e6:.0f}M params), "
            f"{engine.model.dtype}; device {engine.device} ({where}); torch "
            f"{torch.__version__}, {torch.get_num_threads()} threads")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="audio per call (default 2; each step is 20 ms of audio)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per contender")
    parser.add_argument("--finish-repeats", type=int, default=5,
                        help="timed finish + write runs of the 16-bar clip")
    parser.add_argument("--cfg", type=float, default=3.0, help="guidance scale (default 3)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's "
                        "choice); 1 is steadier on a machine shared with other work")
    parser.add_argument("--model", help="checkpoint to time instead of the cached random "
                                        "musicgen-small (a directory or hub id)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model or str(small_model_dir())
    started = time.perf_counter()
    engine = load_engine(model, device=args.device)
    print(f"loaded {model} in {time.perf_counter() - started:.1f} s")
    print(machine_line(engine))
    load_before = _load_average()
    result = bench_decode_step(engine, seconds=args.seconds, repeats=args.repeats,
                               cfg=args.cfg)
    print(format_decode_step(result, args.seconds, args.cfg))
    print(f"  machine load average before / after: {load_before} / {_load_average()}",
          flush=True)
    print("\nfinishing + writing a 16-bar clip (120 BPM 4/4, 32 s) at 48 kHz, 24-bit WAV:")
    bench_finish_write(repeats=args.finish_repeats)
    return 0 if result.identical_audio else 1


def _load_average() -> str:
    """Other processes competing for the cores, which the timings above include."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # not available on Windows
        return "n/a"


if __name__ == "__main__":
    raise SystemExit(main())

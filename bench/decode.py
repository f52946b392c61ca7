"""Decoding engine benchmark: stock transformers ``generate`` against the fast engine.

Run from the repository root: ``python -m bench.decode [--seconds 10] [--repeats 1]``.

One run prints one table: musicgen-small architecture with random weights (bench/.cache/,
built once by bench.core), CFG 3, top-k 250, batch 1 and 4 variations; per contender the
wall time of a whole generate call (text encoding, decoding, EnCodec), ms per decoding step
(that time / steps), how many times faster than real time (audio seconds / wall seconds),
CPU time per step and the ratio to stock generate at the same batch. On the CPU: stock
float32, fast float32, fast int8. On CUDA (when there is one): stock float16, fast float16
with and without CUDA graphs, fast bfloat16 with graphs. Timed calls of all contenders
alternate, so drift on a shared machine hits all alike; with repeats the best run counts
(other work only ever adds time).

After the table, on the CPU, the int8 check: the float32 engine's tokens fed through both
the float32 and the int8 decoder (teacher forcing), and per step the sampling distributions
compared (KL divergence, total variation, top-1 agreement, logit error).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bench.core import PROMPT, _load_average, machine_line, small_model_dir
from bridge.engine.base import GenerationSpec
from bridge.engine.fast import FastEngine, load_fast_engine
from bridge.engine.fast_loop import EagerStepper
from bridge.engine.fast_pattern import build_pattern
from bridge.engine.fast_sampling import Sampling, process
from bridge.engine.transformers_engine import TransformersEngine, load_engine

log = logging.getLogger(__name__)


@dataclass
class Row:
    label: str
    batch: int
    steps: int
    seconds: float  # of audio per clip
    wall: list[float]
    cpu: list[float]
    codes: np.ndarray | None = None

    @property
    def best(self) -> float:
        return min(self.wall)

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.best / self.steps

    @property
    def cpu_ms_per_step(self) -> float:
        return 1000 * statistics.median(self.cpu) / self.steps

    @property
    def realtime(self) -> float:
        """Audio seconds (one clip) per wall second."""
        return self.seconds / self.best


Run = Callable[[GenerationSpec], np.ndarray | None]


def engine_run(engine: TransformersEngine | FastEngine) -> Run:
    def run(spec: GenerationSpec) -> np.ndarray | None:
        result = engine.generate(spec, lambda _: None, threading.Event())
        return result.codes

    return run


def time_rows(contenders: list[tuple[str, Run]], *, seconds: float, batches: Sequence[int],
              cfg: float, repeats: int, steps: int, sync: Callable[[], None]) -> list[Row]:
    rows: list[Row] = []
    for batch in batches:
        spec = GenerationSpec(text=PROMPT, seconds=seconds, top_k=250, top_p=0.0,
                              temperature=1.0, cfg=cfg, seed=0, variations=batch)
        batch_rows = [Row(label, batch, steps, seconds, [], []) for label, _ in contenders]
        for _ in range(repeats):
            for row, (_, run) in zip(batch_rows, contenders, strict=True):
                sync()
                started, started_cpu = time.perf_counter(), time.process_time()
                row.codes = run(spec)
                sync()
                row.wall.append(time.perf_counter() - started)
                row.cpu.append(time.process_time() - started_cpu)
                print(f"  {row.label}, batch {batch}: {row.wall[-1]:.2f} s", flush=True)
        rows += batch_rows
    return rows


def format_table(rows: list[Row]) -> str:
    head = (f"{'contender':<34} {'batch':>5} {'wall s':>8} {'ms/step':>8} {'x realtime':>10} "
            f"{'CPU ms/step':>11} {'vs stock':>9}")
    lines = [head, "-" * len(head)]
    stock = {r.batch: r for r in rows if r.label.startswith("stock")}
    for r in rows:
        base = stock.get(r.batch)
        ratio = f"{base.best / r.best:8.2f}x" if base else ""
        lines.append(f"{r.label:<34} {r.batch:>5} {r.best:8.2f} {r.ms_per_step:8.1f} "
                     f"{r.realtime:10.2f} {r.cpu_ms_per_step:11.1f} {ratio:>9}")
    by_label: dict[str, dict[int, Row]] = {}
    for r in rows:
        by_label.setdefault(r.label, {})[r.batch] = r
    for label, batches in by_label.items():
        if 1 in batches and 4 in batches:
            lines.append(f"{label}: 4 variations take {batches[4].best / batches[1].best:.2f}x "
                         "the time of one")
    return "\n".join(lines)


# -- int8 effect on the distributions ------------------------------------------------------

@dataclass(frozen=True)
class Int8Quality:
    steps: int
    kl_mean: float  # full softmax of the CFG logits, KL(float32 || int8), nats
    kl_p99: float
    kl_max: float
    tv_mean: float  # sampling distribution (CFG + top-k), total variation
    tv_max: float
    top1_agree: float
    topk_overlap: float
    logit_err_rel: float


@torch.inference_mode()
def int8_quality(fp32: FastEngine, int8: FastEngine, steps: int, cfg: float,
                 top_k: int = 250) -> Int8Quality:
    """Teacher-forced comparison over ``steps`` steps of one clip: the float engine samples a
    token history (seed 0), both decoders are fed it, and each step's distributions are
    compared row by row (row = codebook). Total variation of the sampling distributions is
    the largest share of draws that can differ between the two (under the best coupling)."""
    sampling = Sampling(cfg=cfg, do_sample=True, top_k=top_k)
    grid = _grid(fp32, steps, sampling)
    ref, new = _mixed_logits(fp32, grid, cfg), _mixed_logits(int8, grid, cfg)
    log_ref, log_new = ref.log_softmax(-1), new.log_softmax(-1)
    kl = (log_ref.exp() * (log_ref - log_new)).sum(-1)
    p_ref = process(ref, Sampling(cfg=1.0, top_k=top_k)).softmax(-1)
    p_new = process(new, Sampling(cfg=1.0, top_k=top_k)).softmax(-1)
    tv = 0.5 * (p_ref - p_new).abs().sum(-1)
    top_ref, top_new = ref.topk(top_k, dim=-1).indices, new.topk(top_k, dim=-1).indices
    overlap = torch.tensor([len(np.intersect1d(a.numpy(), b.numpy())) / top_k
                            for a, b in zip(top_ref, top_new, strict=True)])
    return Int8Quality(
        steps=steps, kl_mean=float(kl.mean()), kl_p99=float(kl.quantile(0.99)),
        kl_max=float(kl.max()), tv_mean=float(tv.mean()), tv_max=float(tv.max()),
        top1_agree=float((ref.argmax(-1) == new.argmax(-1)).float().mean()),
        topk_overlap=float(overlap.mean()),
        logit_err_rel=float((ref - new).abs().mean() / ref.std()))


def _stepper(engine: FastEngine, steps: int, guided: bool) -> EagerStepper:
    inputs = engine.processor(text=[PROMPT], padding=True, return_tensors="pt")
    text = engine.model.text_encoder(**inputs).last_hidden_state
    states, mask = engine.core.conditioning(text, inputs["attention_mask"], guided)
    return EagerStepper(engine.core, engine.core.cross_kv(states, mask), states.shape[0],
                        steps, guided)


def _grid(engine: FastEngine, steps: int, sampling: Sampling) -> torch.Tensor:
    from bridge.engine.fast_loop import decode

    codebooks, pad = engine.num_codebooks, engine.start_token
    pattern = build_pattern(torch.full((codebooks, 1), pad), codebooks, pad, steps + 1)
    generator = torch.Generator().manual_seed(0)
    return decode(_stepper(engine, steps, sampling.guided), pattern, sampling, generator)


def _mixed_logits(engine: FastEngine, grid: torch.Tensor, cfg: float) -> torch.Tensor:
    """(steps * codebooks, vocab) CFG-mixed logits with ``grid`` fed back."""
    steps = grid.shape[-1] - 1
    stepper = _stepper(engine, steps, cfg > 1)
    mix = Sampling(cfg=cfg, do_sample=False)
    out = [process(stepper.prefill(grid[:, :1]), mix)]
    out += [process(stepper.step(grid[:, c - 1:c], c - 1), mix) for c in range(2, steps + 1)]
    return torch.cat(out)


def format_quality(q: Int8Quality, cfg: float) -> str:
    return "\n".join([
        f"int8 vs float32 decoder, teacher-forced, {q.steps} steps x 4 codebooks, cfg {cfg:g}:",
        f"  full softmax of the CFG logits: KL(fp32 || int8) mean {q.kl_mean:.2e} nats, p99 "
        f"{q.kl_p99:.2e}, max {q.kl_max:.2e}",
        f"  sampling distribution (CFG + top-k 250): total variation mean {q.tv_mean:.4f}, "
        f"max {q.tv_max:.4f}",
        f"  top-1 agreement {100 * q.top1_agree:.1f} %, top-250 set overlap "
        f"{100 * q.topk_overlap:.1f} %",
        f"  mean |logit error| / logit std: {q.logit_err_rel:.4f}",
    ])


# -- main -----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decode",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per clip")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per contender")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quality-steps", type=int, default=300,
                        help="steps of the int8 distribution check (0: skip)")
    parser.add_argument("--model", help="checkpoint instead of the random musicgen-small")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    model = args.model or str(small_model_dir())
    started = time.perf_counter()
    reference = load_engine(model, device=args.device)
    print(f"loaded {model} in {time.perf_counter() - started:.1f} s")
    print(machine_line(reference))
    steps = reference.max_new_tokens(args.seconds)
    cuda = reference.device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(reference.device)) if cuda else (lambda: None)

    contenders: list[tuple[str, Run]] = [(f"stock generate {_dtype(reference)}",
                                          engine_run(reference))]
    loads: list[str] = []
    engines: dict[str, FastEngine] = {}
    if cuda:
        variants = [("fast fp16 + CUDA graphs", dict(mode="graphs")),
                    ("fast fp16 eager", dict(mode="eager"))]
    else:
        variants = [("fast fp32", dict()), ("fast int8", dict(cpu_int8=True))]
    for label, kwargs in variants:
        started = time.perf_counter()
        engines[label] = load_fast_engine(reference, **kwargs)
        loads.append(f"{label}: load + warm-up {time.perf_counter() - started:.1f} s")
        contenders.append((label, engine_run(engines[label])))
    print("; ".join(loads))
    print(f"{args.seconds:g} s of audio = {steps} decoding steps per clip, cfg {args.cfg:g}, "
          f"top-k 250, {args.repeats} timed call(s) each; load average before "
          f"{_load_average()}", flush=True)
    rows = time_rows(contenders, seconds=args.seconds, batches=args.batches, cfg=args.cfg,
                     repeats=args.repeats, steps=steps, sync=sync)
    if cuda:  # bfloat16 last: it converts the shared model in place
        started = time.perf_counter()
        bf16 = load_fast_engine(reference, cuda_dtype="bfloat16", mode="graphs")
        print(f"fast bf16 + CUDA graphs: load + warm-up {time.perf_counter() - started:.1f} s")
        rows += time_rows([("fast bf16 + CUDA graphs", engine_run(bf16))],
                          seconds=args.seconds, batches=args.batches, cfg=args.cfg,
                          repeats=args.repeats, steps=steps, sync=sync)
    print()
    print(format_table(rows))
    print(f"load average after: {_load_average()}")
    if not cuda:
        same = [r for r in rows if r.label == "fast fp32"]
        for r in same:
            stock = next(s for s in rows if s.label.startswith("stock") and s.batch == r.batch)
            equal = r.codes is not None and np.array_equal(r.codes, stock.codes)
            print(f"fast fp32 batch {r.batch}: same codes as stock generate (same seed): "
                  f"{'yes' if equal else 'NO'}")
    print(_targets(rows, cuda))
    if not cuda and args.quality_steps > 0:
        quality = int8_quality(engines["fast fp32"], engines["fast int8"],
                               args.quality_steps, args.cfg)
        print(format_quality(quality, args.cfg))
    return 0


def _dtype(engine: TransformersEngine) -> str:
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(
        engine.model.dtype, str(engine.model.dtype))


def _targets(rows: list[Row], cuda: bool) -> str:
    """The issue's targets, met or not."""
    def find(prefix: str, batch: int) -> Row | None:
        return next((r for r in rows if r.label.startswith(prefix) and r.batch == batch), None)

    lines = ["targets:"]
    stock1 = find("stock", 1)
    fast = find("fast fp16 + CUDA graphs" if cuda else "fast int8", 1)
    if stock1 and fast:
        need = 4.0 if cuda else 1.5
        gain = stock1.ms_per_step / fast.ms_per_step
        lines.append(f"  {fast.label} per step >= {need:g}x stock: {gain:.2f}x "
                     f"{'met' if gain >= need else 'NOT met'}")
    fast_fp32 = find("fast fp32", 1)
    if stock1 and fast_fp32 and not cuda:
        gain = stock1.ms_per_step / fast_fp32.ms_per_step
        lines.append(f"  fast fp32 per step >= 1.5x stock: {gain:.2f}x "
                     f"{'met' if gain >= 1.5 else 'NOT met'}")
    if cuda and fast:
        ten = fast.best * 10.0 / fast.seconds
        lines.append(f"  10 s of audio in < 1 s: {ten:.2f} s {'met' if ten < 1 else 'NOT met'}")
        four = find(fast.label, 4)
        if four:
            ratio = four.best / fast.best
            lines.append(f"  4 variations < 1.3x one: {ratio:.2f}x "
                         f"{'met' if ratio < 1.3 else 'NOT met'}")
    if len(lines) == 1:
        lines.append("  (no matching rows)")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

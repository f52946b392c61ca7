"""``musicgen-bridge doctor``: what stands between this machine and a first clip, each problem
with a one-line fix. Cheap: no model is loaded and nothing is downloaded; the output folder and the journal's
folder are made if missing (serve would make them too), and the probe files are removed.

Each check returns a ``Check``; ``run_checks`` runs them all (a check that crashes is reported
as a failure, not a traceback), ``render`` draws the table, and the exit status is non-zero
when any check failed. Warnings (no MIDI system, REAPER scripts not installed) do not fail.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge import __version__
from bridge import config as config_mod
from bridge.engine.hub import cached_size, hub_offline, human_size
from bridge.preflight import bind_error, probe_writable

OK, WARN, FAIL = "ok", "warn", "FAIL"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_INDEX = "https://download.pytorch.org/whl/cu126"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Context:
    config: config_mod.Config | None  # None: the config file is invalid (its check failed)
    config_error: str
    out_dir: Path
    reaper_resource: Path | None = None  # None: REAPER's default per-OS folder


def check_python(ctx: Context) -> Check:
    return Check("musicgen-bridge", OK, f"{__version__} on Python {sys.version.split()[0]} "
                                        f"({sys.executable})")


def check_config(ctx: Context) -> Check:
    if ctx.config is None:
        return Check("config", FAIL, ctx.config_error,
                     "fix the value named above, or `musicgen-bridge config init --force`")
    where = ctx.config.path or f"defaults (no file at {config_mod.default_config_path()})"
    return Check("config", OK, f"valid: {where}")


def check_torch(ctx: Context) -> list[Check]:
    try:
        import torch
    except ImportError as err:
        return [Check("torch", FAIL, f"cannot import torch ({err})",
                      f"pip install torch --index-url {CPU_INDEX}")]
    cuda_build = torch.version.cuda
    build = f"CUDA {cuda_build}" if cuda_build else "CPU-only"
    if getattr(torch.version, "hip", None):
        build = f"ROCm {torch.version.hip}"
    out = [Check("torch", OK, f"{torch.__version__} ({build} build)")]
    wanted = ctx.config.model.device if ctx.config else "auto"
    has_nvidia = shutil.which("nvidia-smi") is not None
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        out.append(Check("CUDA", OK, names))
    elif cuda_build:
        status = FAIL if wanted.startswith("cuda") else WARN
        out.append(Check("CUDA", status, "CUDA build, but no NVIDIA GPU or driver is usable",
                         "update the NVIDIA driver (nvidia-smi must work), or set [model] "
                         "device = \"cpu\""))
    elif has_nvidia or wanted.startswith("cuda"):
        status = FAIL if wanted.startswith("cuda") else WARN
        out.append(Check("CUDA", status, "this torch build has no CUDA support"
                         + (", but nvidia-smi is here" if has_nvidia else ""),
                         f"pip install --force-reinstall torch --index-url {CUDA_INDEX}"))
    else:
        out.append(Check("CUDA", OK, "not used (no NVIDIA GPU)"))
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if sys.platform == "darwin" or wanted == "mps":
        if mps_ok:
            out.append(Check("MPS", OK, "Apple GPU available"))
        else:
            out.append(Check("MPS", FAIL if wanted == "mps" else WARN,
                             "not available (needs Apple silicon, macOS 12.3+)",
                             "set [model] device = \"cpu\" (Intel Macs run on the CPU)"))
    threads = torch.get_num_threads()
    chosen = ("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu") \
        if wanted == "auto" else wanted
    out.append(Check("device", OK, f"[model] device = {wanted!r}: generates on {chosen} "
                                   f"(CPU: {os.cpu_count()} cores, torch uses {threads} threads)"))
    return out


def check_model(ctx: Context) -> Check:
    if ctx.config is None:
        return Check("model", WARN, "not checked: the config is invalid")
    name = ctx.config.model.name
    if ctx.config.model.backend == "remote":
        return Check("model", OK, "loaded by the worker ([model] backend = \"remote\")")
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            return Check("model", FAIL, f"{path} has no config.json: not a checkpoint",
                         "musicgen-bridge tiny-model DIR (offline test model) or a hub id")
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return Check("model", OK, f"local directory {path} ({human_size(size)})")
    size = cached_size(name)
    if size:
        return Check("model", OK, f"{name} in the local Hugging Face cache ({human_size(size)})")
    if hub_offline():
        return Check("model", FAIL, f"{name} is not in the local cache and HF_HUB_OFFLINE is set",
                     "connect once without HF_HUB_OFFLINE, or `musicgen-bridge tiny-model DIR` "
                     "and --model DIR")
    return Check("model", WARN, f"{name} is not downloaded yet: the first run downloads it once",
                 "nothing to do (or pre-fetch: huggingface-cli download " + name + ")")


def _writable(name: str, folder: Path, shown: Path, fix: str) -> Check:
    reason = probe_writable(folder)
    if reason:
        return Check(name, FAIL, f"not writable: {folder}: {reason}", fix)
    return Check(name, OK, f"writable: {shown}")


def check_output(ctx: Context) -> Check:
    return _writable("output folder", ctx.out_dir, ctx.out_dir,
                     "set [output] project_dir to a folder you own, or pass --out DIR")


def check_journal(ctx: Context) -> Check:
    if ctx.config is None:
        return Check("journal", WARN, "not checked: the config is invalid")
    journal = ctx.config.journal_path
    return _writable("journal", journal.parent, journal,
                     "set [queue] journal to a file in a folder you own")


def check_osc_port(ctx: Context) -> Check:
    if ctx.config is None or not ctx.config.osc.enabled:
        return Check("OSC port", OK, "OSC is off")
    host, port = ctx.config.osc.host, ctx.config.osc.port
    if port == 0:
        return Check("OSC port", OK, f"{host}: any free port")
    err = bind_error(host, port)
    if err is not None:
        if err.errno == errno.EADDRINUSE:
            who = _daemon_running(ctx.out_dir)
            return Check("OSC port", WARN if who else FAIL,
                         f"UDP {host}:{port} is in use" + (f" by {who}" if who else ""),
                         "stop the other program, or set [osc] port (and the DAW's) to "
                         "another port")
        return Check("OSC port", FAIL, f"cannot listen on {host}:{port}: {err.strerror}",
                     "set [osc] host to 127.0.0.1 or an address of this machine")
    return Check("OSC port", OK, f"UDP {host}:{port} is free")


def _daemon_running(out_dir: Path) -> str:
    from bridge.output.status import read_status

    status = read_status(out_dir)
    if status and status.get("alive") and time.time() - status.get("heartbeat", 0) < 15:
        return f"a running musicgen-bridge daemon (pid {status.get('pid')})"
    return ""


def check_midi(ctx: Context) -> Check:
    if ctx.config is None or not ctx.config.midi.enabled:
        return Check("MIDI", OK, "MIDI is off")
    from bridge.midi.ports import NO_MIDI_SYSTEM, describe, load_backend, match_port

    try:
        backend = load_backend(ctx.config.midi.backend)
        inputs = backend.get_input_names()
    except Exception as err:  # rtmidi raises its own types when there is no MIDI system
        return Check("MIDI", WARN, f"no MIDI ports ({str(err).strip()[:80]})", NO_MIDI_SYSTEM)
    missing = [p for p in ctx.config.midi.inputs if match_port(p, inputs) is None]
    if missing:
        return Check("MIDI", WARN, f"{describe(backend)}: [midi] inputs {missing} not found "
                                   f"among {inputs or 'no ports'}",
                     "plug the controller in, or fix [midi] inputs (musicgen-bridge midi ports)")
    return Check("MIDI", OK, f"{describe(backend)}: {len(inputs)} input(s)"
                             + (f": {', '.join(inputs[:4])}" if inputs else ""))


def check_reaper(ctx: Context) -> Check:
    from bridge.install import reaper

    resource = ctx.reaper_resource or reaper.default_resource_path()
    if not resource.is_dir():
        return Check("REAPER scripts", OK, f"REAPER not found at {resource} (not needed)")
    ok, detail = reaper.installed_status(resource)
    return Check("REAPER scripts", OK if ok else WARN, detail,
                 "" if ok else "musicgen-bridge reaper install")


def check_worker(ctx: Context) -> Check:
    """With [model] backend = "remote", the worker answers and takes our token."""
    if ctx.config is None or ctx.config.model.backend != "remote":
        return Check("worker", OK, "not used ([model] backend = \"local\")")
    from bridge.engine.base import EngineError
    from bridge.engine.loader import TOKEN_ENV
    from bridge.engine.remote import RemoteEngine

    model = ctx.config.model
    try:
        engine = RemoteEngine(model.worker_url, model.worker_token or os.environ.get(TOKEN_ENV, ""),
                              retry_delays_s=())
    except EngineError as err:
        return Check("worker", FAIL, str(err)[:300],
                     "start `musicgen-bridge worker` on the GPU machine (docs/cluster.md), or "
                     "check [model] worker_url and worker_token")
    return Check("worker", OK, f"{model.worker_url}: {engine.model_id}")


CHECKS: tuple[Callable[[Context], Check | list[Check]], ...] = (
    check_python, check_config, check_torch, check_model, check_worker, check_output,
    check_journal, check_osc_port, check_midi, check_reaper,
)


def run_checks(ctx: Context,
               checks: Sequence[Callable[[Context], Check | list[Check]]] = CHECKS) -> list[Check]:
    results: list[Check] = []
    for check in checks:
        try:
            found = check(ctx)
        except Exception as err:  # a doctor that crashes tells nobody anything
            found = Check(check.__name__.removeprefix("check_"), FAIL,
                          f"check crashed: {type(err).__name__}: {err}")
        results.extend(found if isinstance(found, list) else [found])
    return results


def render(results: Sequence[Check]) -> str:
    width = max(len(r.name) for r in results)
    lines = []
    for r in results:
        lines.append(f"{r.status:<4}  {r.name:<{width}}  {r.detail}")
        if r.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {r.fix}")
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == WARN for r in results)
    lines.append("")
    lines.append(f"{failed} failed, {warned} warning(s)" if failed or warned
                 else "all checks passed")
    return "\n".join(lines)


def exit_status(results: Sequence[Check]) -> int:
    return 1 if any(r.status == FAIL for r in results) else 0

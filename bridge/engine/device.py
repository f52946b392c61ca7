"""Where the model runs: ``auto`` prefers CUDA, then Apple's MPS, then the CPU.

An explicitly requested device that is not there is an error, never a silent fall back to
the CPU: a user who asked for the GPU would otherwise wait minutes per clip without knowing why.
"""

from __future__ import annotations

import logging

import torch

from bridge.engine.base import EngineError
from bridge.engine.device_names import AUTO, DEVICE_HELP, check_device_name

log = logging.getLogger(__name__)

__all__ = ["AUTO", "DEVICE_HELP", "check_device_name", "pick_device", "pick_dtype"]


def pick_device(requested: str = AUTO) -> torch.device:
    """The torch device for ``requested``; EngineError naming the fix when it is unavailable."""
    name = check_device_name(requested)
    if name == AUTO:
        if torch.cuda.is_available():
            device = torch.device("cuda")
        elif _mps_available():
            device = torch.device("mps")
        else:
            device = torch.device("cpu")
        log.info("device auto: using %s", device)
        return device
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = ("this torch build has no CUDA support (install a CUDA build of torch)"
                     if torch.version.cuda is None else "no NVIDIA GPU or driver was found")
            raise EngineError(f"device {name!r} is not available: {build}; "
                              "use --device auto or --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise EngineError(f"device {name!r} is not available: this machine has {count} "
                              f"CUDA device(s), cuda:0..cuda:{count - 1}")
    elif device.type == "mps" and not _mps_available():
        raise EngineError(f"device {name!r} is not available: MPS needs Apple silicon, "
                          "macOS 12.3+ and a torch build with MPS; use --device auto or "
                          "--device cpu")
    return device


def pick_dtype(device: torch.device) -> torch.dtype:
    """float16 on CUDA halves memory and time; elsewhere float32 (CPUs and MPS gain little
    from half precision for this model and some kernels are missing or slower there)."""
    return torch.float16 if device.type == "cuda" else torch.float32


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())

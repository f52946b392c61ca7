"""Pick and load the engine [model] names (the model is loaded once and kept warm).

``backend = "remote"`` generates on a ``musicgen-bridge worker`` elsewhere (RemoteEngine).
``engine = "auto"`` takes the fast decode loop where it has been proven identical and faster
(the CPU, mono non-melody checkpoints), and the transformers reference everywhere else: the
fast engine's CUDA-graph path has not yet been measured on a GPU (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import os

from bridge.engine.base import Engine
from bridge.engine.settings import ModelSettings

log = logging.getLogger(__name__)

# Where the worker's token may come from instead of the config file.
TOKEN_ENV = "MUSICGEN_BRIDGE_WORKER_TOKEN"



def load_engine(model: ModelSettings) -> Engine:
    if model.backend == "remote":
        from bridge.engine.remote import RemoteEngine

        return RemoteEngine(model.worker_url, model.worker_token or os.environ.get(TOKEN_ENV, ""))
    from bridge.engine.hub import check_reachable

    check_reachable(model.name)  # offline: one message in a second, not after imports
    from bridge.engine.transformers_engine import load_engine as load_transformers

    choice = model.engine
    if choice == "fast":
        from bridge.engine.fast import load_fast_engine

        return load_fast_engine(model.name, model.device, cpu_int8=model.cpu_int8)
    reference = load_transformers(model.name, model.device)
    if choice == "transformers" or not fast_engine_proven_for(reference):
        return reference
    from bridge.engine.fast import load_fast_engine

    # Shares the reference engine's weights: no second copy in memory.
    return load_fast_engine(reference, cpu_int8=model.cpu_int8)


def fast_engine_proven_for(reference: Engine) -> bool:
    device = getattr(reference, "device", None)
    model = getattr(reference, "model", None)
    if device is None or model is None or device.type != "cpu":
        return False
    if getattr(reference, "is_melody", False):
        return False
    return int(model.config.decoder.audio_channels) == 1

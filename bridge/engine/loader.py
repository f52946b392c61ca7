"""Pick and load the engine the config names (the model is loaded once and kept warm).

``engine = "auto"`` takes the fast decode loop where it has been proven identical and faster
(the CPU, mono non-melody checkpoints), and the transformers reference everywhere else: the
fast engine's CUDA-graph path has not yet been measured on a GPU (docs/benchmarks.md).
"""

from __future__ import annotations

import logging

from bridge.config import Config
from bridge.engine.base import Engine

log = logging.getLogger(__name__)


def load_engine(config: Config) -> Engine:
    from bridge.engine.hub import check_reachable

    check_reachable(config.model.name)  # offline: one message in a second, not after imports
    from bridge.engine.transformers_engine import load_engine as load_transformers

    choice = config.model.engine
    if choice == "fast":
        from bridge.engine.fast import load_fast_engine

        return load_fast_engine(config.model.name, config.model.device,
                                cpu_int8=config.model.cpu_int8)
    reference = load_transformers(config.model.name, config.model.device)
    if choice == "transformers" or not fast_engine_proven_for(reference):
        return reference
    from bridge.engine.fast import load_fast_engine

    # Shares the reference engine's weights: no second copy in memory.
    return load_fast_engine(reference, cpu_int8=config.model.cpu_int8)


def fast_engine_proven_for(reference: Engine) -> bool:
    device = getattr(reference, "device", None)
    model = getattr(reference, "model", None)
    if device is None or model is None or device.type != "cpu":
        return False
    if getattr(reference, "is_melody", False):
        return False
    return model.config.decoder.audio_channels == 1

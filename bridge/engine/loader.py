"""Pick and load the engine the config names (the model is loaded once and kept warm)."""

from __future__ import annotations

from bridge.config import Config
from bridge.engine.base import Engine


def load_engine(config: Config) -> Engine:
    if config.model.engine == "fast":
        from bridge.engine.fast import load_fast_engine

        return load_fast_engine(config.model.name, config.model.device,
                                cpu_int8=config.model.cpu_int8)
    from bridge.engine.transformers_engine import load_engine as load_transformers

    return load_transformers(config.model.name, config.model.device)

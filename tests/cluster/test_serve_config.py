"""The documented Serve config file and `serve run module:app key=value` arguments build
the worker application (no cluster is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from bridge.worker.app import WorkerSettings, build_app

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_serve_config_builds_the_worker() -> None:
    config = ServeDeploySchema.model_validate(
        yaml.safe_load((ROOT / "docs" / "cluster-serve.yaml").read_text()))
    (app,) = config.applications
    assert app.import_path == "bridge.worker.app:build_app"
    settings = WorkerSettings.from_args(app.args)
    assert (settings.gpus_per_replica, settings.engine, settings.max_batch_size) == (1, "fast", 4)
    assert build_app(app.args) is not None
    assert config.http_options.host == "127.0.0.1"


def test_serve_run_arguments_arrive_as_strings_and_are_typed() -> None:
    settings = WorkerSettings.from_args({"model": "tiny", "replicas": "2", "batch_wait_s": "0.1",
                                         "cpu_int8": "true"})
    assert (settings.replicas, settings.batch_wait_s, settings.cpu_int8) == (2, 0.1, True)
    with pytest.raises(ValueError, match="unknown worker argument.*replica\\b"):
        WorkerSettings.from_args({"model": "tiny", "replica": "2"})
    with pytest.raises(ValueError, match="needs model="):
        WorkerSettings.from_args({})

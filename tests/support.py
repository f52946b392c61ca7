"""Helpers shared by tests: a real Daemon on the tiny offline model, in a temp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge import config as config_mod
from bridge.daemon import Daemon
from bridge.engine.base import GeneratedAudio
from bridge.jobs.pipeline import Pipeline


def make_config(tmp_path: Path, overrides: dict[str, dict[str, Any]] | None = None
                ) -> config_mod.Config:
    """Defaults with the output and journal inside tmp_path, plus {section: {key: value}}."""
    flat: dict[tuple[str, str], Any] = {
        ("output", "project_dir"): str(tmp_path / "project"),
        ("queue", "journal"): str(tmp_path / "journal.jsonl"),
        # Tests write their audio prompts anywhere under tmp_path.
        ("generation", "audio_folders"): [str(tmp_path)],
        ("osc", "port"): 0,
        ("osc", "feedback"): [],
        ("midi", "enabled"): False,
        ("inbox", "enabled"): False,
        ("fit", "tempo_lock"): False,
        ("log", "level"): "DEBUG",
    }
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            flat[(section, key)] = value
    return config_mod.defaults().with_overrides(flat)


def make_pipeline(config: config_mod.Config, engine: Any, out_dir: Path) -> Pipeline:
    """A Pipeline handed the config's sections, as the daemon builds it."""
    return Pipeline(engine, out_dir, output=config.output, fit=config.fit,
                    template=config.prompt.template)


def make_daemon(tmp_path: Path, engine: Any,
                overrides: dict[str, dict[str, Any]] | None = None) -> Daemon:
    """A Daemon (not started) writing clips into tmp_path/project/MusicGen."""
    return Daemon(make_config(tmp_path, overrides), engine)


class OneWindowEngine:
    """A stand-in for an engine that cannot continue from codes (no decode_codes): only its
    attributes are read, so windowing decisions can be tested without a second real engine."""

    name = "fast"
    model_id = "tiny"
    sample_rate = 32_000
    frame_rate = 50.0
    max_seconds = 30.0
    capabilities = frozenset({"continuation"})

    def generate(self, spec, progress, cancel) -> GeneratedAudio:
        raise AssertionError("not called")

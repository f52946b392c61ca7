"""The daemon's input services, in one list: each module's ``create`` decides from its config
section whether it runs (returning None when disabled)."""

from __future__ import annotations

from bridge.config import default_config_path, load
from bridge.daemon import Daemon, Service
from bridge.inbox import folder as inbox
from bridge.midi import service as midi_service
from bridge.midi.learn import ConfigFile
from bridge.osc import abletonosc
from bridge.osc import server as osc_server


def create_services(daemon: Daemon) -> list[Service]:
    config = daemon.config
    learned_into = ConfigFile(config.path or default_config_path(), load)
    services: list[Service | None] = [
        osc_server.create(daemon, config.osc),
        abletonosc.create(daemon, config.osc),
        midi_service.create(daemon, config.midi, learned_into),
        inbox.create(daemon, config.inbox),
    ]
    return [s for s in services if s is not None]

"""The daemon's input services, in one list: each module's ``create`` decides from its config
section whether it runs (returning None when disabled)."""

from __future__ import annotations

from bridge import __version__
from bridge.config import default_config_path, load
from bridge.daemon import Daemon, Service
from bridge.inbox import folder as inbox
from bridge.midi import service as midi_service
from bridge.midi.learn import ConfigFile
from bridge.osc import abletonosc
from bridge.osc import server as osc_server
from bridge.output.status import StatusFile


def create_services(daemon: Daemon) -> list[Service]:
    config = daemon.config
    learned_into = ConfigFile(config.path or default_config_path(), load)
    services: list[Service | None] = [
        _status_file(daemon),  # first in, last out: it says "stopped" once all else has
        osc_server.create(daemon, config.osc),
        abletonosc.create(daemon, config.osc),
        midi_service.create(daemon, config.midi, learned_into),
        inbox.create(daemon, config.inbox),
    ]
    return [s for s in services if s is not None]


def _status_file(daemon: Daemon) -> StatusFile:
    """status.json in the output folder, for DAW scripts without sockets (REAPER)."""
    status = StatusFile(daemon.out_dir, version=__version__, model=daemon.engine.model_id)
    daemon.bus.subscribe(status.on_event)
    return status

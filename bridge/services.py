"""The daemon's input services, in one list: each module's ``create(daemon)`` decides from the
config whether it runs (returning None when disabled)."""

from __future__ import annotations

from bridge.control import abletonosc, inbox
from bridge.control.midi import service as midi_service
from bridge.control.osc import server as osc_server


def create_services(daemon: object) -> list[object]:
    factories = (osc_server.create, abletonosc.create, midi_service.create, inbox.create)
    return [s for s in (factory(daemon) for factory in factories) if s is not None]

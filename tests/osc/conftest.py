"""OSC test helpers: real UDP peers, and a real Daemon on the tiny model with OSC serving.

Every test talks to the daemon over loopback UDP as a DAW would; nothing here fakes the
network, the dispatcher or the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.daemon import Daemon
from bridge.osc.server import OscService, create
from tests.osc.osc_helpers import Peer
from tests.support import make_daemon


@dataclass
class Bridge:
    daemon: Daemon
    service: OscService
    client: Peer  # sends requests
    target: Peer  # the configured feedback target

    @property
    def port(self) -> int:
        return self.service.port

    def peer(self) -> Peer:
        """Another sender (closed after the test)."""
        peer = Peer()
        peer.to = self.port
        self._extra.append(peer)
        return peer

    _extra: list[Peer]
    first_status: str = ""  # what the daemon announced when it came up


@pytest.fixture
def make_bridge(no_thread_leaks: None, tmp_path: Path, tiny_engine: Any
                ) -> Iterator[Callable[..., Bridge]]:
    """``make_bridge(engine=None, overrides=None, start_queue=True, feedback=())``: a
    serving daemon whose feedback goes to ``bridge.target`` and the extra ``feedback`` targets.

    start_queue=False starts only the OSC service: jobs are accepted and stay queued.
    """
    made: list[tuple[Bridge, bool]] = []

    def make(engine: Any = None, overrides: dict[str, dict[str, Any]] | None = None,
             start_queue: bool = True, feedback: tuple[str, ...] = ()) -> Bridge:
        target = Peer()
        config = {"osc": {"feedback": [f"127.0.0.1:{target.port}", *feedback]}}
        for section, values in (overrides or {}).items():
            config.setdefault(section, {}).update(values)
        daemon = make_daemon(tmp_path / f"d{len(made)}", engine or tiny_engine, config)
        service = create(daemon, daemon.config.osc)
        assert service is not None
        try:
            if start_queue:
                daemon.add_service(service)
                daemon.start()
            else:
                service.start()
        except Exception:
            daemon.stop()
            target.close()
            raise
        client = Peer()
        client.to = target.to = service.port
        bridge = Bridge(daemon, service, client, target, [])
        made.append((bridge, start_queue))
        (bridge.first_status,) = target.expect("/musicgen/status")  # the daemon is up
        return bridge

    yield make
    for bridge, started in made:
        if started:
            bridge.daemon.stop()
        else:
            bridge.service.stop()
            bridge.daemon.queue.stop()
        for peer in (bridge.client, bridge.target, *bridge._extra):
            peer.close()


@pytest.fixture
def bridge(make_bridge: Callable[..., Bridge]) -> Bridge:
    return make_bridge()

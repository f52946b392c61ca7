"""Peer host names become addresses the OSC sockets can send to."""

from __future__ import annotations

import pytest

from bridge.osc.hosts import host_address


@pytest.mark.parametrize(("host", "address"), [
    ("127.0.0.1", "127.0.0.1"),
    ("localhost", "127.0.0.1"),  # a name: its IPv4 address, for the IPv4 sockets
    ("::1", "::1"),
    ("0:0:0:0:0:0:0:1", "::1"),  # a literal is normalised
])
def test_host_address(host, address):
    assert host_address(host) == address

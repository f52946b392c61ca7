"""Host names of OSC peers (Live, feedback targets) as addresses a UDP socket can send to."""

from __future__ import annotations

import ipaddress
import socket


def host_address(host: str) -> str:
    """An IP literal as it is (normalised), else the name's first IPv4 address: the daemon's
    OSC sockets are IPv4 unless given an IPv6 literal. Raises OSError if the name does not
    resolve."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)
    return str(infos[0][4][0])

"""The [osc] config section: where the daemon listens, whom it obeys, where feedback goes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridge.schema import Check, Flag, Section, Text, TextList, int_range


def check_host_port(value: object) -> str:
    if not isinstance(value, str) or value.count(":") != 1:
        raise ValueError('expected "HOST:PORT", e.g. "127.0.0.1:9001"')
    host, port = value.rsplit(":", 1)
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError('expected "HOST:PORT" with a port 1..65535')
    return value


def _host_ports(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError('expected a list like ["127.0.0.1:9001"]')
    return [check_host_port(v) for v in value]


HostPorts = Annotated[list[str], Check(_host_ports, {
    "type": "array", "items": {"type": "string", "pattern": r"^[^:]+:\d{1,5}$"}})]


class OscSettings(Section):
    enabled: Flag = Field(True, description="listen for OSC")
    host: Text = Field("127.0.0.1", description=(
        "listen address; anything but loopback obeys only the allow list"))
    port: Annotated[int, int_range(0, 65535)] = Field(9000, description=(
        "listen port (UDP); 0: any free port"))
    allow: TextList = Field(default_factory=list, description=(
        'senders obeyed when not on loopback: addresses, networks ("192.168.1.0/24") '
        "or host names"))
    feedback: HostPorts = Field(default_factory=lambda: ["127.0.0.1:9001"],
                                description="where feedback is sent")
    abletonosc: Flag = Field(False, description=(
        "follow Live's tempo and meter through AbletonOSC (ports 11000/11001)"))
    abletonosc_host: Text = Field("127.0.0.1", description="the machine Live runs on")
    abletonosc_port: Annotated[int, int_range(1, 65535)] = Field(11000, description=(
        "AbletonOSC's listen port"))
    abletonosc_reply_port: Annotated[int, int_range(0, 65535)] = Field(11001, description=(
        "the port AbletonOSC replies to (it always uses 11001); 0: any free port"))

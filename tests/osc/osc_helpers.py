"""Helpers for the OSC tests: a UDP peer, typed message encoding, a gated engine."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

WAIT_S = 10.0  # generous for two shared cores; every wait returns as soon as it can


def encode(address: str, types: str = "", *args: Any) -> bytes:
    """An OSC message with exactly these type tags (python-osc would guess them)."""
    builder = OscMessageBuilder(address)
    for type_, value in zip(types, args, strict=True):
        builder.add_arg(value, type_)
    return builder.build().dgram


class Peer:
    """A UDP OSC peer on loopback: sends to the daemon, receives what comes back."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.port: int = self.sock.getsockname()[1]
        self.to: int = 0  # the daemon's port, set by the fixture

    def raw(self, data: bytes, port: int | None = None) -> None:
        self.sock.sendto(data, ("127.0.0.1", port or self.to))

    def send(self, address: str, types: str = "", *args: Any) -> None:
        self.raw(encode(address, types, *args))

    def recv(self, timeout: float = WAIT_S) -> tuple[str, list[Any]] | None:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        message = OscMessage(data)
        return message.address, message.params

    def expect(self, address: str, timeout: float = WAIT_S) -> list[Any]:
        """Arguments of the next ``address`` message; fails if none comes in time."""
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            message = self.recv(left)
            if message is None:
                break
            if message[0] == address:
                return message[1]
            seen.append(message)
        raise AssertionError(f"no {address} within {timeout} s; got {seen}")

    def until(self, address: str, timeout: float = WAIT_S) -> list[tuple[str, list[Any]]]:
        """Every message up to and including the next ``address`` one."""
        deadline = time.monotonic() + timeout
        seen: list[tuple[str, list[Any]]] = []
        while (left := deadline - time.monotonic()) > 0:
            message = self.recv(left)
            if message is None:
                break
            seen.append(message)
            if message[0] == address:
                return seen
        raise AssertionError(f"no {address} within {timeout} s; got {seen}")

    def ping(self) -> list[tuple[str, list[Any]]]:
        """Ping and return what arrived before the pong (replies are in order)."""
        self.send("/musicgen/ping")
        return self.until("/musicgen/pong")[:-1]

    def quiet(self, seconds: float = 0.2) -> list[tuple[str, list[Any]]]:
        """Whatever arrives within ``seconds``."""
        out = []
        while (message := self.recv(seconds)) is not None:
            out.append(message)
        return out

    def close(self) -> None:
        self.sock.close()


class GatedEngine:
    """The real tiny engine behind a gate: generate waits for ``release`` (or cancel).

    Only the timing is controlled (so a test can change knobs while a job is running); the
    generation itself is the real engine's. Records every spec it was asked for.
    """

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.specs: list[Any] = []
        self.entered = threading.Semaphore(0)
        self._gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def release(self) -> None:
        self._gate.set()

    def generate(self, spec: Any, progress: Any, cancel: threading.Event) -> Any:
        from bridge.engine.base import Cancelled

        self.specs.append(spec)
        self.entered.release()
        while not self._gate.wait(0.01):
            if cancel.is_set():
                raise Cancelled()
        return self._engine.generate(spec, progress, cancel)

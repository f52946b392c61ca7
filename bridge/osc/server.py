"""The OSC input service: a UDP server on [osc] host/port, the dispatcher, and the feedback.

Messages are handled one at a time in arrival order, so a burst of knob moves from one
controller ends on its last value and each echo matches the message that caused it
(ThreadingOSCUDPServer would start a thread per datagram and apply a burst in any order). Two
threads, talking through a queue: python-osc's BlockingOSCUDPServer only reads datagrams into
a queue, so the kernel's socket buffer (a few hundred datagrams on a default Linux) never
overflows while a handler runs; one dispatch thread takes them out in order. One dispatcher is
enough because handlers only validate, set state (under the state's own lock) or queue a job;
generation runs on the job worker.

Listening on loopback obeys every sender (only this machine can reach it). Listening on any
other address obeys senders on this machine and those the [osc] allow list names (addresses or
networks such as 192.168.1.0/24); other datagrams are logged and dropped, never answered.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import socket
import threading
from typing import TYPE_CHECKING

from pythonosc.osc_server import BlockingOSCUDPServer

from bridge.osc.dispatch import Dispatcher
from bridge.osc.feedback import ClientRegistry, OscFeedback
from bridge.osc.handlers import conditioning, jobs, knobs, learn, reaper, settings, styles
from bridge.osc.settings import OscSettings
from bridge.stopping import put_sentinel

if TYPE_CHECKING:
    from bridge.session.control import Control

log = logging.getLogger(__name__)

# Wake-up interval of the receive loop: how long stop() may wait for it.
POLL_INTERVAL_S = 0.1
# Datagrams read but not yet dispatched; past either limit a flood is dropped (and logged).
MAX_WAITING_DATAGRAMS = 100_000
MAX_WAITING_BYTES = 32 * 1024 * 1024
# Asked of the kernel for the socket's receive buffer (it may grant less) to ride out moments
# when the reading thread waits for the interpreter.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_STOP = None


class _DatagramQueue:
    """What python-osc's server calls per datagram: queue it for the dispatch thread."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[bytes, tuple[str, int]] | None] = queue.Queue(MAX_WAITING_DATAGRAMS)
        self.dropped = 0
        self._lock = threading.Lock()
        self._bytes = 0

    def call_handlers_for_packet(self, data: bytes, client_address: tuple) -> list:
        # The receive thread is the only producer (stop's sentinel comes after it has left),
        # so a queue found not full here takes the put.
        with self._lock:
            fits = self._bytes + len(data) <= MAX_WAITING_BYTES and not self.queue.full()
            if fits:
                self._bytes += len(data)
                self.queue.put_nowait((data, (str(client_address[0]), int(client_address[1]))))
        if not fits:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("OSC receive queue full (%d datagrams or %d MiB waiting): dropped %d so "
                            "far", MAX_WAITING_DATAGRAMS, MAX_WAITING_BYTES >> 20, self.dropped)
        return []  # replies leave through the feedback thread, not this socket

    def taken(self, data: bytes) -> None:
        with self._lock:
            self._bytes -= len(data)


class _UdpServer(BlockingOSCUDPServer):
    # socketserver reads 8 KiB by default: a longer datagram would arrive cut and fail to parse
    # for the wrong reason. Read whole datagrams so a too-long string is named as such.
    max_packet_size = 65535

    def __init__(self, address: tuple[str, int], datagrams: _DatagramQueue, gate: SenderGate) -> None:
        self.gate = gate
        # python-osc annotates a Dispatcher but only calls call_handlers_for_packet, which
        # the queue has: the datagrams go to the dispatch thread, not python-osc's handlers.
        super().__init__(address, datagrams)  # type: ignore[arg-type]

    def server_bind(self) -> None:
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        except OSError as err:
            log.debug("OSC socket receive buffer left at the default: %s", err)
        super().server_bind()

    def verify_request(self, request: object, client_address: tuple[str, int] | str) -> bool:
        # python-osc drops what does not look like OSC here, silently; pass everything on so
        # a malformed packet gets an error reply. Only the allow list drops, and logs.
        return self.gate.obeys(client_address[0])


class SenderGate:
    """Which senders are obeyed (see the module docstring)."""

    def __init__(self, listen_host: str, allow: list[str]) -> None:
        self.open = _is_loopback(listen_host)
        self._networks: list[IpNetwork] = []
        for entry in allow:
            self._networks.extend(_allow_entry(entry))
        self._refused: set[str] = set()

    def obeys(self, host: str) -> bool:
        if self.open:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # an IPv4 sender on a dual-stack "::" socket
        if ip.is_loopback or any(ip in net for net in self._networks if ip.version == net.version):
            return True
        if host not in self._refused and len(self._refused) < 1024:
            self._refused.add(host)
            log.warning("OSC from %s dropped: not on the [osc] allow list (logged once per "
                        "sender)", host)
        else:
            log.debug("OSC from %s dropped: not on the allow list", host)
        return False


class OscService:
    """``start()`` binds and serves; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, daemon: Control, host: str, port: int, allow: list[str],
                 feedback: OscFeedback) -> None:
        self.daemon = daemon
        self.host = host
        self.requested_port = port
        self.feedback = feedback
        self.dispatcher = Dispatcher(feedback)
        settings.register(self.dispatcher, daemon)
        knobs.register(self.dispatcher, daemon.state)
        jobs.register(self.dispatcher, daemon, feedback)
        conditioning.register(self.dispatcher, daemon, feedback)
        learn.register(self.dispatcher, daemon)
        reaper.register(self.dispatcher, daemon)
        styles.register(self.dispatcher, daemon, feedback)
        self.gate = SenderGate(host, allow)
        self._datagrams = _DatagramQueue()
        self._server: _UdpServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the OSC server is not started")
        return int(self._server.server_address[1])

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the OSC server is already started")
        if not self.gate.open:
            log.warning("OSC listens on %s, reachable from other machines: obeying only this "
                        "machine and the [osc] allow list", self.host)
        self.feedback.start(self.daemon.jobs())
        try:
            self._server = _UdpServer((self.host, self.requested_port), self._datagrams, self.gate)
        except OSError as err:
            self.feedback.stop()
            raise OSError(err.errno, f"cannot listen for OSC on {self.host}:"
                                     f"{self.requested_port}: {err.strerror or err}; is another "
                                     "musicgen-bridge running? Choose another port with "
                                     "--osc-port or [osc] port") from err
        self._threads = [
            threading.Thread(target=self._dispatch, name="bridge-osc-dispatch", daemon=True),
            threading.Thread(target=self._server.serve_forever, args=(POLL_INTERVAL_S,),
                             name="bridge-osc-receive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("OSC listening on %s:%d (UDP)", self.host, self.port)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()  # returns once the receive loop has left
            server.server_close()
            # After what was received (it is still handled); never a blocking put: a full
            # inbox with a stuck reader must not hang shutdown.
            put_sentinel(self._datagrams.queue, _STOP)
        for thread in self._threads:
            thread.join(5.0)
            if thread.is_alive():
                log.warning("%s did not stop within 5 s", thread.name)
        self._threads = []
        self.feedback.stop()

    def _dispatch(self) -> None:
        while (item := self._datagrams.queue.get()) is not _STOP:
            data, sender = item
            self._datagrams.taken(data)
            try:
                self.dispatcher.handle_datagram(data, sender)
            except Exception:  # the dispatcher catches per message; this is a last resort
                log.exception("OSC dispatch failed on a datagram from %s; going on", sender)


def create(daemon: Control, osc: OscSettings) -> OscService | None:
    """The OSC service for ``daemon`` from the ``[osc]`` section; None when OSC is disabled."""
    if not osc.enabled:
        return None
    feedback = OscFeedback(daemon.bus, osc.feedback, clients=ClientRegistry())
    return OscService(daemon, osc.host, osc.port, list(osc.allow), feedback)


def _is_loopback(host: str) -> bool:
    if host in ("", "0.0.0.0", "::"):
        return False
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        return False
    return all(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback
               for info in infos)


def _allow_entry(entry: str) -> list[IpNetwork]:
    """An address, a network ("192.168.1.0/24") or a host name (resolved now)."""
    try:
        return [ipaddress.ip_network(entry, strict=False)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(entry, None, type=socket.SOCK_DGRAM)
    except OSError as err:
        log.error("[osc] allow entry %r: cannot resolve (%s); ignored", entry, err)
        return []
    return [ipaddress.ip_network(str(info[4][0]).split("%", 1)[0]) for info in infos]

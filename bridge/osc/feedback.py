"""OSC feedback: what the daemon tells DAWs and controllers, sent from one thread.

The bus delivers events on whichever thread published them (an OSC handler, the job worker,
MIDI); this module only turns them into queue items there and sends from its own thread, so
a slow or unreachable peer never stalls an input, and every peer sees messages in the order
the daemon produced them.

Who gets what (docs/osc.md says the same for users):

- a reply to a request (the echo of a value it set, /musicgen/pong, the /musicgen/state dump,
  an error about it) goes to the request's sender, and to the reply port the sender registered
  with /musicgen/client;
- every state change is echoed, with the value actually applied, to the configured targets and
  every registered client, whoever changed it (OSC, MIDI, Live, REAPER);
- a job's /musicgen/queued, /musicgen/progress, /musicgen/clip and errors go to the targets
  and to the job's client (``request.client_id``): the registered client, or the sender that
  asked for it; /musicgen/status goes to the targets and every registered client.

The sender of a request is known because handlers run inside ``from_sender(peer)``: state
changes are published synchronously on the handler's thread, so the subscriber reads it there.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

from bridge import events as job_events
from bridge.events import (
    STYLE_DONE,
    STYLE_FAILED,
    STYLE_PROGRESS,
    ErrorReport,
    EventBus,
    JobEvent,
    JobInfo,
    JobState,
    Learned,
    StyleEvent,
)
from bridge.musical_time import Meter
from bridge.osc.addresses import BY_ADDRESS, FIELD_ADDRESSES, PREFIX, SETTING_FIELDS
from bridge.osc.hosts import host_address
from bridge.request import MAX_CLIENT_ID_CHARS, GenerationRequest
from bridge.session.state import StateChanged
from bridge.stopping import put_sentinel

log = logging.getLogger(__name__)

Peer = tuple[str, int]

# Sends are never allowed to block a publisher: past this many waiting messages new ones are
# dropped (and logged); a flood that big means no peer is keeping up anyway.
MAX_WAITING = 65536
# /musicgen/progress goes out once per band this wide: OSC peers (a Max dial, a REAPER
# status line) need far fewer updates than the bus's PROGRESS events carry (events.PROGRESS_STEP).
OSC_PROGRESS_STEP = 0.05
# UDP datagrams over ~1400 bytes fragment and some OSC peers cap their buffers; error texts
# that long are cut (the daemon log has the whole message).
MAX_ABOUT_CHARS = 200
MAX_REASON_CHARS = 500
MAX_CLIENTS = 64
MAX_IMPLICIT_CLIENTS = 256

IDLE = "idle"
QUEUED = "queued"
GENERATING = "generating"
WRITING = "writing"
ERROR = "error"

QUEUED_ADDRESS = f"{PREFIX}/queued"
STATUS_ADDRESS = f"{PREFIX}/status"
PROGRESS_ADDRESS = f"{PREFIX}/progress"
RETRY_ADDRESS = f"{PREFIX}/retry"
CLIP_ADDRESS = f"{PREFIX}/clip"
ERROR_ADDRESS = f"{PREFIX}/error"
LEARNED_ADDRESS = f"{PREFIX}/learned"
STYLE_PROGRESS_ADDRESS = f"{PREFIX}/style_progress"
STYLE_DONE_ADDRESS = f"{PREFIX}/style_done"

_origin: contextvars.ContextVar[Peer | None] = contextvars.ContextVar("osc_origin", default=None)


@contextlib.contextmanager
def from_sender(peer: Peer | None) -> Iterator[None]:
    """Mark what runs inside as handling a request from ``peer`` (None: not a /musicgen one)."""
    token = _origin.set(peer)
    try:
        yield
    finally:
        _origin.reset(token)


@dataclass(frozen=True)
class OscOut:
    """One outgoing message, typed by the address table."""

    address: str
    types: str
    args: tuple[Any, ...]

    @classmethod
    def of(cls, address: str, *args: Any) -> OscOut:
        types = BY_ADDRESS[address].typetags
        if len(types) != len(args):
            raise ValueError(f"{address} takes {len(types)} arguments ({types}), got {args!r}")
        return cls(address, types, tuple(args))

    def encode(self) -> bytes:
        builder = OscMessageBuilder(self.address)
        for type_, value in zip(self.types, self.args, strict=True):
            builder.add_arg(value, type_)
        return builder.build().dgram


def echo_message(field: str, value: Any) -> OscOut | None:
    """The echo of a state field as its OSC address carries it; None for fields OSC lacks."""
    address = FIELD_ADDRESSES.get(field)
    if address is None:
        return None
    if isinstance(value, Meter):
        return OscOut.of(address, value.numerator, value.denominator)
    types = BY_ADDRESS[address].typetags
    if value is None:  # seed random, no position, tempo_lock "the daemon's setting"
        value = -1
    if types == "i":
        return OscOut.of(address, int(value))
    if types == "f":
        return OscOut.of(address, float(value))
    return OscOut.of(address, str(value))


def state_messages(request: GenerationRequest) -> list[OscOut]:
    """Every setting of ``request`` on its own address, in the address table's order."""
    out = []
    for field in SETTING_FIELDS.values():
        message = echo_message(field, getattr(request, field))
        if message is not None:
            out.append(message)
    return out


def _peer_label(peer: Peer) -> str:
    host, port = peer
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Client:
    client_id: str
    sender: Peer
    reply: Peer  # the sender's host, on the port it asked replies to go to
    registered: bool  # False: made up for a sender that never sent /musicgen/client


class ClientRegistry:
    """Who asked: /musicgen/client registrations, and made-up ids for everyone else.

    Every job carries a client id, so its feedback can find its way back however late it
    comes: a registered client's own id, or ``osc:HOST:PORT`` for a sender that did not
    register (its replies go to the port it sent from). Both tables are bounded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: OrderedDict[str, Client] = OrderedDict()
        self._by_sender: dict[Peer, str] = {}

    def register(self, client_id: str, sender: Peer, reply_port: int) -> Client:
        client_id = client_id.strip()
        if not client_id or len(client_id) > MAX_CLIENT_ID_CHARS or client_id.startswith("osc:"):
            raise ValueError(f"client id must be 1..{MAX_CLIENT_ID_CHARS} characters and not "
                             f"start with 'osc:', got {client_id[:40]!r}")
        if not client_id.isprintable():
            raise ValueError("client id must be printable text")
        if not 1 <= reply_port <= 65535:
            raise ValueError(f"reply port must be 1..65535, got {reply_port}")
        client = Client(client_id, sender, (sender[0], reply_port), registered=True)
        with self._lock:
            old = self._by_id.pop(client_id, None)
            if old is not None and self._by_sender.get(old.sender) == client_id:
                del self._by_sender[old.sender]
            self._by_id[client_id] = client
            self._by_sender[sender] = client_id
            self._evict(registered=True, limit=MAX_CLIENTS)
        log.info("OSC client %r registered from %s, replies to port %d", client_id,
                 _peer_label(sender), reply_port)
        return client

    def client_id_for(self, sender: Peer) -> str:
        """The id a job from ``sender`` carries (registering a made-up one if need be)."""
        with self._lock:
            client_id = self._by_sender.get(sender)
            if client_id is not None and client_id in self._by_id:
                self._by_id.move_to_end(client_id)
                return client_id
            client_id = f"osc:{_peer_label(sender)}"
            self._by_id[client_id] = Client(client_id, sender, sender, registered=False)
            self._by_sender[sender] = client_id
            self._evict(registered=False, limit=MAX_IMPLICIT_CLIENTS)
            return client_id

    def reply_peers(self, sender: Peer) -> tuple[Peer, ...]:
        """Where replies to a request from ``sender`` go: the sender and its reply port."""
        with self._lock:
            client = self._by_id.get(self._by_sender.get(sender, ""))
        if client is None or client.reply == sender:
            return (sender,)
        return (sender, client.reply)

    def peers_of(self, client_id: str) -> tuple[Peer, ...]:
        with self._lock:
            client = self._by_id.get(client_id)
        return (client.reply,) if client is not None else ()

    def registered_peers(self) -> tuple[Peer, ...]:
        with self._lock:
            return tuple(c.reply for c in self._by_id.values() if c.registered)

    def _evict(self, *, registered: bool, limit: int) -> None:
        kind = [cid for cid, c in self._by_id.items() if c.registered == registered]
        for client_id in kind[:max(0, len(kind) - limit)]:
            client = self._by_id.pop(client_id)
            if self._by_sender.get(client.sender) == client_id:
                del self._by_sender[client.sender]
            if registered:
                log.warning("more than %d OSC clients registered: forgot %r", limit, client_id)


# ---- work items for the sending thread ------------------------------------------------------

@dataclass(frozen=True)
class _Event:
    event: object
    origin: Peer | None


@dataclass(frozen=True)
class _Reply:
    sender: Peer
    message: OscOut


@dataclass(frozen=True)
class _Start:
    pending: tuple[int, ...]
    running: int | None


@dataclass(frozen=True)
class _Error:
    about: str
    reason: str
    sender: Peer | None


@dataclass(frozen=True)
class _StateDump:
    sender: Peer
    request: GenerationRequest


_STOP = object()


class OscFeedback:
    """Subscribes to the daemon bus and sends OSC feedback from its own thread."""

    def __init__(self, bus: EventBus, targets: Sequence[str] = (), *,
                 clients: ClientRegistry | None = None) -> None:
        self.bus = bus
        self.clients = clients or ClientRegistry()
        self._target_specs = tuple(targets)
        self._targets: tuple[Peer, ...] = ()
        self._queue: queue.Queue[object] = queue.Queue(MAX_WAITING)
        self._thread: threading.Thread | None = None
        self._unsubscribe = None
        self._sockets: dict[int, socket.socket] = {}
        self._dropped = 0
        # Job bookkeeping, touched only by the sending thread.
        self._status = IDLE
        self._pending: set[int] = set()
        self._running: int | None = None
        self._writing = False
        self._failed = False
        self._progress_sent: dict[int, float] = {}

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def targets(self) -> tuple[Peer, ...]:
        return self._targets

    def start(self, jobs: Iterable[JobInfo] = ()) -> None:
        """Start sending; ``jobs`` are the queue's jobs now (resumed from the journal before
        this subscribed), so the first /musicgen/status, sent at once, is right."""
        if self._thread is not None:
            raise RuntimeError("OscFeedback can be started only once")
        self._targets = tuple(_target_peer(spec) for spec in self._target_specs)
        self._targets = tuple(dict.fromkeys(t for t in self._targets if t is not None))
        self._unsubscribe = self.bus.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._run, name="bridge-osc-feedback",
                                        daemon=True)
        self._thread.start()
        jobs = list(jobs)
        running = next((j.job_id for j in jobs if j.state is JobState.RUNNING), None)
        self._put(_Start(tuple(j.job_id for j in jobs if j.state is JobState.QUEUED), running))
        log.info("OSC feedback to %s", ", ".join(map(_peer_label, self._targets)) or "no targets")

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        thread, self._thread = self._thread, None
        if thread is not None:
            put_sentinel(self._queue, _STOP)  # never blocks: drops the oldest when full
            thread.join(5.0)
            if thread.is_alive():
                log.warning("the OSC feedback thread did not stop within 5 s")
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    # -- what inputs call (any thread; never blocks) ---------------------------------------

    def reply(self, sender: Peer, message: OscOut) -> None:
        self._put(_Reply(sender, message))

    def error(self, about: str, reason: str, sender: Peer | None = None) -> None:
        """/musicgen/error to the targets, and to ``sender``'s reply peers when given."""
        self._put(_Error(about, reason, sender))

    def send_state(self, sender: Peer, request: GenerationRequest) -> None:
        """Every setting of ``request``, then the current status, to ``sender``."""
        self._put(_StateDump(sender, request))

    def _on_event(self, event: object) -> None:
        if isinstance(event, (StateChanged, JobEvent, ErrorReport, Learned, StyleEvent)):
            self._put(_Event(event, _origin.get()))

    def _put(self, item: object) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.warning("OSC feedback is %d messages behind: dropped %d so far",
                            MAX_WAITING, self._dropped)

    # -- the sending thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self._handle(item)
            except Exception:
                log.exception("OSC feedback failed on %r; going on", item)

    def _handle(self, item: object) -> None:
        if isinstance(item, _Event):
            self._handle_event(item.event, item.origin)
        elif isinstance(item, _Reply):
            self._send(item.message, self.clients.reply_peers(item.sender))
        elif isinstance(item, _Start):
            # Events that came between subscribing and this item already moved these jobs.
            if self._running is None and not self._pending:
                self._pending.update(item.pending)
                self._running = item.running
            self._status = ""  # announce the status even when idle: the daemon is up
            self._update_status(())
        elif isinstance(item, _Error):
            self._send_error(item.about, item.reason, item.sender)
        elif isinstance(item, _StateDump):
            peers = self.clients.reply_peers(item.sender)
            for message in state_messages(item.request):
                self._send(message, peers)
            self._send(OscOut.of(STATUS_ADDRESS, self._status), peers)

    def _handle_event(self, event: object, origin: Peer | None) -> None:
        if isinstance(event, StateChanged):
            message = echo_message(event.name, event.value)
            if message is None:
                log.debug("no OSC address echoes %s; not sent", event.name)
                return
            origin_peers = self.clients.reply_peers(origin) if origin is not None else ()
            self._send(message, self._broadcast_peers(), origin_peers)
        elif isinstance(event, ErrorReport):
            self._send_error(event.about, event.reason, None)
        elif isinstance(event, Learned):
            self._send(OscOut.of(LEARNED_ADDRESS, event.param, event.channel, event.cc),
                       self._broadcast_peers())
        elif isinstance(event, JobEvent):
            self._handle_job(event)
        elif isinstance(event, StyleEvent):
            self._handle_style(event)

    def _handle_style(self, event: StyleEvent) -> None:
        peers = self._targets + self.clients.peers_of(event.client_id)
        if event.kind == STYLE_PROGRESS:
            self._send(OscOut.of(STYLE_PROGRESS_ADDRESS, event.name, event.progress), peers)
        elif event.kind == STYLE_DONE:
            self._send(OscOut.of(STYLE_DONE_ADDRESS, event.name, event.path), peers)
        elif event.kind == STYLE_FAILED:
            self._send_error(f"style {event.name}", event.error or "failed", None, extra=peers)

    def _handle_job(self, event: JobEvent) -> None:
        job = event.job_id
        peers = self._targets + self.clients.peers_of(event.request.client_id)
        kind = event.kind
        if kind == job_events.QUEUED:
            self._pending.add(job)
            self._failed = False
            self._send(OscOut.of(QUEUED_ADDRESS, job), peers)
        elif kind == job_events.STARTED:
            self._pending.discard(job)
            self._running, self._writing, self._failed = job, False, False
            self._progress_sent[job] = 0.0
            self._send(OscOut.of(PROGRESS_ADDRESS, job, 0.0), peers)
        elif kind == job_events.PROGRESS:
            self._progress(job, event.progress, peers)
        elif kind == job_events.WRITING:
            self._progress(job, 1.0, peers)
            self._writing = True
        elif kind == job_events.DONE:
            self._progress(job, 1.0, peers)
            for clip in event.clips:
                position = clip.position_s if clip.position_s is not None else -1.0
                self._send(OscOut.of(CLIP_ADDRESS, job, clip.path, position, clip.duration_s),
                           peers)
        elif kind == job_events.RETRY:
            self._writing = False  # generating again
            self._send(OscOut.of(RETRY_ADDRESS, job, event.attempt, event.error), peers)
        elif kind == job_events.FAILED:
            self._failed = True
            self._send_error(f"job {job}", event.error or "failed", None, extra=peers)
        if kind in (job_events.DONE, job_events.FAILED, job_events.CANCELLED):
            self._pending.discard(job)
            self._progress_sent.pop(job, None)
            if self._running == job:
                self._running, self._writing = None, False
        self._update_status(peers)

    def _progress(self, job: int, fraction: float, peers: tuple[Peer, ...]) -> None:
        # One message per 5 % band, as soon as the job enters it: never more often (a
        # controller's display does not need every decoding step) and, as far as the engine
        # reports, never a band skipped.
        last = self._progress_sent.get(job)
        if last is None or last >= 1.0:
            return
        fraction = min(1.0, fraction)
        if fraction >= 1.0 or _band(fraction) > _band(last):
            self._progress_sent[job] = fraction
            self._send(OscOut.of(PROGRESS_ADDRESS, job, fraction), peers)

    def _update_status(self, job_peers: tuple[Peer, ...]) -> None:
        if self._running is not None:
            status = WRITING if self._writing else GENERATING
        elif self._failed:
            status = ERROR  # stays until the next job is queued or starts
        elif self._pending:
            status = QUEUED
        else:
            status = IDLE
        if status != self._status:
            self._status = status
            self._send(OscOut.of(STATUS_ADDRESS, status), self._broadcast_peers(), job_peers)

    def _send_error(self, about: str, reason: str, sender: Peer | None,
                    extra: Iterable[Peer] = ()) -> None:
        about = _cut(about, MAX_ABOUT_CHARS)
        reason = _cut(reason, MAX_REASON_CHARS)
        sender_peers = self.clients.reply_peers(sender) if sender is not None else ()
        self._send(OscOut.of(ERROR_ADDRESS, about, reason), self._targets, sender_peers, extra)

    def _broadcast_peers(self) -> tuple[Peer, ...]:
        return self._targets + self.clients.registered_peers()

    def _send(self, message: OscOut, *peer_groups: Iterable[Peer]) -> None:
        peers = dict.fromkeys(p for group in peer_groups for p in group)
        if not peers:
            return
        try:
            data = message.encode()
        except Exception:
            log.exception("cannot encode %r", message)
            return
        for peer in peers:
            try:
                self._socket_for(peer[0]).sendto(data, peer)
            except OSError as err:
                # Unreachable or unresolvable peers must not stop feedback to the others.
                log.debug("OSC feedback %s to %s failed: %s", message.address,
                          _peer_label(peer), err)

    def _socket_for(self, host: str) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            self._sockets[family] = sock
        return sock


def _band(fraction: float) -> int:
    return int(fraction / OSC_PROGRESS_STEP + 1e-9)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _target_peer(spec: str) -> Peer | None:
    """"HOST:PORT" (validated by the config) -> an address to send to; None if unresolvable."""
    host, port_text = spec.rsplit(":", 1)
    try:
        return (host_address(host), int(port_text))
    except OSError as err:
        log.error("OSC feedback target %s: cannot resolve %r (%s); not sending there",
                  spec, host, err)
        return None

"""Address -> handler, apart from sockets: datagrams in, handler calls and replies out.

Each handler module registers its addresses here against the address table
(bridge.osc.addresses); registering an address the table lacks is a programming error,
so the docs rendered from the table cannot miss a handler.

A handler gets a ``Call`` with arguments already coerced to the table's types, validates,
changes state or queues a job, and returns at once: an ``OscOut`` to reply to the sender, or
None. A ValueError (or EngineError) it raises is the sender's mistake: logged and answered on
/musicgen/error with the address and the reason. Anything else is a bug: logged with its
traceback, answered as an internal error, and the next message is served as usual.

Packets: a message, or a bundle whose messages are dispatched in order, at once (time tags are
not honoured: a setting is never worth delaying, and sleeping would stall every other sender).
A malformed packet, or a bundle with any malformed part, is refused whole with one error.
Address patterns (``*``, ``?``, ``[..]``, ``{..}``) are refused: applying one value to several
settings is never what a controller means.
"""

from __future__ import annotations

import difflib
import logging
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.parsing import osc_types

from bridge.engine.base import EngineError
from bridge.osc.addresses import (
    BY_ADDRESS,
    INPUTS,
    PREFIX,
    REAPER_ADDRESSES,
    OscAddress,
)
from bridge.osc.coerce import OscValue, coerce_args
from bridge.osc.feedback import OscFeedback, OscOut, Peer, from_sender

log = logging.getLogger(__name__)

MUSICGEN = "musicgen"
MAX_BUNDLE_DEPTH = 8
# The OSC argument types python-osc parses; anything else would be skipped silently and shift
# every later argument, so such a message is refused instead.
_KNOWN_TYPETAGS = frozenset("ihfdsbrmtTFN[]")
_PATTERN_CHARS = frozenset("*?[]{}")
_BUNDLE_HEADER_BYTES = 16  # "#bundle\0" and the 8-byte time tag
# The request schema prefixes each problem with its field ("bpm: bpm must be in 20..400"):
# said once is enough.
_REPEATED_FIELD = re.compile(r"\b(\w+): (?=\1 )")


def human_reason(text: str) -> str:
    return _REPEATED_FIELD.sub("", text)


@dataclass(frozen=True)
class Call:
    address: str
    args: tuple[OscValue, ...]  # coerced to the address table's types
    sender: Peer


Handler = Callable[[Call], "OscOut | None"]


@dataclass(frozen=True)
class _Route:
    spec: OscAddress
    handler: Handler
    surface: str  # MUSICGEN, or a foreign surface (REAPER): no replies go back to those


class PacketError(ValueError):
    """The datagram is not a well-formed OSC packet."""


@dataclass(frozen=True)
class Message:
    address: str
    args: tuple[object, ...]


class Dispatcher:
    def __init__(self, feedback: OscFeedback) -> None:
        self.feedback = feedback
        self._routes: dict[str, _Route] = {}
        self._ignored_roots: dict[str, str] = {}
        self._known = {**BY_ADDRESS, **{a.address: a for a in REAPER_ADDRESSES}}

    def register(self, address: str, handler: Handler, *, surface: str = MUSICGEN) -> None:
        spec = self._known.get(address)
        if spec is None or spec.direction != "in":
            raise ValueError(f"{address} is not an input address in the OSC address table "
                             "(bridge/control/osc_addresses.py): add it there first")
        if address in self._routes:
            raise ValueError(f"{address} already has a handler")
        self._routes[address] = _Route(spec, handler, surface)

    def ignore(self, roots: frozenset[str], surface: str) -> None:
        """Quietly drop unhandled addresses whose first segment is in ``roots``."""
        for root in roots:
            self._ignored_roots[root] = surface

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(self._routes)

    def missing(self) -> list[str]:
        """Input addresses of the table with no handler (each answers with an error)."""
        return [a.address for a in INPUTS if a.address not in self._routes]

    def handle_datagram(self, data: bytes, sender: Peer) -> None:
        try:
            messages = parse_packet(data)
        except PacketError as err:
            self._refuse("packet", str(err), sender)
            return
        for message in messages:
            self.handle_message(message.address, message.args, sender)

    def handle_message(self, address: str, raw_args: tuple[object, ...], sender: Peer) -> None:
        route = self._routes.get(address)
        if route is None:
            self._unrouted(address, sender)
            return
        replies = route.surface == MUSICGEN
        reply_to = sender if replies else None
        try:
            args = coerce_args(route.spec, raw_args)
            with from_sender(reply_to):
                reply = route.handler(Call(address, args, sender))
        except (ValueError, EngineError) as err:
            self._refuse(address, str(err), reply_to, surface=route.surface)
            return
        except Exception as err:
            log.exception("OSC handler for %s failed on %r", address, raw_args)
            self._refuse(address, f"internal error ({type(err).__name__}: {err}); see the "
                                  "daemon log", reply_to, surface=route.surface)
            return
        if reply is not None and replies:
            self.feedback.reply(sender, reply)

    def _unrouted(self, address: str, sender: Peer) -> None:
        if _PATTERN_CHARS.intersection(address):
            self._refuse(address, "address patterns (wildcards) are not accepted: send to one "
                                  "full address (see docs/osc.md)", sender)
            return
        root = address.split("/", 2)[1] if address.startswith("/") else ""
        if not address.startswith(PREFIX + "/") and root in self._ignored_roots:
            log.debug("ignored %s message %s from %s", self._ignored_roots[root], address,
                      sender)
            return
        spec = self._known.get(address)
        if spec is not None and spec.direction == "in":
            reason = f"{address} is not available in this daemon"
        elif spec is not None:
            reason = f"{address} is an address the daemon sends, not one it listens to"
        else:
            close = difflib.get_close_matches(address, self._routes, n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else "; see docs/osc.md"
            reason = f"unknown address {address}{hint}"
        self._refuse(address, reason, sender)

    def _refuse(self, about: str, reason: str, sender: Peer | None, *,
                surface: str = MUSICGEN) -> None:
        reason = human_reason(reason)
        log.warning("OSC %s from %s refused: %s", _short(about), sender, reason[:500])
        self.feedback.error(about, reason, sender if surface == MUSICGEN else None)


def parse_packet(data: bytes) -> list[Message]:
    """A datagram's messages in order; raises PacketError naming what is wrong.

    python-osc's OscBundle and OscMessage do the parsing. First ``_check_packet`` refuses what
    they would pass silently or cannot survive: an element of unknown kind or an unknown type
    tag (skipped, shifting every later argument), an element size that does not fit (a
    negative one loops forever in python-osc 1.10), bundles nested deeper than
    MAX_BUNDLE_DEPTH. OscPacket is not used: it reorders a bundle's messages by time tag,
    while ours are dispatched in the order sent."""
    _check_packet(data)
    try:
        if OscBundle.dgram_is_bundle(data):
            return list(_messages_in(OscBundle(data)))
        return [_message(OscMessage(data))]
    except Exception as err:
        # python-osc raises its ParseErrors, but also UnicodeDecodeError and friends on junk.
        raise PacketError(f"malformed OSC message ({type(err).__name__}: {err})") from None


def _messages_in(bundle: OscBundle) -> Iterator[Message]:
    for content in bundle:
        if isinstance(content, OscBundle):
            yield from _messages_in(content)
        else:
            yield _message(content)


def _message(message: OscMessage) -> Message:
    return Message(message.address, tuple(message.params))


def _check_packet(data: bytes) -> None:
    if OscBundle.dgram_is_bundle(data):
        _check_bundle(data, 1)
    elif OscMessage.dgram_is_message(data):
        _check_type_tags(data)
    elif not data:
        raise PacketError("empty packet")
    else:
        raise PacketError("not an OSC packet: it must start with '/' (a message) or "
                          "'#bundle' (a bundle)")


def _check_bundle(data: bytes, depth: int) -> None:
    if depth > MAX_BUNDLE_DEPTH:
        raise PacketError(f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
    if len(data) < _BUNDLE_HEADER_BYTES:
        raise PacketError("bundle too short for its time tag")
    index = _BUNDLE_HEADER_BYTES
    while index < len(data):
        if index + 4 > len(data):
            raise PacketError("bundle element size cut short")
        (size,) = struct.unpack_from(">i", data, index)
        index += 4
        if size <= 0 or size % 4 or index + size > len(data):
            raise PacketError(f"bundle element size {size} does not fit the bundle")
        element = data[index:index + size]
        index += size
        if OscBundle.dgram_is_bundle(element):
            _check_bundle(element, depth + 1)
        elif OscMessage.dgram_is_message(element):
            _check_type_tags(element)
        else:
            raise PacketError("bundle element is neither a message nor a bundle")


def _check_type_tags(data: bytes) -> None:
    try:
        address, index = osc_types.get_string(data, 0)
        typetags = osc_types.get_string(data, index)[0] if index < len(data) else ","
    except Exception as err:
        raise PacketError(f"malformed OSC message ({type(err).__name__}: {err})") from None
    if not typetags.startswith(","):
        raise PacketError(f"{_short(address)}: type tags must start with ','")
    unknown = set(typetags[1:]) - _KNOWN_TYPETAGS
    if unknown:
        raise PacketError(f"{_short(address)}: unsupported OSC type tag(s) "
                          f"{''.join(sorted(unknown))!r}")


def _short(address: str) -> str:
    return address if len(address) <= 60 else address[:57] + "..."

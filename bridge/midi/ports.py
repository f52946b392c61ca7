"""MIDI ports: the backend, finding ports by name, and keeping them open.

The only module that talks to mido's port API. Inputs are kept open by ``InputPorts``: a port
missing at start or unplugged later is retried every ``RETRY_S`` seconds from a background
thread and reopened when it comes back; no port error ever leaves this module as an exception.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import mido

log = logging.getLogger(__name__)

VIRTUAL_NAME = "MusicGen Bridge"
RETRY_S = 2.0  # a missing or unplugged port is looked for this often
MAX_RETRY_S = 30.0  # no MIDI system at all: back off to this (each try may print driver noise)
NO_MIDI_SYSTEM = ("is the MIDI system (ALSA, JACK, CoreMIDI) running? On Linux without ALSA "
                  "(containers, CI) use JACK: [midi] backend = "
                  "\"mido.backends.rtmidi/UNIX_JACK\"")
LOOPMIDI_HINT = (
    "Windows has no virtual MIDI ports: install loopMIDI "
    "(https://www.tobias-erichsen.de/software/loopmidi.html), create a port named "
    f"\"{VIRTUAL_NAME}\" in it, and set [midi] inputs = [\"{VIRTUAL_NAME}\"]"
)

OnMessage = Callable[[str, mido.Message], None]


def load_backend(name: str = "") -> mido.Backend:
    """The config's backend, else mido's own MIDO_BACKEND, else rtmidi.

    Raises OSError naming the fix when the backend module cannot be imported.
    """
    backend = mido.Backend(name or None)
    try:
        backend.load()
    except ImportError as err:
        raise OSError(f"MIDI backend {backend.name!r} cannot be loaded ({err}): install it, or "
                      f"set [midi] backend (e.g. \"mido.backends.rtmidi\" or "
                      f"\"mido.backends.rtmidi/UNIX_JACK\")") from err
    return backend


def describe(backend: mido.Backend) -> str:
    return f"{backend.name}/{backend.api}" if backend.api else backend.name


def match_port(pattern: str, names: Sequence[str], taken: Iterable[str] = ()) -> str | None:
    """The port ``pattern`` names: an exact name first, else the first name containing it
    (case-insensitive); ports in ``taken`` are skipped."""
    taken = set(taken)
    free = [n for n in names if n not in taken]
    if pattern in free:
        return pattern
    needle = pattern.casefold()
    return next((n for n in free if needle in n.casefold()), None)


def drop_sysex_at_driver(port: Any) -> None:
    """mido's rtmidi backend asks the driver for sysex, which we never use; a flood of it would
    be parsed in Python on the driver's thread. Make rtmidi drop it in C++ instead (other
    backends: the service's callback drops sysex before queueing)."""
    rt = getattr(port, "_rt", None)  # mido's rtmidi port keeps its MidiIn here
    if rt is not None and hasattr(rt, "ignore_types"):
        rt.ignore_types(sysex=True, timing=False, active_sense=True)


class InputPorts:
    """Keeps the wanted inputs open, or the virtual input when none is named."""

    def __init__(self, backend: mido.Backend, patterns: Sequence[str], on_message: OnMessage,
                 *, virtual_name: str = VIRTUAL_NAME, retry_s: float = RETRY_S,
                 platform: str = sys.platform) -> None:
        self._backend = backend
        self._patterns = tuple(patterns)
        self._on_message = on_message
        self._virtual_name = virtual_name
        self._retry_s = retry_s
        self._delay = retry_s  # grows while the MIDI system itself fails
        self._platform = platform
        self._lock = threading.Lock()  # reconcile runs on start() and on the retry thread
        # The position in [midi] inputs (the same pattern twice opens two ports), or the
        # virtual name -> the open mido port.
        self._open: dict[int | str, Any] = {}
        self._complained: set[int | str] = set()  # what was already logged as missing
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def names(self) -> list[str]:
        with self._lock:
            return [port.name for port in self._open.values()]

    def start(self) -> None:
        self._stop.clear()
        self.reconcile()
        if self._platform == "win32" and not self._patterns:
            return  # nothing to retry: Windows will never grow a virtual port
        self._thread = threading.Thread(target=self._retry_loop, name="midi-ports", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for key in list(self._open):
                self._close(key)

    def _retry_loop(self) -> None:
        while not self._stop.wait(self._delay):
            try:
                self.reconcile()
            except Exception:  # the loop must outlive any driver surprise
                log.exception("MIDI port check failed; trying again in %g s", self._delay)

    def reconcile(self) -> None:
        """Open what is wanted and present, close what vanished."""
        with self._lock:
            if self._patterns:
                self._reconcile_named()
            elif self._virtual_name not in self._open:
                self._open_virtual()

    def _reconcile_named(self) -> None:
        try:
            available = self._backend.get_input_names()
        except Exception as err:  # rtmidi raises several unrelated types when no MIDI system
            self._complain("*", "cannot list MIDI inputs (%s): %s. Retrying in the background",
                           err, NO_MIDI_SYSTEM)
            self._back_off()
            return
        self._complained.discard("*")
        self._delay = self._retry_s
        for key, pattern in enumerate(self._patterns):
            port = self._open.get(key)
            if port is not None:
                if port.name in available:
                    continue
                log.warning("MIDI input %r went away; it is reopened when it comes back",
                            port.name)
                self._close(key)
            taken = [p.name for p in self._open.values()]
            name = match_port(pattern, available, taken)
            if name is None:
                self._complain(key, "MIDI input %r not found (inputs: %s); retrying every %g s. "
                                    "`musicgen-bridge midi ports` lists them",
                               pattern, ", ".join(available) or "none", self._retry_s)
                continue
            try:
                port = self._backend.open_input(
                    name, callback=functools.partial(self._on_message, name))
            except Exception as err:
                self._complain(key, "cannot open MIDI input %r (%s); retrying every %g s",
                               name, err, self._retry_s)
                continue
            drop_sysex_at_driver(port)
            self._open[key] = port
            self._complained.discard(key)
            log.info("MIDI input %r open (matches %r)", name, pattern)

    def _open_virtual(self) -> None:
        name = self._virtual_name
        if self._platform == "win32":
            self._complain(name, "no MIDI input: %s", LOOPMIDI_HINT)
            return
        kwargs = {"client_name": name} if self._backend.name.endswith("rtmidi") else {}
        try:
            port = self._backend.open_input(
                name, virtual=True, callback=functools.partial(self._on_message, name), **kwargs)
        except Exception as err:
            self._complain(name, "cannot create the virtual MIDI input %r (%s): %s; or name a "
                                 "port in [midi] inputs. Retrying in the background", name, err,
                           NO_MIDI_SYSTEM)
            self._back_off()
            return
        drop_sysex_at_driver(port)
        self._open[name] = port
        self._complained.discard(name)
        self._delay = self._retry_s
        log.info("virtual MIDI input %r open: connect your controller or DAW to it", name)

    def _back_off(self) -> None:
        self._delay = min(self._delay * 2, MAX_RETRY_S)

    def _close(self, key: int | str) -> None:
        port = self._open.pop(key)
        try:
            port.close()
        except Exception:
            log.debug("closing MIDI input %r failed", port.name, exc_info=True)

    def _complain(self, key: int | str, message: str, *args: object) -> None:
        """Log a missing port once, not on every retry."""
        if key not in self._complained:
            self._complained.add(key)
            log.warning(message, *args)


class OutputPort:
    """One output, opened when it appears and reopened after it vanished. Used from one
    thread only (the feedback sender); ``send`` never raises."""

    def __init__(self, backend: mido.Backend, pattern: str, *, retry_s: float = RETRY_S,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._backend = backend
        self.pattern = pattern
        self.retry_s = retry_s
        self._now = now
        self._port: Any = None
        self._next_check = 0.0
        self._complained = False

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def check(self) -> bool:
        """At most every retry_s: drop a vanished port, open a present one. True when it was
        (re)opened just now, so the caller can send the whole state."""
        now = self._now()
        if now < self._next_check:
            return False
        self._next_check = now + self.retry_s
        try:
            available = self._backend.get_output_names()
        except Exception as err:
            self._complain("cannot list MIDI outputs (%s): %s", err, NO_MIDI_SYSTEM)
            return False
        if self._port is not None:
            if self._port.name in available:
                return False
            log.warning("MIDI output %r went away; it is reopened when it comes back",
                        self._port.name)
            self.close()
        name = match_port(self.pattern, available)
        if name is None:
            self._complain("MIDI output %r not found (outputs: %s); retrying every %g s",
                           self.pattern, ", ".join(available) or "none", self.retry_s)
            return False
        try:
            self._port = self._backend.open_output(name)
        except Exception as err:
            self._complain("cannot open MIDI output %r (%s); retrying every %g s", name, err,
                           self.retry_s)
            return False
        self._complained = False
        log.info("MIDI feedback output %r open (matches %r)", name, self.pattern)
        return True

    def send(self, message: mido.Message) -> bool:
        if self._port is None:
            return False
        try:
            self._port.send(message)
            return True
        except Exception as err:
            log.warning("MIDI output %r failed (%s); reopening it", self._port.name, err)
            self.close()
            self._next_check = 0.0
            return False

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:
                log.debug("closing MIDI output %r failed", port.name, exc_info=True)

    def _complain(self, message: str, *args: object) -> None:
        if not self._complained:
            self._complained = True
            log.warning(message, *args)

"""The request folder: scripts that cannot open a socket (ReaScript Lua) ask for clips by
dropping JSON files into ``requests/`` inside the daemon's output folder.

Each file is read once it has stopped changing, validated against the request schema
(``bridge.request``; the format is documented in docs/requests.md) and submitted as a job. The
file then moves to ``requests/done/NAME.jobN.json``, or to ``requests/rejected/NAME.json``
with ``NAME.error.txt`` beside it naming every problem. Nothing is deleted or overwritten.

Files come in three ways, all handled: written under a temporary name and renamed into place
(a "moved" event; the recommended way), written in place (a "created" event, possibly before
the writer has finished: the size must hold still and a parse failure is retried while the
file is young), and already there when the daemon starts (a scan).

Threads: watchdog's observer only puts paths on a queue; one worker thread owns all reading,
submitting and moving, so the handler can never raise into watchdog or block it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import stat as stat_mod
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from bridge.engine.base import EngineError
from bridge.errors import MAX_NAME_CHARS, UserError, bounded, reason_of, shown
from bridge.files import is_temp_name, remove_quietly, write_atomically
from bridge.inbox.settings import InboxSettings
from bridge.inbox.train import is_train_request, parse_train_request
from bridge.jobs.queue import QueueFull
from bridge.reading import NotARegularFile, TooLarge, kind_of, read_regular
from bridge.request import REQUEST_FIELD_NAMES, REQUEST_FIELDS, GenerationRequest
from bridge.session.control import Control

log = logging.getLogger(__name__)

REQUESTS_DIR = "requests"
DONE_DIR = "done"
REJECTED_DIR = "rejected"
AUDIO_DIR = "audio"  # rendered audio prompts (the Reaper "Continue" script); never read as requests
MAX_REQUEST_BYTES = 1 << 20  # a request is a few hundred bytes; anything huge is a mistake
MAX_PROBLEMS = 20            # listed in a reason; the rest are counted
MAX_PROBLEM_CHARS = 300      # one problem: a field, its value and the fix
MAX_STEM_BYTES = 120         # names we give files in done/ and rejected/ (well under NAME_MAX)

SETTLE_S = 0.25       # size and mtime must hold this long before a file is read
PARSE_GRACE_S = 3.0   # JSON that does not parse is retried this long after the file last changed
RETRY_FULL_S = 2.0    # queue full: the file stays and is retried this often


@dataclass(frozen=True)
class RequestAccepted:
    """Published on the daemon's bus when a request file became a job."""

    path: str  # where the file now is (requests/done/...)
    job_id: int


@dataclass(frozen=True)
class RequestRejected:
    """Published on the daemon's bus when a request file was refused."""

    path: str        # where the file now is (requests/rejected/...)
    error_path: str  # the .error.txt beside it
    reason: str


class RequestError(UserError):
    """The file is not a usable request; ``problems`` lists each thing to fix (bounded: a
    file with 50,000 unknown keys gets a reason a person can read, not 12 MB)."""

    def __init__(self, problems: list[str]) -> None:
        listed = [bounded(p, MAX_PROBLEM_CHARS) for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            listed.append(f"... and {len(problems) - MAX_PROBLEMS} more problems")
        super().__init__("; ".join(listed))
        self.problems = listed


class IncompleteRequest(RequestError):
    """The file is not (yet) valid JSON: perhaps still being written."""


def request_folder(out_dir: Path) -> Path:
    return Path(out_dir) / REQUESTS_DIR


# from_dict joins its problems with "; "; split only where the next one starts with a field
# name, so a message that itself contains "; " stays whole.
_PROBLEM_SPLIT = re.compile(r"; (?=[A-Za-z_][A-Za-z0-9_]*: )")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise RequestError([f"{key}: given twice; keep one"])
        data[key] = value
    return data


def parse_request(text: str, base: GenerationRequest, folder: Path) -> GenerationRequest:
    """Validate request JSON ``text``; fields it leaves out come from ``base``.

    Raises IncompleteRequest for text that is not JSON and RequestError listing every problem
    for JSON that is not a valid request. Relative audio paths are taken from ``folder``.
    """
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        raise IncompleteRequest([
            f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); a request is "
            f'one JSON object like {{"prompt": "funk drums", "bpm": 120, "bars": 4}}'
        ]) from None
    except RecursionError:
        raise RequestError(["the JSON is nested too deeply; a request is one flat JSON "
                            "object"]) from None
    except (ValueError, OverflowError) as err:  # e.g. a 5,000-digit integer
        raise RequestError([f"the JSON holds a value that cannot be read ({err})"]) from None
    if not isinstance(data, dict):
        raise RequestError([f"a request must be a JSON object {{...}}, got {type(data).__name__}"])
    problems = [f"{f.name}: missing ({f.doc})" for f in REQUEST_FIELDS
                if f.required and f.name not in data]
    try:
        request = GenerationRequest.from_dict(data, base=base)
    except (ValueError, TypeError) as err:
        problems.extend(_PROBLEM_SPLIT.split(str(err)))
        raise RequestError(problems) from None
    except (OverflowError, RecursionError) as err:  # a 400-digit integer as a float field
        problems.append(f"a value is out of range ({type(err).__name__}: {bounded(err, 200)})")
        raise RequestError(problems) from None
    if problems:
        raise RequestError(problems)
    return _resolve_audio_paths(request, folder)


def _train_data(text: str) -> dict[str, Any] | None:
    """The JSON object when ``text`` is a style-training request, else None."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON at all: parse_request says why
        return None
    return data if is_train_request(data) else None


def _resolve_audio_paths(request: GenerationRequest, folder: Path) -> GenerationRequest:
    """Relative audio paths are taken from the request folder. Whether the file may be read
    (inside the clip folder or [generation] audio_folders) the daemon decides on submit."""
    changes: dict[str, str] = {}
    for name in ("audio_prompt", "melody_audio"):
        value = getattr(request, name)
        if value:
            path = Path(value).expanduser()
            changes[name] = str(path if path.is_absolute() else folder / path)
    return replace(request, **changes) if changes else request


@dataclass
class _Pending:
    due: float
    signature: tuple[int, int] | None = None  # (size, mtime_ns) when last looked at
    inode: int = 0
    changed_at: float = 0.0
    full_logged: bool = False


class _Handler(FileSystemEventHandler):
    """Forwards created and moved-in files to the worker; never raises into watchdog."""

    def __init__(self, notify: Callable[[Path], None]) -> None:
        self._notify = notify

    def on_created(self, event: FileSystemEvent) -> None:
        self._forward(event, event.src_path)

    def on_moved(self, event: FileSystemEvent) -> None:
        # The atomic write: a temporary name renamed to the final one. Only the destination
        # matters; a move out of the folder (our own, into done/) arrives here too.
        self._forward(event, event.dest_path)

    def _forward(self, event: FileSystemEvent, path: str | bytes) -> None:
        try:
            # Folders too: a folder named like a request must be moved aside with a reason,
            # not left for ever (the worker looks at what each path is).
            self._notify(Path(os.fsdecode(path)))
        except Exception:  # a raising handler would kill watchdog's dispatcher thread
            log.exception("inbox: could not handle %r", event)


_STOP = object()


class Inbox:
    """Watches one request folder and turns each request file into a job of ``daemon``."""

    def __init__(self, daemon: Control, folder: Path, *, polling: bool = False,
                 settle_s: float = SETTLE_S, parse_grace_s: float = PARSE_GRACE_S,
                 retry_full_s: float = RETRY_FULL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.daemon = daemon
        self.folder = Path(folder)
        self.done_dir = self.folder / DONE_DIR
        self.rejected_dir = self.folder / REJECTED_DIR
        self._polling = polling
        self._settle_s = settle_s
        self._parse_grace_s = parse_grace_s
        self._retry_full_s = retry_full_s
        self._clock = clock
        self._queue: queue.Queue[object] = queue.Queue()
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        self._warned: set[str] = set()
        # Set while the worker has nothing left to do (tests wait on it). Paths put on the
        # queue are counted under the lock, so "idle" is never seen between a put and its take.
        self._idle = threading.Event()
        self._lock = threading.Lock()
        self._queued = 0

    # -- service interface -------------------------------------------------------------------

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Watch the real path: macOS reports events under it (/private/var for /var), and the
        # worker compares event paths with this one.
        self.folder = self.folder.resolve()
        self.done_dir = self.folder / DONE_DIR
        self.rejected_dir = self.folder / REJECTED_DIR
        for folder in (self.done_dir, self.rejected_dir):
            folder.mkdir(exist_ok=True)
            _require_real_folder(folder)
        self._worker = threading.Thread(target=self._run, name="bridge-inbox", daemon=True)
        self._worker.start()
        observer = PollingObserver(timeout=1.0) if self._polling else Observer()
        try:
            observer.schedule(_Handler(self._notify), str(self.folder), recursive=False)
            observer.start()
        except OSError as err:  # e.g. the inotify watch limit, or a folder that cannot be watched
            self.stop()
            raise OSError(f"cannot watch the request folder {self.folder}: {err}; set [inbox] "
                          f"polling = true in the config to poll it instead") from err
        self._observer = observer
        # Watching first, then scanning: a file arriving in between is seen twice (harmless,
        # the worker keeps one entry per path) rather than not at all.
        self.scan()
        log.info("inbox: watching %s for request files%s", self.folder,
                 " (polling)" if self._polling else "")

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5.0)
            self._observer = None
        if self._worker is not None:
            self._queue.put_nowait(_STOP)  # unbounded: never blocks
            self._worker.join(timeout=5.0)
            if self._worker.is_alive():
                log.warning("inbox: the worker did not stop within 5 s")
            self._worker = None

    def scan(self) -> None:
        """Queue every request file already in the folder, oldest first."""
        found: list[tuple[int, Path]] = []
        try:
            for path in self.folder.iterdir():
                try:
                    stat = path.lstat()  # a symlink or FIFO is seen (and refused), not followed
                except OSError:
                    continue  # gone between listing and looking: nothing to do
                if path.name not in (DONE_DIR, REJECTED_DIR, AUDIO_DIR):
                    found.append((stat.st_mtime_ns, path))
        except OSError as err:
            log.error("inbox: cannot list %s: %s; requests there wait for the next start",
                      self.folder, err)
        for _, path in sorted(found):
            self._notify(path)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending (for tests and orderly shutdown)."""
        return self._idle.wait(timeout)

    # -- worker ------------------------------------------------------------------------------

    def _notify(self, path: Path) -> None:
        if path.parent != self.folder or path.name in (DONE_DIR, REJECTED_DIR, AUDIO_DIR):
            return  # moved into done/ or rejected/ by us, or a subfolder's business
        if is_temp_name(path.name):
            return  # the rename to the final name brings it back
        if path.suffix.lower() != ".json":
            if path.name not in self._warned and len(self._warned) < 1000:
                self._warned.add(path.name)
                log.warning("inbox: ignoring %s: only .json request files are read "
                            "(see docs/requests.md)", shown(path.name))
            return
        with self._lock:
            self._queued += 1
            self._idle.clear()
        self._queue.put(path)

    def _run(self) -> None:
        pending: dict[Path, _Pending] = {}
        while True:
            with self._lock:
                if not pending and self._queued == 0:
                    self._idle.set()
            timeout = None
            if pending:
                timeout = max(0.0, min(p.due for p in pending.values()) - self._clock())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if isinstance(item, Path):
                with self._lock:
                    self._queued -= 1
                if item not in pending:
                    pending[item] = _Pending(due=self._clock())
            now = self._clock()
            for path in [p for p, st in pending.items() if st.due <= now]:
                try:
                    finished = self._step(path, pending[path])
                except Exception as err:  # one bad file must not stop the inbox
                    log.exception("inbox: unexpected error on %s", shown(path))
                    finished = self._reject_quietly(path, [
                        f"the daemon could not read this file ({type(err).__name__}: "
                        f"{bounded(err, 200)}); the daemon's log has the details"])
                if finished:
                    del pending[path]

    def _step(self, path: Path, st: _Pending) -> bool:
        """Look at one pending file; True when it is dealt with (or gone)."""
        try:
            stat = path.lstat()  # the entry itself: a symlink is refused, never followed
        except FileNotFoundError:
            return True  # handled already (a second event for it), or taken away by the user
        if not stat_mod.S_ISREG(stat.st_mode):
            # A FIFO would block the reader for good, a link to /dev/zero never ends.
            self._reject(path, [f"this is {kind_of(stat.st_mode)}, not a regular file; write "
                                f"the request itself into {self.folder.name}/"])
            return True
        now = self._clock()
        st.inode = stat.st_ino
        signature = (stat.st_size, stat.st_mtime_ns)
        if signature != st.signature:  # first look, or still being written
            st.signature, st.changed_at, st.due = signature, now, now + self._settle_s
            return False
        try:
            # Bounded, no symlink, regular only: the entry may have been swapped since lstat.
            text = read_regular(path, MAX_REQUEST_BYTES).decode("utf-8-sig")  # -sig: BOM
        except FileNotFoundError:
            return True
        except TooLarge:
            self._reject(path, [f"the file is {stat.st_size} bytes or more; a request is a "
                                f"small JSON object (at most {MAX_REQUEST_BYTES} bytes)"])
            return True
        except NotARegularFile as err:
            self._reject(path, [err.reason])
            return True
        except UnicodeDecodeError as err:
            self._reject(path, [f"not UTF-8 text ({err.reason} at byte {err.start}); save the "
                                f"file as UTF-8"])
            return True
        if (train := _train_data(text)) is not None:
            return self._train(path, train)
        try:
            request = parse_request(text, self.daemon.default_request(), self.folder)
        except IncompleteRequest as err:
            if now - st.changed_at < self._parse_grace_s:
                st.due = now + self._settle_s  # perhaps written in pieces: look again
                return False
            self._reject(path, err.problems)
            return True
        except RequestError as err:
            self._reject(path, err.problems)
            return True
        return self._submit(path, request, st)

    def _submit(self, path: Path, request: GenerationRequest, st: _Pending) -> bool:
        try:
            # The file's identity: a daemon killed between queueing the job and moving the file
            # to done/ finds the same file (inode, mtime, size) after the restart.
            origin = f"inbox:{path.name}:{st.inode}:{st.signature}"
            job_id = self.daemon.submit(request, origin=origin)
        except QueueFull as err:
            if not st.full_logged:
                log.warning("inbox: %s waits: %s", path.name, err)
                st.full_logged = True
            st.due = self._clock() + self._retry_full_s
            return False
        except (ValueError, EngineError) as err:
            self._reject(path, [reason_of(err)])
            return True
        except Exception as err:
            log.exception("inbox: submitting %s failed", shown(path.name))
            self._reject(path, [f"the daemon failed on this request ({type(err).__name__}: "
                                f"{bounded(err, 200)}); the daemon's log has the details, "
                                f"please report it"])
            return True
        self._accept(path, job_id)
        return True

    def _train(self, path: Path, data: dict[str, Any]) -> bool:
        try:
            name, clips, description = parse_train_request(data, self.folder)
            self.daemon.train_style(name, clips, description=description)
        except ValueError as err:
            self._reject(path, _PROBLEM_SPLIT.split(str(err)))
            return True
        dest = _free_name(self.done_dir, f"{path.stem}.style", [".json"])[0]
        try:
            path.rename(dest)
        except OSError as err:
            log.error("inbox: %s started training style %s but could not be moved to %s (%s)",
                      path, name, dest, err)
        log.info("inbox: %s -> training style %s", path.name, name)
        return True

    # -- moving files --------------------------------------------------------------------------

    def _accept(self, path: Path, job_id: int) -> None:
        dest = _free_name(self.done_dir, f"{safe_stem(path.name)}.job{job_id}", [".json"])[0]
        try:
            _require_real_folder(self.done_dir)
            path.rename(dest)
        except OSError as err:
            log.error("inbox: %s is queued as job %d but could not be moved to %s (%s); move "
                      "it out of %s yourself, or the next start queues it again",
                      shown(path.name), job_id, dest, bounded(err, 300), self.folder)
            return
        log.info("inbox: %s -> job %d", shown(path.name), job_id)
        self.daemon.bus.publish(RequestAccepted(str(dest), job_id))

    def _reject_quietly(self, path: Path, problems: list[str]) -> bool:
        try:
            self._reject(path, problems)
        except Exception:
            log.exception("inbox: could not move %s aside", shown(path))
        return True

    def _reject(self, path: Path, problems: list[str]) -> None:
        problems = RequestError(problems).problems  # bounded, whoever made them
        dest, error_path = _free_name(self.rejected_dir, safe_stem(path.name),
                                      [".json", ".error.txt"])
        reason = "; ".join(problems)
        try:
            _require_real_folder(self.rejected_dir)
        except OSError as err:
            log.error("inbox: %s was refused (%s) but cannot be moved aside: %s",
                      shown(path.name), reason, bounded(err, 300))
            return
        # The report lands first and whole (never through a symlink: a new name, linked in),
        # so whoever sees the refused file can read why.
        try:
            wrote = write_atomically(
                error_path, _error_report(path, problems).encode("utf-8", "backslashreplace"),
                overwrite=False)
            if not wrote:
                log.error("inbox: %s appeared meanwhile; left alone", error_path)
        except OSError as err:
            log.error("inbox: could not write %s: %s", error_path, bounded(err, 300))
            wrote = False
        try:
            path.rename(dest)
        except OSError as err:
            if wrote:
                remove_quietly(error_path)
            log.error("inbox: %s was refused (%s) but could not be moved to %s: %s",
                      shown(path.name), reason, dest, bounded(err, 300))
            return
        log.warning("inbox: refused %s: %s", shown(path.name), reason)
        self.daemon.bus.publish(RequestRejected(str(dest), str(error_path), reason))


def safe_stem(name: str) -> str:
    """A short, printable file stem for ``name`` (any length, any bytes, newlines): the
    moves into done/ and rejected/ can never fail on the name's length or encoding."""
    stem = name[:-5] if name.lower().endswith(".json") else name
    clean = re.sub(r"[^\w.+=@ -]", "_", stem).strip(" .") or "request"
    if clean != stem or len(clean.encode("utf-8")) > MAX_STEM_BYTES:
        digest = hashlib.sha1(os.fsencode(stem)).hexdigest()[:8]
        while len(clean.encode("utf-8")) > MAX_STEM_BYTES - 9:
            clean = clean[:-1]
        clean = f"{clean}-{digest}"
    return clean


def _require_real_folder(folder: Path) -> None:
    """Refuse to move or write into a folder that is a symlink (it could point anywhere)."""
    mode = folder.lstat().st_mode
    if not stat_mod.S_ISDIR(mode):
        raise OSError(f"{folder} is {kind_of(mode)}, not a real folder; remove it and the "
                      f"daemon re-creates it")


def _free_name(folder: Path, stem: str, suffixes: list[str]) -> list[Path]:
    """Paths folder/stem+suffix for each suffix, with -2, -3, ... added until none exists."""
    n = 1
    while True:
        tag = "" if n == 1 else f"-{n}"
        paths = [folder / f"{stem}{tag}{suffix}" for suffix in suffixes]
        if not any(os.path.lexists(p) for p in paths):
            return paths
        n += 1


def _error_report(path: Path, problems: list[str]) -> str:
    lines = [
        f"MusicGen request refused: {bounded(path.name, MAX_NAME_CHARS)}",
        f"when: {datetime.now().astimezone().isoformat(timespec='seconds')}",
        "",
        "Problems:",
        *(f"  - {p}" for p in problems),
        "",
        f"Fix the file and move it back into {path.parent} to try again.",
        f"Known fields: {', '.join(REQUEST_FIELD_NAMES)} (see docs/requests.md).",
    ]
    return "\n".join(lines) + "\n"


def create(daemon: Control, settings: InboxSettings) -> Inbox | None:
    """The inbox service for ``daemon`` from the ``[inbox]`` section; None when disabled."""
    if not settings.enabled:
        return None
    return Inbox(daemon, request_folder(daemon.out_dir), polling=settings.polling)

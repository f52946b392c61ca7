"""The job journal: pending jobs on disk, so a daemon restart (even after SIGKILL) resumes them.

The file is JSON lines, rewritten whole on every change (``bridge.files.write_atomically``), so a
reader only ever sees a complete old or a complete new version. It stays tiny (at most the
bounded queue plus the running job), which makes a full rewrite cheaper than an append log
that would need compaction. Line one is a header holding ``next_id``, so job ids keep
increasing across restarts even after every job has finished::

    {"journal": 1, "next_id": 8}
    {"job_id": 6, "state": "running", "attempts": 1, "request": {...}}
    {"job_id": 7, "state": "queued", "attempts": 0, "request": {...}}

Damage (a hand edit, a disk error, a request an upgraded schema refuses) never stops the
daemon: bad lines are logged and skipped, the damaged file is kept beside the journal as
``<name>.corrupt-<time>`` for the user, and the good entries are written back.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bridge.errors import UserError
from bridge.files import remove_stale_temps, write_atomically
from bridge.request import GenerationRequest

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Where recent jobs came from (a request file's name, inode, mtime and size), kept in the
# header: a request file the daemon was killed before moving to done/ is found again after the
# restart and is not queued a second time.
MAX_ORIGINS = 512
QUEUED = "queued"
RUNNING = "running"

_ID_IN_TEXT = re.compile(rb'"(?:job_id|next_id)"\s*:\s*(\d{1,18})')


@dataclass(frozen=True)
class JournalEntry:
    job_id: int
    request: GenerationRequest
    # Times a worker started this job. A job that was running when the daemon died counts one
    # attempt, so a job that kills the daemon every time can be given up instead of looping.
    attempts: int = 0
    running: bool = False

    def to_line(self) -> str:
        return json.dumps({
            "job_id": self.job_id,
            "state": RUNNING if self.running else QUEUED,
            "attempts": self.attempts,
            "request": self.request.to_dict(),
        }, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_line(cls, data: object) -> JournalEntry:
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        job_id = data.get("job_id")
        if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
            raise ValueError(f"job_id must be an integer >= 1, got {job_id!r}")
        attempts = data.get("attempts", 0)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise ValueError(f"attempts must be an integer >= 0, got {attempts!r}")
        state = data.get("state", QUEUED)
        if state not in (QUEUED, RUNNING):
            raise ValueError(f"state must be {QUEUED!r} or {RUNNING!r}, got {state!r}")
        request = data.get("request")
        if not isinstance(request, dict):
            raise ValueError(f"request must be a JSON object, got {request!r}")
        return cls(job_id, GenerationRequest.from_dict(request), attempts, state == RUNNING)


def _parse_origins(data: bytes) -> dict[str, int]:
    """The header's origins; none when absent or damaged (an older journal)."""
    try:
        header = json.loads(data.split(b"\n", 1)[0].decode("utf-8"))
        origins = header.get("origins", {}) if isinstance(header, dict) else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(origins, dict):
        return {}
    return {str(k): v for k, v in list(origins.items())[-MAX_ORIGINS:]
            if isinstance(v, int) and not isinstance(v, bool)}


def _parse_header(data: object) -> int:
    if not isinstance(data, dict) or data.get("journal") != FORMAT_VERSION:
        raise ValueError(f'expected a header {{"journal": {FORMAT_VERSION}, "next_id": N}}')
    next_id = data.get("next_id")
    if isinstance(next_id, bool) or not isinstance(next_id, int) or next_id < 1:
        raise ValueError(f"next_id must be an integer >= 1, got {next_id!r}")
    return next_id


class Journal:
    """Pending jobs and the next job id, mirrored to ``path`` on every change.

    With ``path=None`` it keeps the same bookkeeping in memory only, so the queue has one code
    path. Thread-safe; writes are serialized so the file always matches the latest state.
    A failed write is logged and the daemon goes on: losing restart-safety is better than
    refusing work.
    """

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[int, JournalEntry] = {}
        self._origins: dict[str, int] = {}  # origin -> job id, oldest first
        self._next_id = 1
        self._write_failing = False
        if path is not None:
            self._load(path)

    @property
    def entries(self) -> list[JournalEntry]:
        """The journaled jobs, oldest first."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda entry: entry.job_id)

    def add(self, request: GenerationRequest, origin: str | None = None) -> int:
        """Journal a new job and return its id, one higher than any id ever handed out.
        ``origin`` (where the request came from) is remembered for ``job_for``."""
        with self._lock:
            job_id = self._next_id
            self._next_id += 1
            self._entries[job_id] = JournalEntry(job_id, request)
            if origin:
                self._origins[origin] = job_id
                while len(self._origins) > MAX_ORIGINS:
                    del self._origins[next(iter(self._origins))]
            self._save()
            return job_id

    def job_for(self, origin: str) -> int | None:
        """The job already made from ``origin``, if it is among the recent ones."""
        with self._lock:
            return self._origins.get(origin)

    def started(self, job_id: int) -> None:
        self._change(job_id, lambda e: replace(e, running=True, attempts=e.attempts + 1))

    def interrupted(self, job_id: int) -> None:
        """The daemon stopped the job on purpose: queue it again, not counting the attempt."""
        self._change(job_id, lambda e: replace(e, running=False,
                                               attempts=max(0, e.attempts - 1)))

    def remove(self, job_id: int) -> None:
        with self._lock:
            if self._entries.pop(job_id, None) is not None:
                self._save()

    def _change(self, job_id: int, change: Callable[[JournalEntry], JournalEntry]) -> None:
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is not None:
                self._entries[job_id] = change(entry)
                self._save()

    # -- disk ------------------------------------------------------------------------------

    def _save(self) -> None:
        if self.path is None:
            return
        header: dict[str, object] = {"journal": FORMAT_VERSION, "next_id": self._next_id}
        if self._origins:
            header["origins"] = self._origins
        lines = [json.dumps(header)]  # ASCII: file names may hold undecodable bytes
        lines += [entry.to_line() for _, entry in sorted(self._entries.items())]
        try:
            write_atomically(self.path, "\n".join(lines) + "\n")
        except OSError:
            if not self._write_failing:
                log.exception("cannot write the job journal %s; pending jobs will not survive a "
                              "daemon restart until it can be written again", self.path)
            self._write_failing = True
        else:
            if self._write_failing:
                log.info("the job journal %s is written again", self.path)
            self._write_failing = False

    def _load(self, path: Path) -> None:
        # Temp files of a process killed mid-write: never complete, safe to drop.
        remove_stale_temps(path.parent, final_name=path.name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError:
            log.exception("cannot read the job journal %s; starting with no pending jobs", path)
            return
        next_id, entries, bad = _parse(data, path)
        self._origins = _parse_origins(data)
        # Ids a damaged line still shows count too, so an id is never handed out twice.
        seen = [entry.job_id for entry in entries]
        seen += [int(m) for line in bad for m in _ID_IN_TEXT.findall(line)]
        self._next_id = max([next_id, *(job_id + 1 for job_id in seen)])
        self._entries = {entry.job_id: entry for entry in entries}
        if bad:
            # The damaged file may hold jobs the user wants back by hand: keep it, not delete it.
            aside = self._move_aside(path)
            log.error("the job journal %s was damaged (%d bad line(s)); kept %d job(s), the "
                      "damaged file is at %s", path, len(bad), len(entries), aside)
            self._save()

    def _move_aside(self, path: Path) -> Path | None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        for n in range(100):
            aside = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
            if aside.exists():
                continue
            try:
                os.replace(path, aside)
            except OSError:
                log.exception("cannot move the damaged job journal %s aside", path)
                return None
            return aside
        return None


def _parse(data: bytes, path: Path) -> tuple[int, list[JournalEntry], list[bytes]]:
    """Split a journal into (next_id from the header, good entries, bad lines)."""
    next_id = 1
    entries: dict[int, JournalEntry] = {}
    bad: list[bytes] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            parsed = json.loads(raw.decode("utf-8"))
            if number == 1:
                next_id = _parse_header(parsed)
                continue
            entry = JournalEntry.from_line(parsed)
            if entry.job_id in entries:
                raise ValueError(f"job {entry.job_id} appears twice")
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; TypeError and RecursionError
        # come from odd values and absurdly nested JSON.
        except (ValueError, TypeError, RecursionError) as err:
            log.warning("job journal %s line %d skipped: %s", path, number, err)
            bad.append(raw)
            continue
        entries[entry.job_id] = entry
    return next_id, sorted(entries.values(), key=lambda entry: entry.job_id), bad


class JournalLock:
    """An exclusive lock on ``<journal>.lock``, held while a daemon uses the journal.

    flock (POSIX) / msvcrt.locking (Windows) is released by the OS when the process dies, so a
    SIGKILLed daemon never leaves a stale lock. Within one process, queues on the same journal
    share the lock (tests run several in turn): the lock keeps other processes out.
    """

    _held: dict[str, tuple[int, int]] = {}  # resolved lock path -> (fd, users)
    _guard = threading.Lock()

    def __init__(self, key: str) -> None:
        self._key = key

    @classmethod
    def acquire(cls, journal: Path) -> JournalLock:
        path = Path(os.path.realpath(journal.with_name(journal.name + ".lock")))
        key = str(path)
        with cls._guard:
            if key in cls._held:
                fd, users = cls._held[key]
                cls._held[key] = (fd, users + 1)
                return cls(key)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError as err:
                # The journal cannot be written either (its writes log that): no lock to hold.
                log.warning("cannot create the journal lock %s: %s", path, err)
                return cls(key)
            try:
                _lock_fd(fd)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                raise UserError(
                    f"another musicgen-bridge{f' (pid {holder})' if holder else ''} is using "
                    f"the job journal {journal}; stop it first, or give this one its own "
                    f'journal with [queue] journal = "..." in its config') from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            cls._held[key] = (fd, 1)
            return cls(key)

    def release(self) -> None:
        with self._guard:
            fd, users = self._held.get(self._key, (-1, 0))
            if users > 1:
                self._held[self._key] = (fd, users - 1)
            elif users == 1:
                del self._held[self._key]
                os.close(fd)  # closing the descriptor releases the lock


def _lock_fd(fd: int) -> None:
    if sys.platform == "win32":  # the spelling type checkers read as a platform check
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except (OSError, AttributeError):
        return ""
    return text if text.isdigit() else ""

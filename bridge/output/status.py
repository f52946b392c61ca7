"""The daemon's status file, ``status.json`` in the output folder: how a DAW script that has
no sockets (ReaScript) knows whether the daemon is running and how far the current job is.

A bus subscriber (``StatusFile``) keeps it current: on every job event, and every
``HEARTBEAT_S`` seconds from its own thread, so a reader that sees ``heartbeat`` older than
``stale_after_s`` knows the daemon died without saying so (a crash, a kill -9, a sleeping
laptop). A clean stop writes ``alive: false``. Written whole through a temporary name and a
rename: a reader never sees half a file.

    {"alive": true, "pid": 4242, "version": "0.1.0", "model": "facebook/musicgen-small",
     "heartbeat": 1764990000.5, "stale_after_s": 10.0, "queue": 1,
     "job": {"id": 7, "stage": "generating", "progress": 0.42, "prompt": "dusty funk drums"}}
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from bridge import events
from bridge.files import fsync_directory

log = logging.getLogger(__name__)

FILENAME = "status.json"
HEARTBEAT_S = 2.0
STALE_AFTER_S = 10.0  # five missed heartbeats: the daemon is gone
_STAGES = {events.STARTED: "generating", events.PROGRESS: "generating",
           events.WRITING: "writing"}


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    # The lead folds this into the shared atomic-write helper of bridge/files.py.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)
    fsync_directory(path.parent)


def read_status(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(folder) / FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class StatusFile:
    """Start/stop like a service; subscribe ``on_event`` to the daemon's bus."""

    def __init__(self, folder: Path, *, version: str, model: str,
                 heartbeat_s: float = HEARTBEAT_S, clock: Any = time.time) -> None:
        self.path = Path(folder) / FILENAME
        self.version = version
        self.model = model
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self._lock = threading.Lock()
        self._queued: set[int] = set()
        self._job: dict[str, Any] | None = None
        self._alive = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "alive": self._alive, "pid": os.getpid(), "version": self.version,
                "model": self.model, "heartbeat": round(self._clock(), 3),
                "stale_after_s": max(STALE_AFTER_S, 5 * self.heartbeat_s),
                "queue": len(self._queued), "job": dict(self._job) if self._job else None,
            }

    def on_event(self, event: object) -> None:
        if not isinstance(event, events.JobEvent):
            return
        with self._lock:
            job_id = event.job_id
            if event.kind == events.QUEUED:
                self._queued.add(job_id)
            else:
                self._queued.discard(job_id)
            if event.kind in _STAGES:
                progress = event.progress if event.kind == events.PROGRESS else \
                    (1.0 if event.kind == events.WRITING else 0.0)
                # Sampling done at 100 %: what runs now is the finishing (fit, loudness).
                stage = "finishing" if event.kind == events.PROGRESS and progress >= 1.0 \
                    else _STAGES[event.kind]
                self._job = {"id": job_id, "stage": stage, "progress": round(progress, 3),
                             "prompt": event.request.prompt[:120]}
            elif self._job and self._job["id"] == job_id:
                self._job = None
        self._write_later()

    def _write_later(self) -> None:
        # Called on the publishing thread (the job worker): writing is quick, but a full disk
        # must not fail the job, so errors are only logged.
        try:
            self._write()
        except OSError as err:
            log.warning("cannot write %s: %s", self.path, err)

    def _write(self) -> None:
        write_json_atomic(self.path, self.snapshot())

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._alive = True
        self._write_later()
        self._thread = threading.Thread(target=self._beat, name="status-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self._write_later()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._alive = False
            self._job = None
        self._write_later()

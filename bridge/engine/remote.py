"""An engine on another machine: a ``musicgen-bridge worker`` (Ray Serve) over plain HTTP.

The daemon stays by the DAW and keeps everything after generation (finishing, tempo lock,
writing, feedback, the journal); only ``generate`` travels (bridge.engine.wire). The DAW side
needs the standard library only: no Ray, no HTTP client package.

Each ``generate`` call picks one job id and keeps it through its retries: a dropped
connection, a stream cut short (no final event), a worker restarting or a replica killed
mid-job costs another try with the same id, and the worker answers a finished id from its
result cache instead of generating again. The daemon writes the clip once, after the call
returns, so a retry never doubles a clip. Setting the cancel event closes the connection;
the worker cancels the replica's work when its client goes.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from bridge.engine import wire
from bridge.engine.base import Cancelled, EngineError, GeneratedAudio, GenerationSpec, ProgressFn

log = logging.getLogger(__name__)

# Waits between tries: long enough together (about a minute) for Serve to restart a replica
# and load the model again, short enough that a worker that is gone is reported soon.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
# Silence on an open stream this long means a hung worker: progress comes every few percent.
READ_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0


class _Retry(Exception):
    """This try failed in a way another try with the same job id may fix."""


class RemoteEngine:
    """Implements ``bridge.engine.base.Engine`` by asking a worker (see the module docstring)."""

    name = "remote"

    def __init__(self, url: str, token: str = "", *,
                 retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
                 read_timeout_s: float = READ_TIMEOUT_S) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(f"worker_url {url!r} is not an http:// or https:// URL; set "
                              "[model] worker_url, e.g. \"http://127.0.0.1:9100\"")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._token = token
        self.retry_delays_s = retry_delays_s
        self.read_timeout_s = read_timeout_s
        # The latest stream's ``accepted`` event (which replica took it, cached or not): logs
        # and tests.
        self.last_accepted: dict[str, Any] = {}
        self.last_done: dict[str, Any] = {}  # the latest done event (the worker's timing)
        info = self._info()
        try:
            self.model_id = f"{info['model_id']}"
            self.sample_rate = int(info["sample_rate"])
            self.frame_rate = float(info["frame_rate"])
            self.max_seconds = float(info["max_seconds"])
            self.capabilities: frozenset[str] = frozenset(info["capabilities"])
            self.worker_engine = str(info.get("engine", ""))
        except (KeyError, TypeError, ValueError) as err:
            raise EngineError(f"the worker at {self.url} answered /info without {err}; is it a "
                              "musicgen-bridge worker of this version?") from None

    # -- Engine ------------------------------------------------------------------------------

    def generate(self, spec: GenerationSpec, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio:
        job_id = uuid.uuid4().hex
        body = json.dumps(wire.request_body(job_id, spec)).encode()
        last = ""
        for attempt, delay in enumerate((*self.retry_delays_s, None), start=1):
            if cancel.is_set():
                raise Cancelled()
            try:
                return self._attempt(job_id, body, progress, cancel)
            except _Retry as err:
                last = str(err)
            if delay is None:
                break
            log.warning("worker job %s, try %d: %s; trying again in %g s", job_id, attempt,
                        last, delay)
            if cancel.wait(delay):
                raise Cancelled()
        raise EngineError(f"the worker at {self.url} did not deliver job {job_id} after "
                          f"{len(self.retry_delays_s) + 1} tries ({last}); check that "
                          "`musicgen-bridge worker` runs there and is reachable, or set "
                          '[model] backend = "local"')

    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """Codes (variations, codebooks, frames) to audio on the worker: with this, long
        clips are made in windows through the worker (bridge.engine.windows), each window a
        job of its own, the joined codes decoded in one piece."""
        body = json.dumps({"codes": wire.encode_array(codes, "int64")}).encode()
        last = ""
        for delay in (*self.retry_delays_s, None):
            conn = self._connection()
            try:
                conn.request("POST", self._base + wire.DECODE_PATH, body=body,
                             headers=self._headers({"Content-Type": "application/json"}))
                response = conn.getresponse()
                if response.status == 200:
                    data = json.loads(response.read(wire.MAX_RESULT_BYTES))
                    return wire.decode_array(data.get("audio"), "float32",
                                             wire.MAX_RESULT_VALUES)
                self._check_status(response)  # refusals raise; others are retried
            except (OSError, http.client.HTTPException, ValueError, AttributeError) as err:
                last = _describe(err)
            except _Retry as err:
                last = str(err)
            finally:
                conn.close()
            if delay is not None:
                time.sleep(delay)
        raise EngineError(f"the worker at {self.url} did not decode a long clip's codes ({last})")

    # -- one try -----------------------------------------------------------------------------

    def _attempt(self, job_id: str, body: bytes, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio:
        conn = self._connection()
        finished = threading.Event()
        watcher = threading.Thread(target=self._close_on_cancel,
                                   args=(conn, job_id, cancel, finished),
                                   name="remote-cancel", daemon=True)
        try:
            try:
                conn.request("POST", self._base + wire.GENERATE_PATH, body=body,
                             headers=self._headers({"Content-Type": "application/json"}))
                watcher.start()
                response = conn.getresponse()
                self._check_status(response)
                return self._read_stream(job_id, response, progress, cancel)
            except (OSError, http.client.HTTPException) as err:
                if cancel.is_set():
                    raise Cancelled() from None
                raise _Retry(_describe(err)) from None
        finally:
            finished.set()
            conn.close()
            if watcher.is_alive():
                watcher.join()

    def _read_stream(self, job_id: str, response: http.client.HTTPResponse,
                     progress: ProgressFn, cancel: threading.Event) -> GeneratedAudio:
        events: list[Mapping[str, Any]] = []
        while True:
            raw = response.readline(wire.MAX_RESULT_BYTES)
            if cancel.is_set():
                raise Cancelled()
            if not raw:
                raise _Retry("the stream ended before its final event")
            try:
                event = json.loads(raw)
            except ValueError:
                raise _Retry("the stream carried a line that is not JSON") from None
            kind = event.get("event") if isinstance(event, dict) else None
            if kind == wire.ACCEPTED:
                self.last_accepted = dict(event)
                log.debug("job %s accepted: %s", job_id, event)
            elif kind == wire.PROGRESS:
                fraction = event.get("fraction")
                if isinstance(fraction, (int, float)):
                    progress(float(fraction))
            elif kind == wire.AUDIO:
                events.append(event)
            elif kind == wire.ERROR:
                reason = str(event.get("reason", "no reason given"))
                if event.get("retry"):
                    raise _Retry(f"the worker said: {reason}")
                raise EngineError(f"worker: {reason}")
            elif kind == wire.DONE:
                if event.get("job_id") != job_id:
                    raise _Retry(f"the stream finished job {event.get('job_id')!r}, not {job_id}")
                self.last_done = dict(event)
                try:
                    return wire.audio_of(events, event)
                except wire.WireError as err:
                    raise _Retry(str(err)) from None

    def _check_status(self, response: http.client.HTTPResponse) -> None:
        if response.status == 200:
            return
        detail = _error_text(response)
        if response.status in (401, 403):
            raise EngineError(f"the worker at {self.url} refused the request ({detail}); set "
                              "[model] worker_token to the token the worker was started with")
        if response.status in (400, 404, 409, 413, 422):
            raise EngineError(f"the worker at {self.url} refused the request: {detail}")
        raise _Retry(f"HTTP {response.status} {detail}")

    # -- plumbing ----------------------------------------------------------------------------

    def _close_on_cancel(self, conn: http.client.HTTPConnection, job_id: str,
                         cancel: threading.Event, finished: threading.Event) -> None:
        """When the job is cancelled: close the connection (the worker sees its client go
        and cancels the replica's work; the blocked read here returns), and say so
        explicitly too, for a path between us that keeps the worker's side open."""
        while not finished.is_set():
            if cancel.wait(0.1):
                sock = conn.sock
                if sock is not None and not finished.is_set():
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                self.send_cancel(job_id)
                return

    def send_cancel(self, job_id: str) -> bool:
        """POST /cancel for ``job_id``, best effort (False: the worker did not confirm)."""
        conn = self._connection(CONNECT_TIMEOUT_S)
        try:
            conn.request("POST", self._base + wire.CANCEL_PATH,
                         body=json.dumps({"job_id": job_id}).encode(),
                         headers=self._headers({"Content-Type": "application/json"}))
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException) as err:
            log.info("could not tell the worker to cancel job %s: %s", job_id, _describe(err))
            return False
        finally:
            conn.close()

    def _info(self) -> dict[str, Any]:
        last = ""
        for delay in (*self.retry_delays_s[:2], None):
            conn = self._connection(CONNECT_TIMEOUT_S)
            try:
                conn.request("GET", self._base + wire.INFO_PATH, headers=self._headers({}))
                response = conn.getresponse()
                if response.status in (401, 403):
                    raise EngineError(f"the worker at {self.url} refused us "
                                      f"({_error_text(response)}); set [model] worker_token to "
                                      "the token the worker was started with")
                if response.status == 200:
                    info = json.loads(response.read())
                    if isinstance(info, dict):
                        return info
                last = f"HTTP {response.status} from /info"
            except (OSError, http.client.HTTPException, ValueError) as err:
                last = _describe(err)
            finally:
                conn.close()
            if delay is not None:
                time.sleep(delay)
        raise EngineError(f"cannot reach the musicgen-bridge worker at {self.url} ({last}); "
                          "start `musicgen-bridge worker` there (docs/cluster.md), check "
                          '[model] worker_url, or set [model] backend = "local"')

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout or self.read_timeout_s)

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        if self._token:
            extra = {**extra, "Authorization": f"Bearer {self._token}"}
        return extra


def _error_text(response: http.client.HTTPResponse) -> str:
    try:
        data = json.loads(response.read(64 * 1024))
        if isinstance(data, dict) and "error" in data:
            return f"HTTP {response.status}: {data['error']}"
    except (OSError, ValueError, http.client.HTTPException):
        pass
    return f"HTTP {response.status} {response.reason}"


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}" if text != type(err).__name__ else text

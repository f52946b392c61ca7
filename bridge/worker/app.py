"""The worker as a Ray Serve application: model replicas behind one streaming HTTP endpoint.

``build_app(args)`` returns the application; ``musicgen-bridge worker`` runs it, and so do
``serve run bridge.worker.app:build_app model=...`` and a Serve config file
(docs/cluster.md). Deployments:

- ``Generator`` (the HTTP ingress, ``num_replicas`` of it): each replica loads the model once
  (one GPU per replica where there are GPUs) and answers ``GET /info`` and ``POST /generate``
  (bridge.engine.wire). Jobs arriving together are grouped by ``@serve.batch`` (bounded wait)
  and compatible ones decoded as one batch (bridge.engine.batch). A job whose every client
  has gone is cancelled; a client that comes back with the same id while the job still runs
  on this replica is attached to it.
- ``ResultStore`` (one replica): finished jobs' streams by job id, bounded, so a
  resubmission landing on any replica gets the clip again without a second generation.

The bearer token is checked on every request when one is set; without one, requests from
anywhere but loopback are refused (``musicgen-bridge worker`` refuses to listen beyond
loopback without a token in the first place).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bridge.engine import wire
from bridge.engine.base import Cancelled, Engine, GeneratedAudio, GenerationSpec

log = logging.getLogger(__name__)

TOKEN_ENV = "MUSICGEN_BRIDGE_WORKER_TOKEN"
DEFAULT_MAX_BATCH = 4
DEFAULT_BATCH_WAIT_S = 0.05
DEFAULT_CACHE_ITEMS = 64
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
PROGRESS_STEP = 0.02
PROGRESS_INTERVAL_S = 0.25
CANCELS_KEPT = 1024
CANCEL_POLL_S = 0.5


@dataclass(frozen=True)
class WorkerSettings:
    """What ``build_app`` takes (``serve run`` passes strings: see ``from_args``)."""

    model: str
    device: str = "auto"
    engine: str = "auto"
    cpu_int8: bool = False
    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    max_batch_size: int = DEFAULT_MAX_BATCH
    batch_wait_s: float = DEFAULT_BATCH_WAIT_S
    token: str = ""
    cache_items: int = DEFAULT_CACHE_ITEMS
    cache_bytes: int = DEFAULT_CACHE_BYTES

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> WorkerSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(args) - known)
        if unknown:
            raise ValueError(f"unknown worker argument(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        if not args.get("model"):
            raise ValueError("the worker needs model=<hub id or checkpoint directory>")
        values: dict[str, Any] = {}
        for name, value in args.items():
            kind = cls.__dataclass_fields__[name].type
            if kind == "bool" and isinstance(value, str):
                value = value.lower() in ("1", "true", "yes")
            elif kind in ("int", "float") and isinstance(value, str):
                value = int(value) if kind == "int" else float(value)
            values[name] = value
        settings = cls(**values)
        if settings.replicas < 1 or settings.max_batch_size < 1 or settings.batch_wait_s < 0:
            raise ValueError("replicas and max_batch_size must be at least 1, batch_wait_s "
                             "at least 0")
        return settings

    def resolved_token(self) -> str:
        return self.token or os.environ.get(TOKEN_ENV, "")


# ---- the result store --------------------------------------------------------------------

@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
class ResultStore:
    """Finished jobs' stream tails by job id, least recently used dropped first."""

    def __init__(self, max_items: int = DEFAULT_CACHE_ITEMS,
                 max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[str, list[bytes]]] = OrderedDict()
        self._bytes = 0
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    def get(self, job_id: str) -> tuple[str, list[bytes]] | None:
        item = self._items.get(job_id)
        if item is not None:
            self._items.move_to_end(job_id)
        return item

    def cancel(self, job_id: str) -> None:
        """Remember an explicit cancel, for whichever replica runs the job (it polls)."""
        self._cancelled[job_id] = None
        while len(self._cancelled) > CANCELS_KEPT:
            self._cancelled.popitem(last=False)

    def cancelled(self, job_ids: list[str]) -> list[str]:
        return [job_id for job_id in job_ids if job_id in self._cancelled]

    def put(self, job_id: str, fingerprint: str, lines: list[bytes]) -> None:
        if job_id in self._items:
            return
        size = sum(len(chunk) for chunk in lines)
        self._items[job_id] = (fingerprint, lines)
        self._bytes += size
        while self._items and (len(self._items) > self.max_items
                               or self._bytes > self.max_bytes):
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= sum(len(chunk) for chunk in dropped)


# ---- the model replicas ------------------------------------------------------------------

@dataclass
class _Job:
    job_id: str
    fingerprint: str
    spec: GenerationSpec
    cancel: threading.Event = field(default_factory=threading.Event)
    listeners: set[asyncio.Queue[bytes | None]] = field(default_factory=set)
    progress: float = 0.0
    progress_at: float = 0.0
    lines: list[bytes] | None = None  # the stream tail once finished
    task: asyncio.Task[None] | None = None  # held here: the loop keeps only a weak reference

    @property
    def finished(self) -> bool:
        return self.lines is not None


@serve.deployment(max_ongoing_requests=64)
class Generator:
    def __init__(self, store: DeploymentHandle, settings: WorkerSettings) -> None:
        self.store = store
        self.settings = settings
        self.token = settings.resolved_token()
        self.engine = _load(settings)
        self._generate_batch.set_max_batch_size(settings.max_batch_size)
        self._generate_batch.set_batch_wait_timeout_s(settings.batch_wait_s)
        self.jobs: dict[str, _Job] = {}
        self.pid = os.getpid()
        log.info("worker replica %d: %s on %s engine, batches of up to %d", self.pid,
                 self.engine.model_id, self.engine.name, settings.max_batch_size)

    async def __call__(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        path = request.url.path.rstrip("/")
        if path.endswith(wire.INFO_PATH) and request.method == "GET":
            return JSONResponse(self._info())
        if path.endswith(wire.GENERATE_PATH) and request.method == "POST":
            return await self._generate(request)
        if path.endswith(wire.DECODE_PATH) and request.method == "POST":
            return await self._decode(request)
        if path.endswith(wire.CANCEL_PATH) and request.method == "POST":
            return await self._cancel(request)
        return _refuse(404, f"no such endpoint: {request.method} {request.url.path} "
                            f"(GET {wire.INFO_PATH}, POST {wire.GENERATE_PATH})")

    # -- requests ----------------------------------------------------------------------------

    def _refusal(self, request: Request) -> Response | None:
        if self.token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                reason = "missing bearer token" if not given else "wrong bearer token"
                return _refuse(401, f"{reason}: send Authorization: Bearer <the worker's token>")
            return None
        client = request.client.host if request.client else ""
        if not is_loopback(client):
            return _refuse(403, f"this worker has no token, so it serves loopback only (request "
                                f"from {client or 'unknown'}); start it with a token")
        return None

    def _info(self) -> dict[str, Any]:
        engine = self.engine
        return {"model_id": engine.model_id, "sample_rate": engine.sample_rate,
                "frame_rate": engine.frame_rate, "max_seconds": engine.max_seconds,
                "capabilities": sorted(engine.capabilities), "engine": engine.name,
                "replica_pid": self.pid, "max_batch_size": self.settings.max_batch_size}

    async def _generate(self, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > wire.MAX_BODY_BYTES:
            return _refuse(413, f"request of {len(raw)} bytes; at most {wire.MAX_BODY_BYTES}")
        try:
            data = json.loads(raw)
        except ValueError as err:
            return _refuse(400, f"the body is not JSON ({err})")
        try:
            job_id, spec = wire.parse_request(data)
            self._check(spec)
        except ValueError as err:
            return _refuse(400, str(err))
        fingerprint = wire.fingerprint(data)
        cached = await self.store.get.remote(job_id)
        if cached is not None:
            if cached[0] != fingerprint:
                return _refuse(409, f"job id {job_id} was used for a different request")
            return _stream(_replay(job_id, cached[1]))
        job = self.jobs.get(job_id)
        if job is not None and job.fingerprint != fingerprint:
            return _refuse(409, f"job id {job_id} is running a different request")
        if job is None or (job.cancel.is_set() and not job.finished):
            job = _Job(job_id, fingerprint, spec)
            self.jobs[job_id] = job
            job.task = asyncio.get_running_loop().create_task(self._run(job))
            resumed = False
        else:
            resumed = True
        return _stream(self._follow(job, resumed))

    async def _cancel(self, request: Request) -> Response:
        """An explicit cancel: this replica's job at once, any other's within CANCEL_POLL_S
        (they poll the store while they decode)."""
        try:
            data = json.loads(await request.body())
            job_id = wire.parse_job_id(data.get("job_id") if isinstance(data, dict) else None)
        except ValueError as err:
            return _refuse(400, f'the body must be {{"job_id": "..."}}: {err}')
        await self.store.cancel.remote(job_id)
        job = self.jobs.get(job_id)
        if job is not None:
            job.cancel.set()
        return JSONResponse({"job_id": job_id, "running_here": job is not None})

    async def _decode(self, request: Request) -> Response:
        """A long clip's joined codes to audio (RemoteEngine.decode_codes)."""
        decode = getattr(self.engine, "decode_codes", None)
        if decode is None:
            return _refuse(404, f"the {self.engine.name} engine cannot decode codes")
        raw = await request.body()
        try:
            data = json.loads(raw) if len(raw) <= wire.MAX_BODY_BYTES else None
            if not isinstance(data, dict) or set(data) != {"codes"}:
                raise wire.WireError('the body must be {"codes": int64 (variations, '
                                     'codebooks, frames)}')
            codes = wire.decode_array(data["codes"], "int64")
            if codes.ndim != 3 or codes.min(initial=0) < 0:
                raise wire.WireError(f"codes must be (variations, codebooks, frames) of "
                                     f"non-negative integers, got shape {codes.shape}")
            audio = await asyncio.to_thread(decode, codes)
        except (ValueError, IndexError, RuntimeError) as err:
            return _refuse(400, f"cannot decode these codes: {err}")
        return JSONResponse({"audio": wire.encode_array(audio, "float32")})

    def _check(self, spec: GenerationSpec) -> None:
        if spec.seconds > self.engine.max_seconds + 1e-6:
            raise wire.WireError(
                f"seconds: {spec.seconds:.2f} s is longer than {self.engine.model_id}'s window "
                f"of {self.engine.max_seconds:g} s")

    async def _follow(self, job: _Job, resumed: bool) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        job.listeners.add(queue)
        try:
            yield wire.line({"event": wire.ACCEPTED, "job_id": job.job_id, "cached": False,
                             "resumed": resumed, "replica_pid": self.pid})
            if job.lines is not None:
                for chunk in job.lines:
                    yield chunk
                return
            if job.progress:
                yield wire.line({"event": wire.PROGRESS, "fraction": job.progress})
            while (chunk := await queue.get()) is not None:
                yield chunk
        finally:
            # Also when the client went away (Serve cancels this generator): a job no client
            # waits for any more is cancelled, so the replica stops working for nobody.
            job.listeners.discard(queue)
            if not job.listeners and not job.finished:
                log.info("job %s: every client went away; cancelling it", job.job_id)
                job.cancel.set()

    # -- running jobs --------------------------------------------------------------------------

    async def _run(self, job: _Job) -> None:
        started = time.perf_counter()
        try:
            outcome: GeneratedAudio | BaseException = await self._generate_batch(job)
        except Exception as err:
            outcome = err
        if isinstance(outcome, GeneratedAudio):
            took = round(time.perf_counter() - started, 4)
            lines = wire.result_lines(job.job_id, outcome, generate_s=took)
            try:
                await self.store.put.remote(job.job_id, job.fingerprint, lines)
            except Exception:
                log.exception("job %s: the result store failed; the clip is not cached",
                              job.job_id)
        elif isinstance(outcome, Cancelled):
            # A warning so it reaches Ray's worker logs: where a cancel is seen to arrive.
            log.warning("job %s cancelled at %.0f %%: no client waits for it", job.job_id,
                        job.progress * 100)
            lines = [wire.error_line("cancelled", retry=True)]
        else:
            log.error("job %s failed: %s", job.job_id, outcome)
            lines = [wire.error_line(_reason(outcome), retry=_retryable(outcome))]
        job.lines = lines
        for queue in list(job.listeners):
            for chunk in lines:
                queue.put_nowait(chunk)
            queue.put_nowait(None)
        if self.jobs.get(job.job_id) is job:
            del self.jobs[job.job_id]

    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_S)
    async def _generate_batch(self, jobs: list[_Job]) -> list[GeneratedAudio | BaseException]:
        from bridge.engine.batch import generate_batch

        loop = asyncio.get_running_loop()
        progress = [lambda f, job=job: loop.call_soon_threadsafe(self._progress, job, f)
                    for job in jobs]
        if len(jobs) > 1:
            log.info("decoding %d jobs together: %s", len(jobs),
                     ", ".join(job.job_id for job in jobs))
        decoding = asyncio.ensure_future(asyncio.to_thread(
            generate_batch, self.engine, [j.spec for j in jobs], progress,
            [j.cancel for j in jobs]))
        while not decoding.done():
            await asyncio.wait([decoding], timeout=CANCEL_POLL_S)
            if not decoding.done():
                await self._apply_cancels(jobs)
        return decoding.result()

    async def _apply_cancels(self, jobs: list[_Job]) -> None:
        """Explicit cancels sent to another replica reach this one through the store."""
        try:
            cancelled = set(await self.store.cancelled.remote([j.job_id for j in jobs]))
        except Exception:
            log.exception("asking the result store for cancels failed")
            return
        for job in jobs:
            if job.job_id in cancelled:
                job.cancel.set()

    def _progress(self, job: _Job, fraction: float) -> None:
        # Every event is a chunk through Serve's proxy (a Ray object each): a few a second
        # tell a person as much as hundreds, and cost the clip's transfer far less.
        now = time.monotonic()
        if fraction < 1.0 and (fraction - job.progress < PROGRESS_STEP
                               or now - job.progress_at < PROGRESS_INTERVAL_S):
            return
        job.progress, job.progress_at = fraction, now
        chunk = wire.line({"event": wire.PROGRESS, "fraction": round(fraction, 4)})
        for queue in list(job.listeners):
            queue.put_nowait(chunk)


def _load(settings: WorkerSettings) -> Engine:
    from bridge import config as config_mod
    from bridge.engine.loader import load_engine

    config = config_mod.defaults().with_overrides({
        ("model", "name"): settings.model, ("model", "device"): settings.device,
        ("model", "engine"): settings.engine, ("model", "cpu_int8"): settings.cpu_int8,
    })
    return load_engine(config.model)


def _reason(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__


def _retryable(error: BaseException) -> bool:
    # ValueError/EngineError speak about the request itself: another try would fail alike.
    return not isinstance(error, (ValueError, RuntimeError)) or "out of" in str(error)


async def _replay(job_id: str, lines: list[bytes]) -> AsyncIterator[bytes]:
    yield wire.line({"event": wire.ACCEPTED, "job_id": job_id, "cached": True})
    for chunk in lines:
        yield chunk


def _stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type=wire.CONTENT_TYPE)


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(args: dict[str, Any] | WorkerSettings) -> Any:
    """The Serve application (``serve run bridge.worker.app:build_app model=DIR ...``)."""
    settings = args if isinstance(args, WorkerSettings) else WorkerSettings.from_args(args)
    actor: dict[str, Any] = {"num_cpus": settings.cpus_per_replica}
    if settings.gpus_per_replica:
        actor["num_gpus"] = settings.gpus_per_replica
    store = ResultStore.bind(settings.cache_items, settings.cache_bytes)
    return Generator.options(num_replicas=settings.replicas,
                             ray_actor_options=actor).bind(store, settings)

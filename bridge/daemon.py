"""The daemon: owns the session state, the event bus, the job queue and the input services.

Inputs (OSC, MIDI, inbox) are services with ``start()``/``stop()`` made by their module's
``create(daemon, section)``; they see the daemon only as ``bridge.session.control.Control``:
they change ``daemon.state``, offer tempi to ``daemon.tempo`` and call ``daemon.submit``. Outputs subscribe
to ``daemon.bus`` (StateChanged and JobEvent).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from bridge.config import Config, default_data_dir
from bridge.engine.base import CONTINUATION, MELODY, NEGATIVE_PROMPT, Engine, GenerationSpec
from bridge.engine.style_train import StyleTrainer, read_clips
from bridge.engine.styles import list_styles, styles_root
from bridge.events import ErrorReport, EventBus, JobInfo
from bridge.jobs.conditioning import check_audio_paths
from bridge.jobs.pipeline import Pipeline, check_duration, prepare_conditioning, styled
from bridge.jobs.queue import JobQueue
from bridge.jobs.training import TrainingTask
from bridge.midi.learn import check_learnable
from bridge.musical_time import Meter
from bridge.post import tempo_fit
from bridge.request import GenerationRequest
from bridge.session.control import LearnerFn
from bridge.session.state import SessionState
from bridge.session.tempo_source import TempoArbiter

log = logging.getLogger(__name__)


class Service(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def default_request(config: Config) -> GenerationRequest:
    """The request a fresh session starts from: the config's [generation] and [prompt]."""
    g = config.generation
    return GenerationRequest(
        prompt=g.prompt, bpm=g.bpm, bars=g.bars, meter=Meter.parse(g.meter), key=g.key,
        top_k=g.top_k, top_p=g.top_p, temperature=g.temperature, cfg=g.cfg,
        variations=g.variations, style_strength=g.style_strength,
        seed=None if g.seed == -1 else g.seed,
        negative_prompt=g.negative_prompt, quality=config.prompt.quality,
    )


def check_supported(request: GenerationRequest, engine: Engine, *,
                    max_seconds: float | None = None, decode: bool = True,
                    audio_folders: tuple[Path, ...] | None = None) -> list[str]:
    """Refuse, before queueing, what the loaded model cannot honour, and audio files it
    cannot use (missing, unreadable, empty, too short, silent). Returns warnings about what
    will be ignored (already logged); the caller shows them to the person asking."""
    warnings = []
    needs = []
    if request.audio_prompt:
        needs.append((CONTINUATION, "audio_prompt (continuation)"))
    if request.melody_audio:
        needs.append((MELODY, "melody_audio (needs a melody checkpoint such as "
                              "facebook/musicgen-melody)"))
    if request.negative_prompt and request.cfg <= 1.0:
        warnings.append(f"negative prompt {request.negative_prompt[:80]!r} has no effect with "
                        f"guidance (cfg) {request.cfg:g}: raise cfg above 1 to steer away from it")
        log.warning("%s", warnings[-1])
    if request.negative_prompt and request.cfg > 1.0:
        needs.append((NEGATIVE_PROMPT, "negative_prompt"))
    for capability, what in needs:
        if capability not in engine.capabilities:
            raise ValueError(f"the loaded model/engine ({engine.model_id}, {engine.name}) "
                             f"cannot honour {what}")
    check_duration(request, engine, max_seconds)  # max_seconds: [fit] max_seconds
    if not request.prompt.strip() and not request.audio_prompt:
        raise ValueError("prompt is empty: say what to generate (e.g. /musicgen/prompt "
                         "\"dusty funk drums\")")
    if audio_folders is not None:  # where audio may be read from; before any decoding
        check_audio_paths(request, audio_folders)
    if decode and (request.audio_prompt or request.melody_audio):
        prepare_conditioning(request, engine)
    return warnings


def _warm_up_tempo_fit() -> None:
    try:
        tempo_fit.warm_up()
    except Exception:
        log.exception("tempo-fit warm-up failed; the first clip will be slower")


class Daemon:
    def __init__(self, config: Config, engine: Engine, *, out_dir: Path | None = None,
                 journal: bool = True, audio_folders: tuple[Path, ...] = ()) -> None:
        self.config = config
        self.engine = engine
        self.out_dir = Path(out_dir) if out_dir is not None else config.output_dir
        # Where audio prompts may be read from: a request (from a shared folder, a script, the
        # network) must not make the daemon re-synthesise any audio file on the machine into
        # the project folder.
        self.audio_folders = (self.out_dir,
                              *(Path(f).expanduser() for f in config.generation.audio_folders),
                              *audio_folders)
        self.bus = EventBus()
        self.state = SessionState(default_request(config), publish=self.bus.publish)
        self.tempo = TempoArbiter(self.state, config.midi.tempo_source)
        self.styles_root = styles_root(default_data_dir())
        self.pipeline = Pipeline(engine, self.out_dir, output=config.output, fit=config.fit,
                                 template=config.prompt.template,
                                 styles_root=self.styles_root)
        self.queue = JobQueue(self.pipeline.run, self.bus.publish,
                              max_pending=config.queue.max_pending,
                              journal_path=config.journal_path if journal else None)
        self.services: list[Service] = []
        self._stopped = threading.Event()
        # (job id, request) of the latest accepted submission: what /musicgen/vary re-runs.
        self.last_submitted: tuple[int, GenerationRequest] | None = None
        self._learner: LearnerFn | None = None
        self._fit_warm_up: threading.Thread | None = None

    def default_request(self) -> GenerationRequest:
        return default_request(self.config)

    def check_audio(self, request: GenerationRequest) -> None:
        """Refuse (AudioInputError) audio files outside the allowed folders, missing, not
        regular or too large, without decoding them: cheap enough for an input thread."""
        check_audio_paths(request, self.audio_folders)

    def submit(self, request: GenerationRequest | None = None, *,
               origin: str | None = None) -> int:
        """Queue ``request`` (default: a snapshot of the session state); returns the job id.

        Raises ValueError (including QueueFull) with a message meant for the person asking.
        ``origin``: where the request came from (a request file); one already queued returns
        its job's id (a daemon killed before it moved the file finds it again on restart).
        """
        if origin and (existing := self.queue.job_for(origin)) is not None:
            return existing
        request = request if request is not None else self.state.snapshot()
        warnings = check_supported(request, self.engine, max_seconds=self.config.fit.max_seconds,
                                   audio_folders=self.audio_folders)
        if styled(request):  # a missing style or one for another model: refused now
            if self.pipeline.styles is None:
                raise ValueError(f"the {self.engine.name} engine cannot apply styles")
            self.pipeline.styles.switch.check(request.style)
        job_id = self.queue.submit(request, origin)
        self.last_submitted = (job_id, request)
        for warning in warnings:  # to /musicgen/error at the feedback targets; the job runs
            self.bus.publish(ErrorReport(f"job {job_id}", f"warning: {warning}"))
        return job_id

    def cancel(self, job_id: int | None = None) -> bool:
        return self.queue.cancel(job_id)

    def styles(self) -> list[str]:
        return [info.name for info in list_styles(self.styles_root)]

    def train_style(self, name: str, clips: list[str], *, description: str = "",
                    client_id: str = "") -> None:
        """Queue training style ``name`` on ``clips`` (run between generation jobs, one step
        at a time); the clips are checked now, so bad ones are refused with reasons at once."""
        styles = self.pipeline.styles
        if styles is None:
            raise ValueError(f"the {self.engine.name} engine cannot train styles")
        trainer = StyleTrainer(styles.reference, name, clips, self.styles_root,
                               description=description)
        read_clips(trainer.clip_paths, styles.reference.sample_rate)
        # Fingerprint the base model now, before training swaps modules on the worker.
        styles.switch.fingerprint  # noqa: B018
        self.queue.submit_task(TrainingTask(trainer, self.bus.publish, client_id=client_id))

    def cancel_training(self, name: str) -> bool:
        return self.queue.cancel_task(f"style {name}")

    def jobs(self) -> list[JobInfo]:
        return self.queue.jobs()

    def register_learner(self, learner: LearnerFn | None) -> None:
        self._learner = learner

    def start_learn(self, param: str) -> None:
        learner = self._learner
        if learner is None:
            check_learnable(param)  # a wrong parameter is the first thing to fix
            raise ValueError("MIDI learn needs MIDI input, which is off: set [midi] enabled = "
                             "true (if it is, the log says why MIDI could not start)")
        learner(param)

    def warm_up(self) -> float:
        """Run one tiny generation so the first clip does not pay for lazy weight loading and
        first-call set-up (~16 s for musicgen-small on a CPU). Returns the seconds it took."""
        started = time.perf_counter()
        spec = GenerationSpec(text="warm-up", seconds=0.1, top_k=250, top_p=0.0,
                              temperature=1.0, cfg=3.0, seed=0)
        self.engine.generate(spec, lambda fraction: None, threading.Event())
        took = time.perf_counter() - started
        log.info("model warm in %.1f s", took)
        return took

    def add_service(self, service: Service | None) -> None:
        if service is not None:
            self.services.append(service)

    def start(self) -> None:
        """Start the inputs, then the job worker. Inputs first: when one cannot start (the OSC
        port is busy) the ones started are stopped again and no journaled job has started or
        had an attempt counted."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.queue.resume()  # journaled jobs are queued (not run) before inputs report status
        started: list[Service] = []
        try:
            for service in self.services:
                service.start()
                started.append(service)
        except BaseException:
            for service in reversed(started):
                try:
                    service.stop()
                except Exception:
                    log.exception("stopping %r after a failed start failed", service)
            self._stopped.set()
            self.queue.stop()  # releases the journal; nothing ran
            raise
        if self.config.fit.tempo_lock:
            # librosa compiles on first use (seconds); pay that now, not on the first clip.
            self._fit_warm_up = threading.Thread(target=_warm_up_tempo_fit, name="fit-warm-up",
                                                 daemon=True)
            self._fit_warm_up.start()
        self.queue.start()
        log.info("musicgen-bridge serving: model %s on %s engine, clips into %s",
                 self.engine.model_id, self.engine.name, self.out_dir)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:
                log.exception("stopping %r failed", service)
        self.queue.stop()
        if self._fit_warm_up is not None:
            # An import still running on a daemon thread when the interpreter exits prints
            # "can't register atexit after shutdown": let it finish (seconds; bounded).
            self._fit_warm_up.join(timeout=10.0)
        log.info("musicgen-bridge stopped")

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

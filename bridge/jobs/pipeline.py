"""What one job does: request -> prompt -> engine -> finishing -> clip files.

The job queue calls ``Pipeline.run`` on its worker thread; the CLI and the daemon share it.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from bridge.config import SETTINGS, Config
from bridge.engine.base import Engine, EngineError, GenerationSpec
from bridge.engine.styles import StyledEngine
from bridge.engine.windows import WindowedEngine, can_window
from bridge.events import ClipInfo
from bridge.jobs import conditioning
from bridge.jobs.queue import JobContext
from bridge.musical_time import clip_samples, clip_seconds
from bridge.output.settings import OutputSettings
from bridge.output.sidecar import build_sidecar
from bridge.output.writer import ClipWriter
from bridge.params import SEED_MAX
from bridge.post import tempo_fit
from bridge.post.finishing import Grid, finish_to_grid
from bridge.post.loop import DEFAULT_CROSSFADE_S
from bridge.prompt import build_prompt
from bridge.request import GenerationRequest

log = logging.getLogger(__name__)


def full_prompt(request: GenerationRequest, config: Config) -> str:
    return build_prompt(request.prompt, bpm=request.bpm, meter=request.meter, key=request.key,
                        quality=request.quality, template=config.prompt.template)


# [fit] max_seconds: the longest clip, generated in windows past the model's window.
DEFAULT_MAX_SECONDS: float = next(s.default for s in SETTINGS
                                  if (s.section, s.key) == ("fit", "max_seconds"))


def check_duration(request: GenerationRequest, engine: Engine,
                   max_seconds: float | None = None) -> float:
    """The clip's length in seconds; refuse a clip longer than ``max_seconds`` ([fit]
    max_seconds, default 120 s), or longer than one window when it cannot be made in windows
    (``window_limit``)."""
    seconds = clip_seconds(request.bars, request.bpm, request.meter)
    longest = DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
    what = f"{request.bars} bars at {request.bpm:g} BPM in {request.meter} is {seconds:.1f} s"
    if seconds > longest:
        raise EngineError(
            f"{what}, longer than the longest clip allowed ({longest:g} s); ask for fewer "
            "bars, or raise max_seconds under [fit] in the config file")
    if seconds > engine.max_seconds and (reason := window_limit(request, engine)):
        raise EngineError(
            f"{what}, longer than the {engine.max_seconds:.0f} s {engine.model_id} can "
            f"generate at once, and {reason}; ask for fewer bars")
    return seconds


def window_limit(request: GenerationRequest, engine: Engine) -> str | None:
    """Why ``request`` must fit one model window on ``engine``; None: it may be generated in
    windows (bridge.engine.windows)."""
    if not can_window(engine):
        return (f"the {engine.name} engine cannot continue past its window with this model "
                "(the transformers engine can, with mono models)")
    if request.audio_prompt:
        return "an audio prompt is continued within one window"
    if request.melody_audio:
        return "a melody conditions one window"
    return None


def generation_seconds(request: GenerationRequest, engine: Engine, clip_s: float, *,
                       tempo_lock: bool, windows: bool = False) -> float:
    """Audio to ask the engine for: the clip plus what tempo lock and loop mode trim away.

    Capped at the engine's window unless ``windows`` (the clip may be generated in windows):
    the fit then pads a shortfall with silence rather than refusing a clip that fits the
    window by itself.
    """
    seconds = clip_s
    if tempo_lock:
        seconds += tempo_fit.extra_seconds(request.bpm, request.meter, clip_s)
    if request.loop:
        seconds += DEFAULT_CROSSFADE_S
    return seconds if windows else min(seconds, engine.max_seconds)


def use_tempo_lock(request: GenerationRequest, config: Config | None) -> bool:
    """The request's tempo_lock, else the config's [fit] setting; a continuation is left
    alone unless it asks: it starts sample-exactly where its prompt ends, and tempo lock would
    move its first downbeat. ``config`` None: the setting is taken as off."""
    if request.tempo_lock is not None:
        return request.tempo_lock
    return bool(config is not None and config.fit.tempo_lock and not request.audio_prompt)


def prepare_conditioning(request: GenerationRequest, engine: Engine,
                         config: Config | None = None) -> conditioning.Conditioning:
    """Load and check the request's audio prompt and melody, planned for its clip
    (raises AudioInputError, a ValueError, naming the file and the fix)."""
    clip_s = check_duration(request, engine, config.fit.max_seconds if config else None)
    seconds = generation_seconds(request, engine, clip_s,
                                 tempo_lock=use_tempo_lock(request, config))
    return conditioning.prepare(request, engine, clip_s=clip_s, gen_s=seconds)


def styled(request: GenerationRequest) -> bool:
    """Whether the request applies a style (a name and a strength above 0)."""
    return bool(request.style) and request.style_strength > 0


class Pipeline:
    def __init__(self, config: Config, engine: Engine, out_dir: Path, *,
                 styles_root: Path | None = None) -> None:
        self.config = config
        self.engine = engine
        self.settings = OutputSettings.from_config(config)
        self.writer = ClipWriter(out_dir, self.settings)
        # Styles (LoRA adapters) applied per job; an unstyled job runs on ``engine`` as is.
        self.styles: StyledEngine | None = None
        if styles_root is not None and hasattr(getattr(engine, "reference", engine), "model"):
            self.styles = StyledEngine(engine, styles_root)
        inner: Engine = self.styles if self.styles is not None else engine
        # Clips past the model's window (up to [fit] max_seconds) are made in windows.
        self.windowed = WindowedEngine(inner) if can_window(inner) else None

    def run(self, ctx: JobContext) -> tuple[ClipInfo, ...]:
        request = ctx.request
        clip_s = check_duration(request, self.engine, self.config.fit.max_seconds)
        lock = use_tempo_lock(request, self.config)
        windows = self.windowed is not None and window_limit(request, self.engine) is None
        seconds = generation_seconds(request, self.engine, clip_s, tempo_lock=lock,
                                     windows=windows)
        cond = conditioning.prepare(request, self.engine, clip_s=clip_s, gen_s=seconds)
        seed = request.seed if request.seed is not None else secrets.randbelow(SEED_MAX + 1)
        text = full_prompt(request, self.config)
        if styled(request):
            if self.styles is None:
                raise EngineError(f"style {request.style!r} cannot be used with the "
                                  f"{self.engine.name} engine; leave the style out")
            # The adapter learned the sound with its name in the text (style_train).
            text = f"{text}, {request.style}"
        log.info("job %d: %r, %d x %.2f s (clip %.2f s), seed %d", ctx.job_id, text,
                 request.variations, seconds, clip_s, seed)
        spec = GenerationSpec(
            text=text, top_k=request.top_k, top_p=request.top_p,
            temperature=request.temperature, cfg=request.cfg, seed=seed,
            variations=request.variations, negative_prompt=request.negative_prompt,
            style=request.style if styled(request) else "",
            style_strength=request.style_strength if styled(request) else 0.0,
            **cond.spec_fields(),
        )
        engine = self.windowed if windows and self.windowed is not None else (
            self.styles if self.styles is not None else self.engine)
        generated = engine.generate(spec, ctx.progress, ctx.cancel)
        ctx.writing()
        rate = self.settings.sample_rate
        n_samples = clip_samples(request.bars, request.bpm, request.meter, rate)
        clips = []
        for index, audio in enumerate(generated.audio, start=1):
            grid = Grid(request.bpm, request.meter, request.bars) if lock else None
            finished, fit = finish_to_grid(audio, generated.sample_rate, n_samples,
                                           self.settings, grid=grid, loop=request.loop)
            extra = {"loop": request.loop, **(tempo_fit.to_sidecar(fit) if fit else {}),
                     **cond.sidecar(request)}
            if fit is not None and not fit.applied:
                log.info("job %d v%d: timing left alone: %s", ctx.job_id, index, fit.reason)
            sidecar = build_sidecar(
                request=request, full_prompt=text, seed=seed, model=self.engine.model_id,
                settings=self.settings, frames=n_samples, job_id=ctx.job_id, variation=index,
                extra=extra,
            )
            paths = self.writer.write(finished, sidecar, slug_source=request.prompt)
            clips.append(ClipInfo(
                path=str(paths.audio), sidecar=str(paths.sidecar), job_id=ctx.job_id,
                variation=index, duration_s=n_samples / rate, position_s=request.position_s,
                client_id=request.client_id,
            ))
        return tuple(clips)


"""What one job does: request -> prompt -> engine -> finishing -> clip files.

The job queue calls ``Pipeline.run`` on its worker thread; the CLI and the daemon share it.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from bridge.config import Config
from bridge.engine.base import Engine, EngineError, GenerationSpec
from bridge.jobs.events import ClipInfo
from bridge.jobs.queue import JobContext
from bridge.musical_time import clip_samples, clip_seconds
from bridge.output.sidecar import build_sidecar
from bridge.output.writer import ClipWriter
from bridge.params import SEED_MAX
from bridge.post import tempo_fit
from bridge.post.finishing import Grid, OutputSettings, finish_to_grid
from bridge.post.loop import DEFAULT_CROSSFADE_S
from bridge.prompt import build_prompt
from bridge.request import GenerationRequest

log = logging.getLogger(__name__)


def full_prompt(request: GenerationRequest, config: Config) -> str:
    return build_prompt(request.prompt, bpm=request.bpm, meter=request.meter, key=request.key,
                        quality=request.quality, template=config.prompt.template)


def check_duration(request: GenerationRequest, engine: Engine) -> float:
    """Seconds of audio the request needs from the engine; refuse what one window cannot make."""
    seconds = clip_seconds(request.bars, request.bpm, request.meter)
    if seconds > engine.max_seconds:
        raise EngineError(
            f"{request.bars} bars at {request.bpm:g} BPM in {request.meter} is {seconds:.1f} s, "
            f"longer than the {engine.max_seconds:.0f} s {engine.model_id} can generate at once; "
            f"ask for fewer bars"
        )
    return seconds


def generation_seconds(request: GenerationRequest, engine: Engine, clip_s: float, *,
                       tempo_lock: bool) -> float:
    """Audio to ask the engine for: the clip plus what tempo lock and loop mode trim away.

    Capped at the engine's window: the fit then pads a shortfall with silence rather than
    refusing a clip that fits the window by itself.
    """
    seconds = clip_s
    if tempo_lock:
        seconds += tempo_fit.extra_seconds(request.bpm, request.meter, clip_s)
    if request.loop:
        seconds += DEFAULT_CROSSFADE_S
    return min(seconds, engine.max_seconds)


class Pipeline:
    def __init__(self, config: Config, engine: Engine, out_dir: Path) -> None:
        self.config = config
        self.engine = engine
        self.settings = OutputSettings.from_config(config)
        self.writer = ClipWriter(out_dir, self.settings)

    def run(self, ctx: JobContext) -> tuple[ClipInfo, ...]:
        request = ctx.request
        clip_s = check_duration(request, self.engine)
        lock = self.config.fit.tempo_lock if request.tempo_lock is None else request.tempo_lock
        seconds = generation_seconds(request, self.engine, clip_s, tempo_lock=lock)
        seed = request.seed if request.seed is not None else secrets.randbelow(SEED_MAX + 1)
        text = full_prompt(request, self.config)
        log.info("job %d: %r, %d x %.2f s (clip %.2f s), seed %d", ctx.job_id, text,
                 request.variations, seconds, clip_s, seed)
        spec = GenerationSpec(
            text=text, seconds=seconds, top_k=request.top_k, top_p=request.top_p,
            temperature=request.temperature, cfg=request.cfg, seed=seed,
            variations=request.variations, negative_prompt=request.negative_prompt,
        )
        generated = self.engine.generate(spec, ctx.progress, ctx.cancel)
        ctx.writing()
        rate = self.settings.sample_rate
        n_samples = clip_samples(request.bars, request.bpm, request.meter, rate)
        clips = []
        for index, audio in enumerate(generated.audio, start=1):
            grid = Grid(request.bpm, request.meter, request.bars) if lock else None
            finished, fit = finish_to_grid(audio, generated.sample_rate, n_samples,
                                           self.settings, grid=grid, loop=request.loop)
            extra = {"loop": request.loop, **(tempo_fit.to_sidecar(fit) if fit else {})}
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


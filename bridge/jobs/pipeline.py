"""What one job does: request -> prompt -> engine -> finishing -> clip files.

The job queue calls ``Pipeline.run`` on its worker thread; the CLI and the daemon share it.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

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
from bridge.post.settings import FitSettings
from bridge.prompt import DEFAULT_TEMPLATE, build_prompt
from bridge.request import GenerationRequest

log = logging.getLogger(__name__)


def full_prompt(request: GenerationRequest, template: str = DEFAULT_TEMPLATE) -> str:
    return build_prompt(request.prompt, bpm=request.bpm, meter=request.meter, key=request.key,
                        quality=request.quality, template=template)


# [fit] max_seconds: the longest clip, generated in windows past the model's window.
DEFAULT_MAX_SECONDS: float = FitSettings().max_seconds


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


def use_tempo_lock(request: GenerationRequest, fit: FitSettings | None) -> bool:
    """The request's tempo_lock, else the [fit] setting; a continuation is left alone unless
    it asks: it starts sample-exactly where its prompt ends, and tempo lock would move its
    first downbeat. ``fit`` None: the setting is taken as off."""
    if request.tempo_lock is not None:
        return request.tempo_lock
    return bool(fit is not None and fit.tempo_lock and not request.audio_prompt)


def prepare_conditioning(request: GenerationRequest, engine: Engine,
                         fit: FitSettings | None = None) -> conditioning.Conditioning:
    """Load and check the request's audio prompt and melody, planned for its clip
    (raises AudioInputError, a ValueError, naming the file and the fix)."""
    clip_s = check_duration(request, engine, fit.max_seconds if fit else None)
    seconds = generation_seconds(request, engine, clip_s,
                                 tempo_lock=use_tempo_lock(request, fit))
    return conditioning.prepare(request, engine, clip_s=clip_s, gen_s=seconds)


def use_retries(request: GenerationRequest, fit: FitSettings, tempo_lock: bool) -> int:
    """How many times a clip that cannot be locked is generated again: the request's, else
    [fit] retries; none without tempo lock (nothing to judge the clip by)."""
    if not tempo_lock:
        return 0
    if request.retries is not None:
        return request.retries
    return fit.retries


def _why_not_locked(fits: list[Any]) -> str | None:
    """Why this attempt's clips are not confidently on the grid; None when every one is."""
    for index, fit in enumerate(fits, start=1):
        if fit is None:
            continue
        if not fit.applied:
            return f"variation {index}: {fit.reason}"
        if fit.downbeat_kept_nearest:
            return (f"variation {index}: downbeat unclear (confidence "
                    f"{fit.downbeat_confidence:.2f}), kept on the nearest beat")
    return None


def styled(request: GenerationRequest) -> bool:
    """Whether the request applies a style (a name and a strength above 0)."""
    return bool(request.style) and request.style_strength > 0


class Pipeline:
    """One job, start to finish; handed its settings: [output] for the clip file, [fit] for
    the length and the grid, [prompt] template for the words the model reads."""

    def __init__(self, engine: Engine, out_dir: Path, *, output: OutputSettings,
                 fit: FitSettings, template: str = DEFAULT_TEMPLATE,
                 styles_root: Path | None = None) -> None:
        self.engine = engine
        self.settings = output
        self.fit = fit
        self.template = template
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
        clip_s = check_duration(request, self.engine, self.fit.max_seconds)
        lock = use_tempo_lock(request, self.fit)
        windows = self.windowed is not None and window_limit(request, self.engine) is None
        seconds = generation_seconds(request, self.engine, clip_s, tempo_lock=lock,
                                     windows=windows)
        cond = conditioning.prepare(request, self.engine, clip_s=clip_s, gen_s=seconds)
        first_seed = request.seed if request.seed is not None else \
            secrets.randbelow(SEED_MAX + 1)
        text = full_prompt(request, self.template)
        if styled(request):
            if self.styles is None:
                raise EngineError(f"style {request.style!r} cannot be used with the "
                                  f"{self.engine.name} engine; leave the style out")
            # The adapter learned the sound with its name in the text (style_train).
            text = f"{text}, {request.style}"
        retries = use_retries(request, self.fit, lock)
        log.info("job %d: %r, %d x %.2f s (clip %.2f s), seed %d", ctx.job_id, text,
                 request.variations, seconds, clip_s, first_seed)
        engine = self.windowed if windows and self.windowed is not None else (
            self.styles if self.styles is not None else self.engine)
        n_samples = clip_samples(request.bars, request.bpm, request.meter,
                                 self.settings.sample_rate)
        grid = Grid(request.bpm, request.meter, request.bars) if lock else None
        dropped: list[str] = []
        for attempt in range(1, retries + 2):
            # The next seed for each retry, so a seeded job stays reproducible.
            seed = (first_seed + attempt - 1) % (SEED_MAX + 1)
            spec = GenerationSpec(
                text=text, top_k=request.top_k, top_p=request.top_p,
                temperature=request.temperature, cfg=request.cfg, seed=seed,
                variations=request.variations, negative_prompt=request.negative_prompt,
                style=request.style if styled(request) else "",
                style_strength=request.style_strength if styled(request) else 0.0,
                **cond.spec_fields(),
            )
            generated = engine.generate(spec, ctx.progress, ctx.cancel)
            # Sampling is done: 100 % now, so the seconds of finishing (fit, loudness) show as
            # their own stage instead of a bar stuck at 98 %; "writing" once files are written.
            ctx.progress(1.0)
            finished = [finish_to_grid(audio, generated.sample_rate, n_samples, self.settings,
                                       grid=grid, loop=request.loop)
                        for audio in generated.audio]
            why = _why_not_locked([fit for _, fit in finished])
            if why is None or attempt > retries:
                break
            dropped.append(f"attempt {attempt} (seed {seed}): {why}")
            log.info("job %d: %s; generating again with seed %d", ctx.job_id, dropped[-1],
                     (seed + 1) % (SEED_MAX + 1))
            ctx.retrying(attempt + 1, why)
        attempt_info: dict[str, Any] = {}
        if retries:
            attempt_info = {"attempt": attempt, "attempt_reason": "; ".join(
                dropped + ["kept: " + ("locked" if why is None else f"retries used up ({why})")])}
        clips: list[ClipInfo] = []
        written: list[tuple[Any, dict[str, Any]]] = []
        try:
            self._write_all(ctx, request, finished, cond, text, seed, n_samples, attempt_info,
                            clips, written)
        except BaseException:
            # All or nothing: a job whose variation 2 cannot be written leaves no variation 1
            # behind (on disk or in the manifest) while it reports failed with no clip.
            for paths, _ in written:
                self.writer.discard(paths)
            raise
        for paths, sidecar in written:
            self.writer.append_manifest(paths, sidecar)
        return tuple(clips)

    def _write_all(self, ctx: JobContext, request: GenerationRequest,
                   finished: list[tuple[Any, Any]], cond: conditioning.Conditioning, text: str,
                   seed: int, n_samples: int, attempt_info: dict[str, Any],
                   clips: list[ClipInfo], written: list[tuple[Any, dict[str, Any]]]) -> None:
        rate = self.settings.sample_rate
        for index, (audio, fit) in enumerate(finished, start=1):
            extra = {"loop": request.loop, **(tempo_fit.to_sidecar(fit) if fit else {}),
                     **cond.sidecar(request), **attempt_info}
            if fit is not None and not fit.applied:
                log.info("job %d v%d: timing left alone: %s", ctx.job_id, index, fit.reason)
            sidecar = build_sidecar(
                request=request, full_prompt=text, seed=seed, model=self.engine.model_id,
                settings=self.settings, frames=n_samples, job_id=ctx.job_id, variation=index,
                extra=extra,
            )
            if index == 1:
                ctx.writing()
            paths = self.writer.write(audio, sidecar, slug_source=request.prompt,
                                      manifest=False)
            written.append((paths, sidecar))
            clips.append(ClipInfo(
                path=str(paths.audio), sidecar=str(paths.sidecar), job_id=ctx.job_id,
                variation=index, duration_s=n_samples / rate, position_s=request.position_s,
                client_id=request.client_id,
            ))


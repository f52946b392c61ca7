"""Training a style: LoRA adapters on MusicGen's decoder from 5-50 of the user's clips.

``StyleTrainer`` works one optimizer step at a time (``step()``), so the command line runs it
in a loop and the daemon runs it between generation jobs, never holding the model longer than
one step. The recipe, for small sets (about ten clips):

- each clip is read (any rate, mono or stereo), mixed to mono, resampled to the model's rate
  and encoded with the model's own EnCodec; its codes are laid out in MusicGen's delay pattern
  (codebook k shifted k steps, pad elsewhere) as the labels transformers' forward computes the
  loss on (shifted right inside the model, pad ignored);
- text: the description plus the style's name, the same for every clip;
- one clip per step (batch 1: clips differ in length), AdamW, a fixed seed; one step in ten
  sees the null text instead (condition dropout, as MusicGen itself was trained), so
  guidance's unconditioned pass learns the style too; a held-out clip
  (one in ten, at least one) is scored after every epoch, and training stops when that score
  has not improved for ``patience`` epochs, keeping the best epoch's adapter (small sets
  overfit fast);
- a checkpoint after every epoch in ``<root>/.<name>.training``: a crash or Ctrl-C resumes
  at the last finished epoch with the same clips and settings;
- the result is written into ``<root>/.<name>.partial`` and renamed to ``<root>/<name>``, so
  a full disk or a crash never leaves half an adapter under the style's name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from bridge.engine.styles import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    MANIFEST,
    MANIFEST_VERSION,
    TARGET_MODULES,
    StyleError,
    StyleInfo,
    activate,
    adapter_state,
    add_adapter,
    check_name,
    deactivate,
    load_adapter_state,
    model_fingerprint,
    peft,
    read_style,
    remove_adapter,
)

log = logging.getLogger(__name__)

MIN_CLIPS, MAX_CLIPS = 5, 50
MIN_SECONDS, MAX_SECONDS = 5.0, 30.0
# Peak below -60 dBFS: nothing to learn from (a muted track, a wrong bus).
SILENCE_PEAK = 10 ** (-60 / 20)
_TRAINING_PREFIX = "__training__"


@dataclass(frozen=True)
class TrainSettings:
    """Defaults for about ten clips: a few epochs, early stop, fixed seed."""

    epochs: int = 8
    learning_rate: float = 2e-4
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    patience: int = 2
    seed: int = 1234
    grad_clip: float = 1.0
    text_dropout: float = 0.1  # share of steps trained on the null (unconditioned) text


@dataclass(frozen=True)
class Clip:
    path: str
    sha256: str
    seconds: float
    codes: np.ndarray = field(repr=False)  # int64 (codebooks, frames)


@dataclass(frozen=True)
class StepReport:
    step: int  # optimizer steps done, over every epoch
    total: int  # the most steps this run can take (early stop may end it sooner)
    epoch: int  # 1-based
    loss: float  # this step's training loss
    heldout: float | None = None  # set on an epoch's last step


def _problem(path: str, reason: str) -> str:
    return f"{path}: {reason}"


def read_clips(paths: Sequence[str | os.PathLike[str]], sample_rate: int
               ) -> list[tuple[str, str, np.ndarray]]:
    """(path, sha256, mono float32 at ``sample_rate``) for every clip; StyleError listing
    every clip that cannot be used and why (too few, too many, unreadable, corrupt, too
    short, too long, silent)."""
    files = [str(p) for p in paths]
    problems: list[str] = []
    if not MIN_CLIPS <= len(files) <= MAX_CLIPS:
        problems.append(f"a style needs {MIN_CLIPS} to {MAX_CLIPS} clips, got {len(files)}")
    if len(set(files)) != len(files):
        problems.append("the same clip is given more than once")
    clips = []
    for path in files:
        try:
            raw = Path(path).read_bytes()
        except OSError as err:
            problems.append(_problem(path, f"unreadable ({err.strerror or err})"))
            continue
        try:
            with sf.SoundFile(path) as f:
                rate = f.samplerate
                data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            problems.append(_problem(path, f"corrupt or not audio ({err}); export it again "
                                           "as wav, flac or aiff"))
            continue
        seconds = len(data) / rate if rate else 0.0
        if not np.all(np.isfinite(data)):
            problems.append(_problem(path, "corrupt: holds NaN or infinite samples"))
        elif seconds < MIN_SECONDS:
            problems.append(_problem(path, f"too short ({seconds:.1f} s; clips must last "
                                           f"{MIN_SECONDS:g}-{MAX_SECONDS:g} s)"))
        elif seconds > MAX_SECONDS + 0.05:
            problems.append(_problem(path, f"too long ({seconds:.1f} s; cut it into clips of "
                                           f"{MIN_SECONDS:g}-{MAX_SECONDS:g} s)"))
        elif float(np.max(np.abs(data))) < SILENCE_PEAK:
            problems.append(_problem(path, "silent (peak below -60 dBFS)"))
        else:
            mono = data.mean(axis=1)
            if rate != sample_rate:
                mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
            clips.append((path, hashlib.sha256(raw).hexdigest(),
                          np.ascontiguousarray(mono[:int(MAX_SECONDS * sample_rate)],
                                               dtype=np.float32)))
    if problems:
        raise StyleError("cannot train on these clips: " + "; ".join(problems))
    return clips


def delayed_labels(codes: np.ndarray, pad: int) -> np.ndarray:
    """Codes (K, T) in MusicGen's delay pattern as labels (T + K - 1, K): codebook k's frame
    t at step t + k, ``pad`` where a codebook has nothing yet or any more (the loss skips
    pad, and generate lays its tokens out the same way)."""
    k, t = codes.shape
    labels = np.full((t + k - 1, k), pad, dtype=np.int64)
    for book in range(k):
        labels[book:book + t, book] = codes[book]
    return labels


class StyleTrainer:
    """Trains style ``name`` on ``engine``'s model (a TransformersEngine), step by step."""

    def __init__(self, engine: Any, name: str, clip_paths: Sequence[str | os.PathLike[str]],
                 root: Path, *, description: str = "",
                 settings: TrainSettings | None = None) -> None:
        self.name = check_name(name)
        self.engine = engine
        self.model = engine.model
        self.root = Path(root)
        self.description = description.strip()
        self.settings = settings or TrainSettings()
        self.text = f"{self.description}, {self.name}" if self.description else self.name
        self.adapter = _TRAINING_PREFIX + self.name
        self.work = self.root / f".{self.name}.training"
        self.clip_paths = [str(Path(p).expanduser().resolve()) for p in clip_paths]
        self.train_losses: list[float] = []  # per epoch, mean
        self.heldout_losses: list[float] = []
        self.step_losses: list[float] = []  # this epoch's
        self.epoch = 0  # finished epochs
        self.steps = 0
        self.best_epoch = 0
        self.stopped_early = False
        self.resumed_from = 0
        self._order: list[int] = []
        self._cursor = 0
        self._best_state: dict[str, Any] | None = None
        self._prepared = False
        self._read: list[tuple[str, str, np.ndarray]] | None = None  # prepare_step's progress
        self._codes: list[np.ndarray] = []
        self.started = time.perf_counter()

    # -- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check and encode the clips, add the adapter, resume a checkpoint of the same run."""
        while not self.prepare_step():
            pass

    def prepare_step(self) -> bool:
        """One bounded piece of ``prepare`` (reading the clips, then encoding one clip per
        call, then the set-up); True once prepared. The daemon calls it between jobs."""
        if self._prepared:
            return True
        if self._read is None:
            peft()  # before any work: the [styles] extra may be missing
            if int(getattr(self.model.decoder.config, "audio_channels", 1)) != 1:
                raise StyleError(f"{self.engine.model_id} is a stereo model; styles train on "
                                 "mono MusicGen checkpoints only for now")
            self._read = read_clips(self.clip_paths, self.engine.sample_rate)
            self.fingerprint = model_fingerprint(self.model)
            return False
        if len(self._codes) < len(self._read):
            self._codes.append(self._encode(self._read[len(self._codes)][2]))
            return False
        self._set_up()
        return True

    def _set_up(self) -> None:
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        LoraConfig = peft().LoraConfig  # noqa: N806
        assert self._read is not None
        plan = self._plan([sha for _, sha, _ in self._read])
        self.clips = [Clip(path, sha, len(wave) / self.engine.sample_rate, c)
                      for (path, sha, wave), c in zip(self._read, self._codes, strict=True)]
        self._read = []  # the waves are encoded; keep no second copy
        rng = np.random.default_rng(self.settings.seed)
        order = rng.permutation(len(self.clips))
        held = max(1, len(self.clips) // 10)
        self.heldout = sorted(int(i) for i in order[:held])
        self.train_ids = sorted(int(i) for i in order[held:])
        gen = self.model.generation_config
        pad, start = int(gen.pad_token_id), int(gen.decoder_start_token_id)
        self._inputs = []
        for clip in self.clips:
            labels = torch.from_numpy(delayed_labels(clip.codes, pad))
            # The decoder's input is the labels shifted right behind the start token, as the
            # model's forward would build it (transformers 5.x looks for a
            # decoder_start_token_id on the decoder config, which MusicGen's lacks).
            ids = torch.cat([torch.full((1, labels.shape[1]), start), labels[:-1]]).T
            self._inputs.append({"labels": labels[None].to(self.engine.device),
                                 "decoder_input_ids": ids.contiguous().to(self.engine.device)})
        tokens = self.engine.processor(text=[self.text], padding=True, return_tensors="pt")
        tokens = {k: v.to(self.engine.device) for k, v in tokens.items()}
        with torch.no_grad():  # the text encoder is frozen: encode once
            hidden = self.model.text_encoder(**tokens).last_hidden_state
        self._text = {"encoder_outputs": BaseModelOutput(last_hidden_state=hidden),
                      "attention_mask": tokens["attention_mask"]}
        # Condition dropout, as MusicGen was trained: some steps see the null conditioning
        # generate uses for guidance's unconditioned row (zero states, nothing attended), so
        # guidance with a style still has a sensible unconditioned pass to push away from.
        null = BaseModelOutput(last_hidden_state=torch.zeros_like(hidden))
        self._null = {"encoder_outputs": null,
                      "attention_mask": torch.zeros_like(tokens["attention_mask"])}
        remove_adapter(self.model, self.adapter)
        s = self.settings
        self.lora_config = LoraConfig(r=s.rank, lora_alpha=s.alpha, lora_dropout=s.dropout,
                                      target_modules=TARGET_MODULES, bias="none")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s.seed)
            add_adapter(self.model, self.lora_config, self.adapter)
        self.params = [p for n, p in self.model.named_parameters()
                       if f".{self.adapter}." in n]
        self.optimizer = torch.optim.AdamW(self.params, lr=s.learning_rate)
        self._resume(plan)
        self.total_steps = s.epochs * len(self.train_ids)
        self.steps = self.epoch * len(self.train_ids)
        self._start_epoch()
        self._prepared = True

    def _plan(self, hashes: list[str]) -> dict[str, Any]:
        return {"name": self.name, "text": self.text, "clips": hashes,
                "base_fingerprint": self.fingerprint, "settings": asdict(self.settings)}

    def _encode(self, wave: np.ndarray) -> np.ndarray:
        import torch

        processor = self.engine.processor
        features = processor(audio=wave, sampling_rate=self.engine.sample_rate,
                             return_tensors="pt")
        with torch.no_grad():
            out = self.model.audio_encoder.encode(
                features["input_values"].to(self.engine.device, self.model.dtype),
                features["padding_mask"].to(self.engine.device))
        codes: np.ndarray = out.audio_codes[0, 0].cpu().numpy().astype(np.int64)  # (K, frames)
        return codes

    # -- the loop ----------------------------------------------------------------------------

    @property
    def prepared(self) -> bool:
        return self._prepared

    @property
    def done(self) -> bool:
        return self.stopped_early or self.epoch >= self.settings.epochs

    def step(self) -> StepReport | None:
        """One optimizer step on one clip; None when training is over (then ``finish``)."""
        import torch

        if not self._prepared:
            self.prepare()
        if self.done:
            return None
        clip = self._order[self._cursor]
        activate(self.model, self.adapter)  # also makes it trainable again
        self.model.decoder.train()
        try:
            with torch.random.fork_rng(devices=[]):  # dropout; generation's seeds untouched
                torch.manual_seed(self.settings.seed + 100_003 * self.steps)
                drop = np.random.default_rng([self.settings.seed, self.steps]).random()
                text = self._null if drop < self.settings.text_dropout else self._text
                out = self.model(**text, **self._inputs[clip])
            loss = out.loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, self.settings.grad_clip)
            self.optimizer.step()
        finally:
            self.model.decoder.eval()
            deactivate(self.model)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise StyleError(f"training style {self.name!r} diverged (loss {value}); try a "
                             "lower learning rate")
        self.step_losses.append(value)
        self._cursor += 1
        self.steps += 1
        heldout = None
        if self._cursor == len(self._order):
            heldout = self._end_epoch()
        return StepReport(self.steps, self.total_steps, self.epoch + (heldout is None),
                          value, heldout)

    def heldout_loss(self) -> float:
        return self._eval(self.heldout)

    def training_loss(self) -> float:
        """The adapter's mean loss over the training clips now (no dropout)."""
        return self._eval(self.train_ids)

    def _eval(self, ids: list[int]) -> float:
        import torch

        activate(self.model, self.adapter)
        try:
            with torch.no_grad():
                losses = [float(self.model(**self._text, **self._inputs[i]).loss)
                          for i in ids]
        finally:
            deactivate(self.model)
        return float(np.mean(losses))

    def _start_epoch(self) -> None:
        rng = np.random.default_rng(self.settings.seed + 1 + self.epoch)
        self._order = [self.train_ids[i] for i in rng.permutation(len(self.train_ids))]
        self._cursor = 0
        self.step_losses = []

    def _end_epoch(self) -> float:
        self.train_losses.append(float(np.mean(self.step_losses)))
        heldout = self.heldout_loss()
        self.heldout_losses.append(heldout)
        self.epoch += 1
        if heldout <= min(self.heldout_losses):
            self.best_epoch = self.epoch
            self._best_state = self._adapter_state()
        elif self.epoch - self.best_epoch >= self.settings.patience:
            self.stopped_early = True
        log.info("style %s epoch %d: training loss %.4f, held-out %.4f", self.name,
                 self.epoch, self.train_losses[-1], heldout)
        self._checkpoint()
        self._start_epoch()
        return heldout

    # -- state: checkpoints and resuming -----------------------------------------------------

    def _adapter_state(self) -> dict[str, Any]:
        return adapter_state(self.model, self.adapter)

    def _checkpoint(self) -> None:
        import torch

        self.work.mkdir(parents=True, exist_ok=True)
        state = {"plan": self._plan([c.sha256 for c in self.clips]), "epoch": self.epoch,
                 "adapter": self._adapter_state(), "best": self._best_state,
                 "best_epoch": self.best_epoch, "optimizer": self.optimizer.state_dict(),
                 "train_losses": self.train_losses, "heldout_losses": self.heldout_losses,
                 "stopped_early": self.stopped_early}
        tmp = self.work / "checkpoint.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.work / "checkpoint.pt")

    def _resume(self, plan: dict[str, Any]) -> None:
        import torch

        path = self.work / "checkpoint.pt"
        if not path.is_file():
            return
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError, ValueError) as err:
            log.warning("ignoring the damaged checkpoint %s (%s); starting over", path, err)
            return
        if state.get("plan") != plan:
            log.info("the checkpoint in %s is for other clips or settings; starting over",
                     self.work)
            return
        load_adapter_state(self.model, self.adapter, state["adapter"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.best_epoch = int(state["best_epoch"])
        self._best_state = state["best"]
        self.train_losses = list(state["train_losses"])
        self.heldout_losses = list(state["heldout_losses"])
        self.stopped_early = bool(state["stopped_early"])
        self.resumed_from = self.epoch
        log.info("resuming style %s after epoch %d", self.name, self.epoch)

    # -- the result --------------------------------------------------------------------------

    def finish(self) -> StyleInfo:
        """Save the best epoch's adapter as style ``name``, atomically; drop the training
        adapter and the checkpoint."""
        if not self.done:
            raise RuntimeError("finish() before training is over")
        state = self._best_state if self._best_state is not None else self._adapter_state()
        manifest = {
            "version": MANIFEST_VERSION, "name": self.name, "text": self.text,
            "description": self.description, "base_model": self.engine.model_id,
            "base_fingerprint": self.fingerprint,
            "clips": [{"file": Path(c.path).name, "sha256": c.sha256,
                       "seconds": round(c.seconds, 3),
                       "heldout": i in self.heldout} for i, c in enumerate(self.clips)],
            "steps": self.steps, "epochs": self.epoch, "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early, "train_losses": self.train_losses,
            "heldout_losses": self.heldout_losses, "settings": asdict(self.settings),
            "seconds_of_audio": round(sum(c.seconds for c in self.clips), 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        save_style(self.root, self.name, state, self.lora_config, manifest)
        self.close()
        shutil.rmtree(self.work, ignore_errors=True)
        return read_style(self.root, self.name)

    def close(self) -> None:
        """Take the training adapter off the model (the checkpoint stays for a resume)."""
        remove_adapter(self.model, self.adapter)


def save_style(root: Path, name: str, state: dict[str, Any], lora_config: Any,
               manifest: dict[str, Any]) -> Path:
    """Write the adapter and manifest into a hidden folder, fsync, then rename it into place
    (replacing an older style of that name only once the new one is complete)."""
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    partial = root / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        save_file({k: v.contiguous() for k, v in state.items()},
                  str(partial / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        config = lora_config.to_dict()
        config["target_modules"] = TARGET_MODULES
        _write_json(partial / ADAPTER_CONFIG, config)
        _write_json(partial / MANIFEST, manifest)
        for path in partial.iterdir():
            _fsync(path)
        old = root / f".{name}.old"
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        partial.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        _fsync(root)
    except BaseException as err:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise StyleError(f"the disk is full: style {name!r} was not saved (nothing was "
                             f"left half-written in {root}); free some space and run the "
                             "same command again to resume") from err
        raise
    return target


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def train_style(engine: Any, name: str, clips: Sequence[str | os.PathLike[str]], root: Path,
                *, description: str = "", settings: TrainSettings | None = None,
                on_step: Callable[[StepReport], None] | None = None) -> StyleInfo:
    """Train to the end in one go (the command line; tests)."""
    trainer = StyleTrainer(engine, name, clips, root, description=description,
                           settings=settings)
    try:
        trainer.prepare()
        while (report := trainer.step()) is not None:
            if on_step is not None:
                on_step(report)
        return trainer.finish()
    finally:
        trainer.close()

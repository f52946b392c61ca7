"""Style slots: LoRA adapters on MusicGen's decoder, kept per user and switched per job.

A style is a folder ``<styles root>/<name>/`` holding PEFT's ``adapter_config.json`` and
``adapter_model.safetensors`` plus our ``manifest.json`` (base model id and fingerprint, the
clips' sha256, steps, losses). ``StyleSwitch`` loads adapters into the one warm model with
PEFT (``inject_adapter_in_model``, the LoRA layers' ``set_adapter``/``enable_adapters``/
``set_scale``), so a style costs its adapter's few MB, never a second base model. Outside ``StyleSwitch.applied``
every adapter is disabled and PEFT's LoRA layers run their base layer alone: the base model's
output, bit for bit. ``StyledEngine`` routes a styled spec through the transformers engine
(the fast engine reads the base weights directly and never sees an adapter) and every other
spec through the engine it wraps, untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.engine.base import Engine, EngineError, GeneratedAudio, GenerationSpec, ProgressFn

if TYPE_CHECKING:
    from bridge.engine.windows import WindowableEngine

log = logging.getLogger(__name__)

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
STYLES_ENV = "MUSICGEN_BRIDGE_STYLES"
# Folder-safe on every OS, and short enough for a DAW menu.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
# Adapters kept loaded beside the base model (each a few MB); the least recently used goes.
MAX_LOADED = 4
# The decoder's attention (self and cross) and feed-forward linears; nothing in the text
# encoder or the codec. A regex, so T5's and EnCodec's modules can never match.
TARGET_MODULES = (r".*decoder\.layers\.\d+\.(self_attn|encoder_attn)\.(q_proj|k_proj|v_proj|"
                  r"out_proj)|.*decoder\.layers\.\d+\.(fc1|fc2)")


class StyleError(ValueError):
    """A style cannot be trained, found or used; the message names it and the fix."""


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StyleError(f"style name must be 1-48 letters, digits, '-' or '_' (starting with a "
                         f"letter or digit), got {name!r}")
    return name


def styles_root(data_dir: Path) -> Path:
    """Where styles live: $MUSICGEN_BRIDGE_STYLES, else ``data_dir``/styles (the per-user
    data folder, platformdirs' user_data_dir)."""
    override = os.environ.get(STYLES_ENV)
    return Path(override).expanduser() if override else Path(data_dir) / "styles"


@dataclass(frozen=True)
class StyleInfo:
    name: str
    path: Path
    manifest: dict[str, Any] = field(repr=False, compare=False)

    @property
    def base_model(self) -> str:
        return str(self.manifest.get("base_model", ""))

    @property
    def fingerprint(self) -> str:
        return str(self.manifest.get("base_fingerprint", ""))


def read_style(root: Path, name: str) -> StyleInfo:
    """The style ``name`` under ``root``; StyleError naming what is missing or damaged."""
    check_name(name)
    path = Path(root) / name
    if not path.is_dir():
        known = ", ".join(s.name for s in list_styles(root)) or "none yet"
        raise StyleError(f"no style named {name!r} in {root} (known: {known}); train one with "
                         f"`musicgen-bridge style train {name} CLIP...`")
    missing = [f for f in (MANIFEST, ADAPTER_CONFIG, ADAPTER_WEIGHTS) if not (path / f).is_file()]
    if missing:
        raise StyleError(f"style {name!r} in {path} is incomplete (no {', '.join(missing)}); "
                         "train it again")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise StyleError(f"style {name!r}: its {MANIFEST} cannot be read ({err}); train it "
                         "again") from err
    return StyleInfo(name, path, manifest)


def list_styles(root: Path) -> list[StyleInfo]:
    """Every complete style under ``root``, by name (half-written and training folders start
    with a dot and are skipped)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and _NAME.fullmatch(path.name) and (path / MANIFEST).is_file():
            try:
                found.append(read_style(root, path.name))
            except StyleError as err:
                log.warning("skipping style folder %s: %s", path, err)
    return found


# ---- which base model an adapter belongs to -------------------------------------------------

_VOLATILE_KEYS = {"transformers_version", "_name_or_path", "dtype", "torch_dtype",
                  "_commit_hash", "_attn_implementation_autoset"}


def _stable_config(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stable_config(v) for k, v in value.items()
                if str(k) not in _VOLATILE_KEYS and not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_stable_config(v) for v in value]
    return value


def model_fingerprint(model: Any) -> str:
    """sha256 over the model's config (paths and versions left out) and every base weight's
    name, shape and 4096 evenly spaced values: the same checkpoint anywhere gives the same
    fingerprint; another checkpoint of the same architecture does not. Adapters are ignored,
    so it is the same before and after loading one. A second on musicgen-small's CPU copy."""
    import torch

    digest = hashlib.sha256()
    config = _stable_config(model.config.to_dict())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            if "lora_" in name:
                continue
            name = name.replace(".base_layer.", ".")
            flat = tensor.detach().reshape(-1)
            step = max(1, flat.numel() // 4096)
            sample = flat[::step][:4096].to("cpu", torch.float32).numpy()
            digest.update(f"{name}:{tuple(tensor.shape)}:".encode())
            digest.update(np.ascontiguousarray(sample).tobytes())
    return digest.hexdigest()


# ---- switching adapters on the warm model ---------------------------------------------------

class StyleSwitch:
    """Loads styles into one model and applies one for the length of a ``with`` block.

    Call from the thread that generates (the job worker): the model has one adapter state.
    """

    def __init__(self, model: Any, root: Path, model_id: str) -> None:
        self.model = model
        self.root = Path(root)
        self.model_id = model_id
        self._fingerprint: str | None = None
        self._loaded: OrderedDict[str, float] = OrderedDict()  # name -> manifest mtime
        self._lock = threading.RLock()
        self.last_switch_s = 0.0

    @property
    def fingerprint(self) -> str:
        # Under the lock: loading an adapter swaps modules, which a walk must not cross.
        with self._lock:
            if self._fingerprint is None:
                self._fingerprint = model_fingerprint(self.model)
            return self._fingerprint

    def check(self, name: str) -> StyleInfo:
        """The style, refused with the reason when it was trained on another base model."""
        info = read_style(self.root, name)
        if info.fingerprint != self.fingerprint:
            raise StyleError(
                f"style {name!r} was trained on {info.base_model or 'another model'} "
                f"(fingerprint {info.fingerprint[:12] or 'none'}), not on the loaded "
                f"{self.model_id} ({self.fingerprint[:12]}): load that model, or train the "
                "style again on this one")
        return info

    @contextmanager
    def applied(self, name: str, strength: float) -> Iterator[None]:
        """Generate with style ``name`` at ``strength`` (LoRA scale 0..2) inside the block.
        Strength 0 or no name leaves the model untouched: the base model's output."""
        if not name or strength == 0:
            yield
            return
        with self._lock:
            started = time.perf_counter()
            self._load(self.check(name))
            activate(self.model, name)
            set_strength(self.model, name, strength)
            self.last_switch_s = time.perf_counter() - started
            try:
                yield
            finally:
                deactivate(self.model)

    def loaded(self) -> list[str]:
        return list(self._loaded)

    def unload(self, name: str) -> None:
        with self._lock:
            if self._loaded.pop(name, None) is not None:
                remove_adapter(self.model, name)

    def _load(self, info: StyleInfo) -> None:
        stamp = (info.path / MANIFEST).stat().st_mtime
        if self._loaded.get(info.name) == stamp:
            self._loaded.move_to_end(info.name)
            return
        if info.name in self._loaded:  # retrained since it was loaded
            self.unload(info.name)
        while len(self._loaded) >= MAX_LOADED:
            self.unload(next(iter(self._loaded)))
        load_adapter(self.model, info.path, info.name)
        self._loaded[info.name] = stamp
        log.info("loaded style %s from %s", info.name, info.path)


# ---- PEFT on the model in place -------------------------------------------------------------
# PEFT's own functions on the unwrapped model (inject_adapter_in_model, tuner layers'
# set_adapter/enable_adapters/delete_adapter/set_scale), not transformers' PEFT integration:
# that needs peft >= 0.22, which is not released for every platform yet. The engine keeps its
# model object; PEFT swaps the targeted linears for LoRA layers around the same base layers.

def peft() -> Any:
    """The peft module, or StyleError saying how to install it (it is an optional extra)."""
    try:
        import peft as module
        import peft.tuners.lora  # noqa: F401
    except ImportError as err:
        raise StyleError("styles need PEFT, which is not installed: pip install "
                         "\"musicgen-bridge[styles]\"") from err
    return module


def _lora_layers(model: Any) -> list[Any]:
    layer = peft().tuners.lora.LoraLayer
    return [m for m in model.modules() if isinstance(m, layer)]


def add_adapter(model: Any, config: Any, name: str) -> None:
    """A fresh (trainable) LoRA adapter ``name``, disabled until ``activate``."""
    inject_adapter_in_model = peft().inject_adapter_in_model

    with warnings.catch_warnings():
        # "multiple adapters in the model": several styles beside each other is the point.
        warnings.simplefilter("ignore", UserWarning)
        inject_adapter_in_model(config, model, adapter_name=name)
    deactivate(model)


def activate(model: Any, name: str) -> None:
    """Adapter ``name`` alone is applied (and trainable: PEFT sets requires_grad)."""
    layers = _lora_layers(model)
    if not layers or any(name not in layer.lora_A for layer in layers):
        raise StyleError(f"style {name!r} is not loaded into the model")
    for layer in layers:
        layer.set_adapter(name)
        layer.enable_adapters(True)


def deactivate(model: Any) -> None:
    """Every LoRA layer runs its base layer alone: the base model's output, bit for bit."""
    for layer in _lora_layers(model):
        layer.enable_adapters(False)


def remove_adapter(model: Any, name: str) -> None:
    with warnings.catch_warnings():
        # "setting active adapter to ...": none is applied; deactivate() below keeps it so.
        warnings.simplefilter("ignore", UserWarning)
        for layer in _lora_layers(model):
            if name in layer.lora_A:
                layer.delete_adapter(name)
    deactivate(model)


def set_strength(model: Any, name: str, strength: float) -> None:
    """Scale adapter ``name`` to ``strength`` times its trained scale in every LoRA layer."""
    for layer in _lora_layers(model):
        layer.set_scale(name, float(strength))


def adapter_state(model: Any, name: str) -> dict[str, Any]:
    """Adapter ``name``'s weights, keyed as PEFT saves them (without the adapter name)."""
    marker = f".{name}."
    return {key.replace(marker, "."): value.detach().cpu().clone()
            for key, value in model.state_dict().items() if "lora_" in key and marker in key}


def load_adapter_state(model: Any, name: str, state: dict[str, Any]) -> None:
    """Put ``state`` (as ``adapter_state`` returns it) into the injected adapter ``name``."""
    import torch

    own = {key for key in model.state_dict() if "lora_" in key and f".{name}." in key}
    mapped = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        mapped[f"{head}.{name}.{leaf}"] = value
    if set(mapped) != own:
        raise StyleError(f"the adapter weights do not fit the model's layers ({len(mapped)} "
                         f"tensors for {len(own)} places); train the style again")
    with torch.no_grad():
        model.load_state_dict(mapped, strict=False)


def load_adapter(model: Any, path: Path, name: str) -> None:
    """Load the style saved in ``path`` into the model as adapter ``name`` (disabled)."""
    LoraConfig = peft().LoraConfig  # noqa: N806
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        config = LoraConfig.from_pretrained(str(path))
        weights = load_file(str(path / ADAPTER_WEIGHTS))
    except (OSError, ValueError, TypeError, KeyError, SafetensorError) as err:
        raise StyleError(f"style {name!r} in {path} cannot be read ({err}); train it "
                         "again") from err
    remove_adapter(model, name)
    add_adapter(model, config, name)
    try:
        load_adapter_state(model, name, weights)
    except BaseException:
        remove_adapter(model, name)
        raise


class StyledEngine:
    """An ``Engine`` that honours ``spec.style``: styled specs run on the transformers engine
    with the adapter applied, the rest on the wrapped engine exactly as before."""

    def __init__(self, inner: Any, root: Path) -> None:
        reference = getattr(inner, "reference", inner)  # the fast engine keeps its reference
        if not hasattr(reference, "model"):
            raise EngineError(f"the {inner.name} engine cannot use styles")
        self.inner: Engine = inner
        # The transformers engine: its model takes the adapters, and it decodes codes.
        self.reference: WindowableEngine = reference
        self.switch = StyleSwitch(reference.model, root, inner.model_id)
        self.name = inner.name
        self.model_id = inner.model_id
        self.sample_rate = inner.sample_rate
        self.frame_rate = inner.frame_rate
        self.max_seconds = inner.max_seconds
        self.capabilities = inner.capabilities

    def generate(self, spec: GenerationSpec, progress: ProgressFn,
                 cancel: threading.Event) -> GeneratedAudio:
        if not spec.style or spec.style_strength == 0:
            return self.inner.generate(spec, progress, cancel)
        with self.switch.applied(spec.style, spec.style_strength):
            return self.reference.generate(spec, progress, cancel)

    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        # The codec carries no adapter: every style decodes alike.
        return self.reference.decode_codes(codes)

"""The Hugging Face hub, on the user's terms: the local cache first, one visible download, and
a fast, single, actionable failure offline.

transformers, given a hub id, asks the network for every file (retrying with a warning each
time) even when everything is cached, and downloads gigabytes with the progress bars switched
off by our quiet logging. ``resolve_hub_model`` does it in the order a musician expects:
already downloaded -> use it with no network; offline -> say so at once, naming the way out;
else announce the size and download once with a progress bar.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from bridge.engine.base import EngineError

log = logging.getLogger(__name__)

# What transformers reads for a MusicGen checkpoint: configs, tokenizer, safetensors weights.
# Hub repos often also hold a pytorch_model.bin copy of the same weights: not downloaded.
ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.model", "*.txt")
OFFLINE_FIX = ("build the offline test model with `musicgen-bridge tiny-model models/tiny` and "
               "pass --model models/tiny, or pass any local checkpoint directory")
Announce = Callable[[str], None]


def hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().upper() in ("1", "ON", "YES", "TRUE")


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def cached_path(repo_id: str) -> str | None:
    """The local snapshot folder of ``repo_id`` if it is cached with weights, else None.
    Never touches the network."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # LocalEntryNotFoundError, a bad id, an unreadable cache: not cached
        return None
    files = os.listdir(path)
    if "config.json" in files and any(f.endswith((".safetensors", ".bin")) for f in files):
        return path
    return None


def cached_size(repo_id: str) -> int:
    """Bytes the model takes in the local cache (0: not there); huggingface_hub's scan."""
    from huggingface_hub import constants, scan_cache_dir

    try:
        # The folder read now: scan_cache_dir's default was fixed when the hub was imported.
        info = scan_cache_dir(constants.HF_HUB_CACHE)
    except Exception:  # CacheNotFound: nothing downloaded yet
        return 0
    return sum(repo.size_on_disk for repo in info.repos
               if repo.repo_id == repo_id and repo.repo_type == "model")


def check_reachable(name: str) -> None:
    """Before torch and transformers are imported (seconds): fail at once for a hub model that
    is neither cached nor downloadable. Local directories and cached models pass."""
    from pathlib import Path

    if Path(name).expanduser().exists() or name.count("/") != 1 or cached_path(name):
        return
    if hub_offline():
        raise EngineError(f"model {name!r} is not downloaded yet and HF_HUB_OFFLINE is set, "
                          f"so it cannot be fetched; {OFFLINE_FIX}")
    _download_size(name)


def resolve_hub_model(repo_id: str, announce: Announce | None = None) -> str:
    """A local folder holding ``repo_id``: the cached one, or a fresh download. Raises
    EngineError (one message, within seconds) when it is not cached and the hub is out of
    reach."""
    announce = announce or (lambda line: print(line, file=sys.stderr, flush=True))
    path = cached_path(repo_id)
    if path:
        log.info("%s: using the local copy in %s", repo_id, path)
        return path
    if hub_offline():
        raise EngineError(f"model {repo_id!r} is not downloaded yet and HF_HUB_OFFLINE is set, "
                          f"so it cannot be fetched; {OFFLINE_FIX}")
    size = _download_size(repo_id)
    # From the defining modules: huggingface_hub.utils builds its __all__ at run time, so a
    # type checker sees nothing exported there.
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.utils.tqdm import enable_progress_bars

    announce(f"downloading {repo_id} ({human_size(size)}) once into {constants.HF_HUB_CACHE}; "
             "later runs use that copy")
    if sys.stderr.isatty():
        # A multi-GB download with no bar looks hung; without a terminal (a service's log) the
        # announcement above is the record.
        os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        enable_progress_bars()
    try:
        return snapshot_download(repo_id, allow_patterns=list(ALLOW_PATTERNS))
    except Exception as err:
        raise EngineError(f"downloading {repo_id!r} failed ({_reason(err)}); run the same "
                          f"command again to resume, or {OFFLINE_FIX}") from err


def _download_size(repo_id: str) -> int:
    """Bytes to download; EngineError at once when the hub cannot be reached."""
    import fnmatch

    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        info = HfApi().model_info(repo_id, files_metadata=True, timeout=10)
    except GatedRepoError as err:
        raise EngineError(f"model {repo_id!r} is gated on the hub: accept its licence on "
                          f"https://huggingface.co/{repo_id} and log in "
                          "(huggingface-cli login)") from err
    except RepositoryNotFoundError as err:
        raise EngineError(f"model {repo_id!r} does not exist on the Hugging Face hub (check "
                          f"the spelling, e.g. facebook/musicgen-small); {OFFLINE_FIX}") from err
    except Exception as err:  # no network, DNS, proxy, timeout: one message, no retries
        raise EngineError(f"model {repo_id!r} is not downloaded yet and the Hugging Face hub "
                          f"cannot be reached ({_reason(err)}); connect once to download it, "
                          f"or {OFFLINE_FIX}") from err
    return sum(s.size or 0 for s in info.siblings or ()
               if any(fnmatch.fnmatch(s.rfilename, p) for p in ALLOW_PATTERNS))


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0][:160] if text else type(err).__name__)

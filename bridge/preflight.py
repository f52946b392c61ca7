"""Cheap checks run before the model loads (seconds to minutes): a typo in a flag, a read-only
output folder, a busy port or an offline first run should be answered at once, in one line,
not after the weights are in memory. ``generate``, ``serve`` and ``doctor`` share them.

Each check raises UserError naming the value and the fix, or returns quietly.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from bridge.engine.device_names import check_device_name
from bridge.errors import UserError, shown
from bridge.jobs.journal import JournalLock

HUB_HOST = "huggingface.co"


def check_prompt(prompt: str | None, *, has_audio: bool = False, flag: str = "--prompt") -> None:
    if (prompt is None or not prompt.strip()) and not has_audio:
        raise UserError(f"the prompt is empty: say what to generate, e.g. {flag} "
                        f"\"dusty funk drums\"")


def check_output_folder(folder: Path) -> None:
    """The clip folder exists (or can be created) and a file can be written there: a probe
    file is created and removed, because permission bits do not tell (ACLs, read-only mounts,
    a full quota)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the clip folder {shown(str(folder))}: {err.strerror}; "
                        f"choose another with --out or [output] project_dir") from None
    if not folder.is_dir():
        raise UserError(f"the clip folder {shown(str(folder))} is not a folder; choose another "
                        f"with --out or [output] project_dir")
    probe = folder / f".musicgen-probe-{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UserError(f"cannot write into the clip folder {shown(str(folder))}: "
                        f"{err.strerror}; fix its permissions, or choose another with --out "
                        f"or [output] project_dir") from None


def check_udp_port_free(host: str, port: int, *, what: str = "[osc] port",
                        flag: str = "--osc-port") -> None:
    """The OSC port can be bound (0: any free port, always fine)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as err:
        raise UserError(f"cannot listen on {shown(host)}: {err.strerror}; set [osc] host to an "
                        f"address of this machine (127.0.0.1 by default)") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(address)
        except OSError as err:
            raise UserError(f"cannot listen for OSC on {host}:{port}: {err.strerror} (another "
                            f"musicgen-bridge, or another program, uses it); stop it or choose "
                            f"another port with {flag} or {what}") from None


def claim_journal(path: Path) -> JournalLock:
    """Take the journal's lock now (the daemon's queue shares it), so a second daemon on the
    same journal is told before it loads a model, not after."""
    return JournalLock.acquire(Path(path))


def check_device(name: str) -> None:
    try:
        check_device_name(name)
    except ValueError as err:
        raise UserError(f"--device / [model] device: {err}") from None


def check_model_reachable(model: str) -> None:
    """A hub id that is not in the local cache needs the network: without it, fail now with
    one line instead of transformers' retries. When it is cached, stay offline (no retries
    against an unreachable hub)."""
    if not model.strip() or Path(model).expanduser().exists() or os.environ.get("HF_HUB_OFFLINE"):
        return
    if _in_hub_cache(model):
        if not _hub_reachable():
            os.environ["HF_HUB_OFFLINE"] = "1"
        return
    if not _hub_reachable():
        os.environ["HF_HUB_OFFLINE"] = "1"
        raise UserError(f"model {shown(model)} is not downloaded yet and {HUB_HOST} cannot be "
                        f"reached: connect to the network once so it is downloaded and cached, "
                        f"or give --model DIR of a local copy (`musicgen-bridge tiny-model DIR` "
                        f"builds a small test model)")


def _in_hub_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        # Read the cache location now: huggingface_hub fixes its default at import.
        found = try_to_load_from_cache(model, "config.json",
                                       cache_dir=os.environ.get("HF_HUB_CACHE") or None)
    except Exception:  # a malformed id: let the loader say what is wrong with it
        return True
    return isinstance(found, str)


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    name, _, port = host.partition(":")
    try:
        with socket.create_connection((name, int(port or 443)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False

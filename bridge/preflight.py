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


def check_prompt(prompt: str | None, *, has_audio: bool = False, flag: str = "--prompt") -> None:
    if (prompt is None or not prompt.strip()) and not has_audio:
        raise UserError(f"the prompt is empty: say what to generate, e.g. {flag} "
                        f"\"dusty funk drums\"")


def probe_writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (made if missing); else the reason. A
    probe file is created and removed, because permission bits do not tell (ACLs, read-only
    mounts, a full quota, root)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"it cannot be created: {err.strerror or err}"
    if not folder.is_dir():
        return "it is not a folder"
    probe = folder / f".musicgen-probe-{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return str(err.strerror or err)
    return None


def check_output_folder(folder: Path) -> None:
    """The clip folder exists (or can be created) and a file can be written there."""
    reason = probe_writable(folder)
    if reason:
        raise UserError(f"cannot write into the clip folder {shown(str(folder))} ({reason}); "
                        f"fix its permissions, or choose another with --out or [output] "
                        f"project_dir")


def bind_error(host: str, port: int) -> OSError | None:
    """Why a UDP socket cannot be bound to ``host``:``port`` now (None: it can; port 0 always
    can). A host that does not resolve is an OSError too (socket.gaierror)."""
    if port == 0:
        return None
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind(address)
    except OSError as err:
        return err
    return None


def check_udp_port_free(host: str, port: int, *, what: str = "[osc] port",
                        flag: str = "--osc-port") -> None:
    """The OSC port can be bound (0: any free port, always fine)."""
    err = bind_error(host, port)
    if err is None:
        return
    if isinstance(err, socket.gaierror):
        raise UserError(f"cannot listen on {shown(host)}: {err.strerror}; set [osc] host to an "
                        f"address of this machine (127.0.0.1 by default)")
    raise UserError(f"cannot listen for OSC on {host}:{port}: {err.strerror} (another "
                    f"musicgen-bridge, or another program, uses it); stop it or choose "
                    f"another port with {flag} or {what}")


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
    """A hub id that is neither cached nor downloadable fails now, in one line, instead of
    after transformers' retries (the same check the engine loader makes, before torch)."""
    if not model.strip():
        return
    from bridge.engine.hub import check_reachable

    check_reachable(model)  # EngineError is a UserError: one line with the fix

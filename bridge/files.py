"""Writes that are complete and durable before anyone sees them, and the one rule for names
that are not finished yet.

Every file the daemon writes for others to read (clips, sidecars, the job journal, the config
after MIDI learn) goes the same way: content into a fresh hidden temporary file in the same
folder, flushed and fsynced; then one rename (``os.replace``) or, where an existing file must
never be replaced, one hard link; then an fsync of the folder, so the new name survives a power
cut too. A failure at any step removes the temporary file, and the final name either holds the
old complete file or the new complete one, never part of either.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# Names of files still being written, which readers (the inbox, the DAW importers in
# reaper_scripts/MusicGen_lib.lua) must skip: hidden, or ending in one of TEMP_SUFFIXES.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".part"  # what our own temporary names end with
TEMP_SUFFIXES = (".part", ".tmp")  # what other writers' temporary names end with, any case
TEMP_PATTERNS: tuple[str, ...] = (TEMP_PREFIX + "*", "*" + TEMP_SUFFIX)  # fnmatch / glob

_TOKEN_BYTES = 6
_MAX_TEMP_TRIES = 100
# Our own temporary names only (``.<final name>.<12 hex>.part``): a sweep of stale ones must
# never touch a user's hidden file.
_OUR_TEMP = re.compile(re.escape(TEMP_PREFIX) + r"(?P<final>.+)\.[0-9a-f]{"
                       + str(2 * _TOKEN_BYTES) + "}" + re.escape(TEMP_SUFFIX) + "$")
# Without hard links, the check-then-replace that stands in for one is serialised in-process.
_publish_lock = threading.Lock()


def is_temp_name(name: str) -> bool:
    """True for names of files still being written, which no reader may take yet."""
    return name.startswith(TEMP_PREFIX) or name.lower().endswith(TEMP_SUFFIXES)


def is_our_temp_name(name: str, final_name: str | None = None) -> bool:
    """True for a temporary name ``write_temp`` makes (for ``final_name``, if given)."""
    match = _OUR_TEMP.match(name)
    return match is not None and final_name in (None, match["final"])


def fsync_directory(folder: Path) -> None:
    """Make renames into ``folder`` durable; a no-op where directories cannot be opened
    (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(folder: Path, final_name: str, content: bytes) -> Path:
    """Write ``content`` into a new hidden file in ``folder``, fsynced; return its path.

    The name is ``.<final_name>.<random>.part``, created exclusively (like ``mkstemp``), so
    concurrent writers never share one. Unlike ``mkstemp`` the file gets the usual
    permissions (0o666 less the umask): it is published as it is, for a DAW to read. The
    caller publishes or removes it; on failure here nothing is left."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_CLOEXEC", 0))
    for _ in range(_MAX_TEMP_TRIES):
        temp = folder / f"{TEMP_PREFIX}{final_name}.{secrets.token_hex(_TOKEN_BYTES)}{TEMP_SUFFIX}"
        try:
            fd = os.open(temp, flags, 0o666)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(errno.EEXIST, f"no free temporary name for {final_name}",
                              str(folder))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            # Without it a power cut after the rename can leave an empty file under the name.
            os.fsync(handle.fileno())
    except BaseException:
        remove_quietly(temp)
        raise
    return temp


def publish(temp: Path, final: Path, *, overwrite: bool) -> bool:
    """Give the complete file ``temp`` the name ``final``. With ``overwrite=False`` an existing
    ``final`` is never replaced: returns False and leaves ``temp`` in place. The caller fsyncs
    the folder once it has published everything."""
    if overwrite:
        os.replace(temp, final)
        return True
    try:
        os.link(temp, final)  # fails, instead of replacing, when the name is taken
    except FileExistsError:
        return False
    except OSError:
        # No hard links here (FAT, exFAT, some network shares); real errors (permissions, a
        # vanished folder) recur below.
        with _publish_lock:
            if os.path.lexists(final):
                return False
            os.replace(temp, final)
        return True
    os.unlink(temp)
    return True


def write_atomically(path: str | os.PathLike[str], content: bytes | str, *,
                     overwrite: bool = True,
                     check: Callable[[Path], object] | None = None) -> bool:
    """Write ``content`` (str as UTF-8) to ``path`` so that readers see the old complete file
    or the new complete one, even after a crash or power cut. Creates missing folders. A file
    replaced keeps its permissions. ``check(temp)`` may inspect the finished temporary file and
    raise to keep the old one. With ``overwrite=False`` returns False, writing nothing, if
    ``path`` exists."""
    final = Path(path)
    folder = final.parent
    folder.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    temp = write_temp(folder, final.name, data)
    try:
        if overwrite and final.exists():
            shutil.copymode(final, temp)
        if check is not None:
            check(temp)
        if not publish(temp, final, overwrite=overwrite):
            return False
    finally:
        remove_quietly(temp)
    fsync_directory(folder)
    return True


def remove_quietly(path: Path) -> None:
    """Remove ``path`` if it is there; a failure is logged, not raised (cleanup must not hide
    the error that made it necessary)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as err:
        log.warning("could not remove %s: %s", path, err)


def remove_stale_temps(folder: Path, *, final_name: str | None = None,
                       older_than_s: float = 0.0) -> None:
    """Remove temporary files that ``write_temp`` made in ``folder`` (for ``final_name``, if
    given) and a killed writer left behind: those last changed more than ``older_than_s`` ago."""
    cutoff = time.time() - older_than_s
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    except OSError as err:
        log.warning("could not list %s: %s", folder, err)
        return
    for entry in entries:
        try:
            if is_our_temp_name(entry.name, final_name) and entry.stat().st_mtime <= cutoff:
                os.unlink(entry.path)
                log.info("removed a stale temporary file %s", entry.path)
        except OSError as err:
            log.warning("could not remove stale %s: %s", entry.path, err)

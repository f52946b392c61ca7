"""Reading files that come from outside (request files, config files, audio prompts) without
being fooled: no symlink is followed at the last step, only a regular file is read (a FIFO
would block for ever, /dev/zero never ends, a folder is not a file), and never more than a
bound.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from bridge.errors import UserError, shown

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO for reading must not wait for a writer
_BINARY = getattr(os, "O_BINARY", 0)


class NotARegularFile(UserError):
    """The path is a symlink, FIFO, device or folder: refused without reading it."""


class TooLarge(UserError):
    """The file is larger than the reader's bound."""


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], *, follow: bool = False) -> int:
    """A read-only descriptor on ``path``, which must be a regular file.

    ``follow=False`` refuses a symlink at the last path component (ELOOP). Raises
    NotARegularFile for anything but a regular file, FileNotFoundError/PermissionError as
    the OS does.
    """
    flags = os.O_RDONLY | _NONBLOCK | _BINARY | (0 if follow else _NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP or (err.errno == errno.EMLINK and not follow):
            raise NotARegularFile(f"{shown(os.fspath(path))} is a symbolic link; "
                                  f"give the file itself") from None
        if err.errno == errno.EISDIR:
            raise NotARegularFile(f"{shown(os.fspath(path))} is a folder, not a file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"{shown(os.fspath(path))} is {kind_of(mode)}, not a "
                                  f"regular file")
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], limit: int, *, follow: bool = False) -> bytes:
    """The bytes of regular file ``path``, refusing one larger than ``limit`` bytes.

    The bound is checked on what is read, not only on the size the file claims (a file may
    grow while it is read).
    """
    fd = open_regular(path, follow=follow)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise TooLarge(f"{shown(os.fspath(path))} is {size} bytes; at most {limit} are read")
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise TooLarge(f"{shown(os.fspath(path))} is over {limit} bytes; at most "
                               f"{limit} are read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def is_inside(path: Path, folders: list[Path]) -> bool:
    """Whether resolved ``path`` lies in one of the resolved ``folders``."""
    return any(path == f or f in path.parents for f in folders)

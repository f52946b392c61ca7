"""The one error type for a refusal a person can fix, whichever input it came through (OSC,
MIDI, the request folder, the command line), and the bounds on every reason we print.

A reason is shown in a log line, an OSC message, an ``.error.txt`` file or a terminal, and its
text may come from outside (a file name, a JSON key, a path): ``bounded`` cuts it to a size a
person reads and replaces control characters, so no reason can forge a log line or grow to
megabytes.
"""

from __future__ import annotations

import re

MAX_REASON_CHARS = 2000  # a reason is a sentence or a short list, never a dump
MAX_NAME_CHARS = 120     # a file name or value quoted inside a reason

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def bounded(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` on one line, control characters escaped, at most ``limit`` characters."""
    line = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    line = line.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    if len(line) > limit:
        cut = len(line) - limit
        line = f"{line[: max(0, limit - 30)]}... ({cut + 30} more characters)"
    return line


def shown(name: object) -> str:
    """A name (file name, path, key) quoted inside a reason: bounded and repr-quoted."""
    return repr(bounded(name, MAX_NAME_CHARS))


MAX_REASON_LINES = 50  # a multi-line reason (every problem in a config file) lists at most these


def bounded_lines(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """Like ``bounded``, line by line: each line bounded, at most ``MAX_REASON_LINES`` lines."""
    lines = str(text).split("\n")
    kept = [bounded(line, limit) for line in lines[:MAX_REASON_LINES]]
    if len(lines) > MAX_REASON_LINES:
        kept.append(f"... and {len(lines) - MAX_REASON_LINES} more")
    return "\n".join(kept)


class UserError(ValueError):
    """A refusal whose message says what to fix; always shown to the person who asked.

    A ValueError, so the code that already answers ValueError with a reason keeps working.
    ``multiline``: a reason that lists several problems, one per line (a config file's); every
    other reason is kept on one line.
    """

    multiline = False

    def __init__(self, reason: object) -> None:
        self.reason = bounded_lines(reason) if self.multiline else bounded(reason)
        super().__init__(self.reason)


def reason_of(err: BaseException) -> str:
    """The bounded text shown for ``err``."""
    return err.reason if isinstance(err, UserError) else bounded(err)

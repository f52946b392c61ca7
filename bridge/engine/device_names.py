"""The spelling of a device setting, without importing torch: the config and the command line
check it before anything heavy loads."""

from __future__ import annotations

import argparse
import re

AUTO = "auto"
DEVICE_HELP = "auto, cpu, cuda, cuda:N (a GPU index) or mps"
_DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")


def check_device_name(name: object) -> str:
    """Validate the spelling of a device setting (not whether this machine has it)."""
    text = name.strip().lower() if isinstance(name, str) else ""
    if not _DEVICE_RE.fullmatch(text):
        raise ValueError(f"device must be {DEVICE_HELP}, got {name!r}")
    return text


def device_arg(text: str) -> str:
    """``check_device_name`` as an argparse ``type=``: the same spellings on every command."""
    try:
        return check_device_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None

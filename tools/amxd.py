"""The drop-in Live device: ``max_patches/MusicGen Bridge.amxd`` built from the patcher.

An unfrozen ``.amxd`` is the patcher JSON inside a short binary wrapper of chunks, each a
4-byte ASCII tag, a 4-byte little-endian length and the data (the layout Ableton's own
maxdevtools/maxdiff parser reads):

    ampf  4  "aaaa"      device type: aaaa audio effect, mmmm MIDI effect, iiii instrument
    meta  4  00 00 00 00
    ptch  n  the patcher JSON, UTF-8, NUL-terminated

The device's ``js musicgen_bridge.js`` is found beside the ``.amxd`` (Max searches the device's
own folder), so the two files ship together in max_patches/; Live's Freeze Device folds the
script into the device for moving it between machines (docs/ableton.md).

    python -m tools.amxd            check: exit 1 if the .amxd is stale
    python -m tools.amxd --write    rebuild it
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path
from typing import Any

from tools.generated import write_or_check

ROOT = Path(__file__).resolve().parents[1]
PATCH = ROOT / "max_patches" / "MusicGen Bridge.maxpat"
DEVICE = ROOT / "max_patches" / "MusicGen Bridge.amxd"
AUDIO_EFFECT, MIDI_EFFECT, INSTRUMENT = b"aaaa", b"mmmm", b"iiii"
DEVICE_TYPES = (AUDIO_EFFECT, MIDI_EFFECT, INSTRUMENT)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data


def build(patcher_json: str, device_type: bytes = AUDIO_EFFECT) -> bytes:
    if device_type not in DEVICE_TYPES:
        raise ValueError(f"device type must be one of {DEVICE_TYPES}, got {device_type!r}")
    json.loads(patcher_json)  # refuse to wrap a patcher Max could not read
    return (_chunk(b"ampf", device_type) + _chunk(b"meta", b"\0\0\0\0")
            + _chunk(b"ptch", patcher_json.encode("utf-8") + b"\0"))


def read_chunks(data: bytes) -> dict[str, bytes]:
    chunks: dict[str, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ValueError(f"truncated chunk header at byte {offset}")
        tag = data[offset:offset + 4].decode("ascii")
        (size,) = struct.unpack("<I", data[offset + 4:offset + 8])
        body = data[offset + 8:offset + 8 + size]
        if len(body) != size:
            raise ValueError(f"chunk {tag!r} claims {size} bytes, has {len(body)}")
        chunks[tag] = body
        offset += 8 + size
    return chunks


def parse(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """(device type, patcher dict) of an unfrozen .amxd."""
    chunks = read_chunks(data)
    if list(chunks)[:1] != ["ampf"] or "ptch" not in chunks:
        raise ValueError("not an .amxd: it must start with an 'ampf' chunk and hold 'ptch'")
    patch = chunks["ptch"]
    if patch[:4] == b"mx@c":
        raise ValueError("a frozen device: its patcher is inside an mx@c archive")
    return chunks["ampf"], json.loads(patch.rstrip(b"\0").decode("utf-8"))


def render() -> bytes:
    return build(PATCH.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build max_patches/MusicGen Bridge.amxd")
    parser.add_argument("--write", action="store_true", help="rewrite the .amxd")
    args = parser.parse_args(argv)
    return write_or_check(DEVICE, render(), write=args.write, module="tools.amxd")

if __name__ == "__main__":
    raise SystemExit(main())

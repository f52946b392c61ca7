"""The clip writer: finished audio + sidecar into the output folder, atomically, never
overwriting.

A DAW-side importer may look at the folder at any moment, so nothing appears under a final
name until it is complete: each file is written and fsynced under a hidden temporary name
(``bridge.files.is_temp_name``, which importers skip) and then published. The sidecar
is published before the audio, so an importer that sees a clip can always read its
metadata. Every clip also gets a line in the append-only ``manifest.jsonl``.

Publishing never replaces an existing file (``bridge.files.publish`` with
``overwrite=False``), so a name clash (another writer, a file the user made) costs a counter
suffix, never their file.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bridge.files import (
    fsync_directory,
    publish,
    remove_quietly,
    remove_stale_temps,
    write_temp,
)
from bridge.musical_time import format_bpm
from bridge.output.settings import OutputSettings
from bridge.output.sidecar import validate_sidecar

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
MAX_SLUG_CHARS = 40
# A temporary file this old was left by a writer that died mid-write; it is safe to remove.
STALE_TEMP_SECONDS = 3600.0
_MAX_NAME_TRIES = 1000
_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
_FIX = "choose another output folder (--out DIR, or [output] project_dir in the config)"


class WriterError(OSError):
    """A clip could not be written; the message names the folder, the cause and the fix.
    Nothing of the clip is left behind."""

    def __init__(self, message: str, *, folder: Path, code: int | None = None) -> None:
        super().__init__(message)
        self.errno = code
        self.folder = folder


@dataclass(frozen=True)
class ClipPaths:
    audio: Path
    sidecar: Path


def audio_subtype(audio_format: str, bit_depth: int) -> str:
    """soundfile subtype for the settings; FLAC has no float samples, so 32 becomes 24."""
    if audio_format == "flac" and bit_depth == 32:
        return "PCM_24"
    return _SUBTYPES[bit_depth]


def slugify(text: str, limit: int = MAX_SLUG_CHARS) -> str:
    """ASCII, lower case, words joined by "-", at most ``limit`` characters; "clip" if empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > limit:
        cut = slug[:limit + 1]
        slug = cut[:cut.rfind("-")] if "-" in cut[1:] else slug[:limit]
    return slug.strip("-") or "clip"


def clip_stem(sidecar: dict[str, Any], slug_source: str) -> str:
    """``20261124-153012-123_funky-drums_120bpm_4bars_s1234_v1``: sorts by creation time."""
    created = datetime.fromisoformat(str(sidecar["created"]).replace("Z", "+00:00"))
    stamp = created.astimezone(timezone.utc)
    bars = sidecar["bars"]
    return "_".join((
        f"{stamp:%Y%m%d-%H%M%S}-{stamp.microsecond // 1000:03d}",
        slugify(slug_source),
        f"{format_bpm(float(sidecar['bpm']))}bpm",
        f"{bars}bar" + ("" if bars == 1 else "s"),
        f"s{sidecar['seed']}",
        f"v{sidecar['variation']}",
    ))


def _describe(err: OSError, folder: Path) -> str:
    code = err.errno
    if code == errno.ENOENT:
        cause = ("the folder is gone (a disconnected drive or a moved project?); reconnect it "
                 "or " + _FIX)
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        cause = "the folder is not writable; fix its permissions or " + _FIX
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        cause = "the disk is full; free some space or " + _FIX
    elif code in (errno.ENOTDIR, errno.EEXIST):
        cause = "a file is in the way of the folder; move it or " + _FIX
    else:
        cause = f"{err.strerror or err}; " + _FIX
    return f"cannot write clips into {folder}: {cause}"


class ClipWriter:
    """Writes finished clips into ``out_dir`` (created if missing). Thread-safe."""

    def __init__(self, out_dir: str | os.PathLike[str], settings: OutputSettings) -> None:
        self.out_dir = Path(out_dir).expanduser()
        self.settings = settings
        self.subtype = audio_subtype(settings.format, settings.bit_depth)
        if settings.format == "flac" and settings.bit_depth == 32:
            log.info("FLAC has no float samples: bit_depth 32 is written as 24-bit FLAC")
        self._lock = threading.Lock()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WriterError(_describe(err, self.out_dir), folder=self.out_dir,
                              code=err.errno) from err
        self._sweep_stale_temps()

    def write(self, audio: np.ndarray, sidecar: dict[str, Any], *, slug_source: str,
              manifest: bool = True) -> ClipPaths:
        """Write ``audio`` (channels, samples) and ``sidecar`` (see ``build_sidecar``); return
        their final paths. Raises ValueError for audio and sidecar that disagree, and
        WriterError (an OSError) when the folder cannot take the clip. ``manifest=False``
        leaves the manifest line to ``append_manifest`` (a job's variations are listed only
        once all of them are written)."""
        # Encoded in memory first: libsndfile reports every disk failure as "System error",
        # while Python's own writes raise OSErrors that say what went wrong.
        encoded = self._encode(self._prepare(audio, sidecar))
        text = json.dumps(dict(sidecar), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        stem = clip_stem(sidecar, slug_source)
        temps: list[Path] = []
        published: list[Path] = []
        try:
            self._ensure_folder()
            temps.append(write_temp(self.out_dir, f"{stem}.{self.settings.format}", encoded))
            temps.append(write_temp(self.out_dir, f"{stem}.json", text.encode("utf-8")))
            audio_temp, json_temp = temps
            paths = self._publish_pair(stem, json_temp, audio_temp, published)
            fsync_directory(self.out_dir)
        except OSError as err:
            for path in published:
                remove_quietly(path)
            if isinstance(err, WriterError):
                raise
            raise WriterError(_describe(err, self.out_dir), folder=self.out_dir,
                              code=err.errno) from err
        finally:
            for path in temps:
                remove_quietly(path)
        if manifest:
            self.append_manifest(paths, sidecar)
        log.info("wrote %s", paths.audio)
        return paths

    def discard(self, paths: ClipPaths) -> None:
        """Remove a written clip again (a later variation of its job could not be written)."""
        for path in (paths.audio, paths.sidecar):
            remove_quietly(path)
        log.info("removed %s: its job failed", paths.audio.name)

    def _prepare(self, audio: np.ndarray, sidecar: dict[str, Any]) -> np.ndarray:
        """Check that audio, sidecar and settings agree; return (frames, channels) float32."""
        validate_sidecar(sidecar)
        x = np.asarray(audio)
        settings = self.settings
        if x.ndim != 2 or x.shape[0] != settings.channels:
            raise ValueError(
                f"audio must be shaped (channels={settings.channels}, samples), got {x.shape}; "
                "pass it through bridge.post.finishing.finish with the same OutputSettings"
            )
        found = {"frames": x.shape[1], "sample_rate": settings.sample_rate,
                 "format": settings.format}
        wrong = [f"{key} {sidecar[key]!r} (the clip has {value!r})"
                 for key, value in found.items() if sidecar[key] != value]
        if wrong:
            raise ValueError("sidecar disagrees with the clip: " + ", ".join(wrong)
                             + "; build the sidecar from the finished audio and these settings")
        data = np.ascontiguousarray(x.T, dtype=np.float32)
        if not np.isfinite(data).all():
            raise ValueError("audio has NaN or infinite samples; refusing to write a broken clip")
        if self.subtype != "FLOAT" and data.size and max(data.max(), -data.min()) > 1.0:
            # libsndfile builds without clipping enabled wrap such samples to the opposite
            # extreme; clipping here gives the same file everywhere, and the log says so.
            log.warning("audio exceeds full scale; clipping it to fit %s", self.subtype)
            data = np.clip(data, -1.0, 1.0)
        return data

    def _ensure_folder(self) -> None:
        if self.out_dir.is_dir():
            return
        # Only the clip folder itself is re-created: if its parent is gone too, the project or
        # its drive went away, and re-creating the whole path would hide clips on another disk.
        self.out_dir.mkdir(exist_ok=True)
        log.warning("output folder %s had vanished; re-created it", self.out_dir)

    def _encode(self, data: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        soundfile.write(buffer, data, self.settings.sample_rate, subtype=self.subtype,
                        format=self.settings.format.upper())
        return buffer.getvalue()

    def _publish_pair(self, stem: str, json_temp: Path, audio_temp: Path,
                      published: list[Path]) -> ClipPaths:
        """Sidecar first, then audio, under the first name free for both."""
        for attempt in range(1, _MAX_NAME_TRIES + 1):
            name = stem if attempt == 1 else f"{stem}-{attempt}"
            sidecar_path = self.out_dir / f"{name}.json"
            audio_path = self.out_dir / f"{name}.{self.settings.format}"
            if (os.path.lexists(audio_path)
                    or not publish(json_temp, sidecar_path, overwrite=False)):
                continue
            published.append(sidecar_path)
            if publish(audio_temp, audio_path, overwrite=False):
                published.append(audio_path)
                return ClipPaths(audio=audio_path, sidecar=sidecar_path)
            # The audio name went between the check and the link: take the sidecar back.
            os.replace(sidecar_path, json_temp)
            published.remove(sidecar_path)
        raise WriterError(f"cannot write clips into {self.out_dir}: {_MAX_NAME_TRIES} clips "
                          f"are already named {stem}*; move old clips away or " + _FIX,
                          folder=self.out_dir, code=errno.EEXIST)

    def append_manifest(self, paths: ClipPaths, sidecar: dict[str, Any]) -> None:
        """One JSON line per clip. The clip itself is complete by now, so a failure here is
        logged, not raised: losing a history line must not fail the job."""
        entry = {**sidecar, "audio_file": paths.audio.name, "sidecar_file": paths.sidecar.name}
        line = (json.dumps(entry, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        # Never through a symlink planted in the clip folder: it could point anywhere.
        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
                 | getattr(os, "O_NOFOLLOW", 0))
        try:
            with self._lock:
                fd = os.open(self.out_dir / MANIFEST_NAME, flags, 0o644)
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError:
            log.exception("clip %s is complete, but %s could not be updated",
                          paths.audio.name, self.out_dir / MANIFEST_NAME)

    def _sweep_stale_temps(self) -> None:
        """Remove temporary files a killed writer left behind (old enough to be no one's)."""
        remove_stale_temps(self.out_dir, older_than_s=STALE_TEMP_SECONDS)

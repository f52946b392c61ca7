"""The sidecar contract and the clip writer: names, atomic publishing, no overwrites,
the manifest, and clear errors for folders that cannot take a clip.

Running as root, a chmod'ed folder stays writable, so permission and disk-full failures are
injected at the file-writing seam; folder-level failures (a vanished project, a file in the
way) are real.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import logging
import os
import re
import shutil
import threading
import time
from datetime import datetime, timezone

import numpy as np
import pytest
import soundfile

from bridge.files import TEMP_PATTERNS, TEMP_PREFIX, TEMP_SUFFIX, is_temp_name
from bridge.output import writer as writer_mod
from bridge.output.settings import OutputSettings
from bridge.output.sidecar import (
    OPTIONAL_SIDECAR_FIELDS,
    SIDECAR_FIELDS,
    build_sidecar,
    validate_sidecar,
)
from bridge.output.writer import (
    MANIFEST_NAME,
    ClipWriter,
    WriterError,
    slugify,
)
from bridge.request import GenerationRequest

CREATED = datetime(2026, 11, 24, 15, 30, 12, 123456, tzinfo=timezone.utc)
STEM = "20261124-153012-123_funky-drums_120bpm_4bars_s1234_v1"


def make_sidecar(frames: int, settings: OutputSettings | None = None, *, variation: int = 1,
                 **request_fields) -> dict:
    request = GenerationRequest.from_dict(
        {"prompt": "Funky drums", "bpm": 120, "bars": 4, **request_fields})
    return build_sidecar(request, full_prompt="Funky drums, 120 BPM, 4/4 time signature",
                         seed=1234, model="facebook/musicgen-small",
                         settings=settings or OutputSettings(), frames=frames, job_id=7,
                         variation=variation, created=CREATED)


def noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.25 * rng.standard_normal((channels, frames))).astype(np.float32)


def final_names(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not is_temp_name(n))


# ---- the sidecar contract ----

def test_the_contract_covers_what_the_issue_asks_for():
    names = [f.name for f in SIDECAR_FIELDS]
    assert len(names) == len(set(names))
    assert {"prompt", "full_prompt", "bpm", "meter", "key", "bars", "seed", "top_k", "top_p",
            "temperature", "cfg", "model", "sample_rate", "frames", "duration_s", "job_id",
            "variation", "created", "position_s", "client_id", "format"} <= set(names)
    for name, json_type, meaning in SIDECAR_FIELDS:
        assert json_type in ("string", "number", "integer") and meaning, name


def test_sidecar_contents_and_types():
    data = make_sidecar(96000, key="a minor", meter="6/8", client_id="reaper", top_p=0.9)
    assert data["meter"] == "6/8" and data["key"] == "A minor" and data["client_id"] == "reaper"
    assert data["bpm"] == 120.0 and data["bars"] == 4 and data["seed"] == 1234
    assert (data["top_k"], data["top_p"], data["temperature"], data["cfg"]) == (250, 0.9, 1.0, 3.0)
    assert (data["sample_rate"], data["frames"], data["duration_s"]) == (48000, 96000, 2.0)
    assert (data["job_id"], data["variation"], data["format"]) == (7, 1, "wav")
    assert data["created"] == "2026-11-24T15:30:12.123+00:00"
    assert datetime.fromisoformat(data["created"]).utcoffset().total_seconds() == 0
    assert "position_s" not in data
    types = {"string": str, "number": (int, float), "integer": int}
    for name, json_type, _ in SIDECAR_FIELDS:
        if name in data:
            assert isinstance(data[name], types[json_type]), name
    assert set(data) == {f.name for f in SIDECAR_FIELDS} - OPTIONAL_SIDECAR_FIELDS


def test_position_is_recorded_when_the_request_has_one():
    assert make_sidecar(96000, position_s=12.5)["position_s"] == 12.5


def test_created_defaults_to_now_in_utc():
    request = GenerationRequest(prompt="x", bpm=90.0, bars=1)
    before = datetime.now(timezone.utc)
    data = build_sidecar(request, full_prompt="x", seed=1, model="m", settings=OutputSettings(),
                         frames=10, job_id=1, variation=1)
    created = datetime.fromisoformat(data["created"])
    assert created.tzinfo is not None
    assert abs((created - before).total_seconds()) < 5


def test_extra_fields_are_added_but_never_replace_the_contract():
    request = GenerationRequest(prompt="x", bpm=90.0, bars=1)
    kwargs = dict(full_prompt="x", seed=1, model="m", settings=OutputSettings(), frames=10,
                  job_id=1, variation=1, created=CREATED)
    data = build_sidecar(request, **kwargs, extra={"detected_bpm": None, "stretch_ratio": 1.01})
    assert data["detected_bpm"] is None and data["stretch_ratio"] == 1.01
    with pytest.raises(ValueError, match="extra field 'bpm' would replace the sidecar "
                                         "contract's field; give it another name"):
        build_sidecar(request, **kwargs, extra={"bpm": 1})
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        build_sidecar(request, **kwargs, extra={"when": CREATED})


def test_tempo_lock_time_map_is_a_typed_optional_contract_field():
    request = GenerationRequest(prompt="x", bpm=90.0, bars=1)
    kwargs = dict(full_prompt="x", seed=1, model="m", settings=OutputSettings(), frames=10,
                  job_id=1, variation=1, created=CREATED)
    data = build_sidecar(request, **kwargs,
                         extra={"time_map_scale": 1.04, "time_map_offset_s": 0.731})
    assert (data["time_map_scale"], data["time_map_offset_s"]) == (1.04, 0.731)
    with pytest.raises(ValueError, match="time_map_scale: expected a JSON number"):
        build_sidecar(request, **kwargs, extra={"time_map_scale": "1.04"})


def test_validation_names_every_bad_field():
    data = make_sidecar(10)
    del data["seed"]
    data["bars"] = "4"
    data["bpm"] = float("nan")
    with pytest.raises(ValueError) as err:
        validate_sidecar(data)
    message = str(err.value)
    assert message.startswith("sidecar does not match SIDECAR_FIELDS: seed: missing")
    assert "bars: expected a JSON integer, got '4'" in message
    assert "bpm: expected a JSON number, got nan" in message
    with pytest.raises(ValueError, match="created must be timezone-aware"):
        build_sidecar(GenerationRequest(prompt="x", bpm=90.0, bars=1), full_prompt="x", seed=1,
                      model="m", settings=OutputSettings(), frames=10, job_id=1, variation=1,
                      created=datetime(2026, 1, 1))


# ---- names ----

def test_names_sort_by_time_and_say_what_they_are(tmp_path):
    paths = ClipWriter(tmp_path, OutputSettings()).write(
        noise(100), make_sidecar(100), slug_source="Funky drums")
    assert paths.audio == tmp_path / f"{STEM}.wav"
    assert paths.sidecar == tmp_path / f"{STEM}.json"


@pytest.mark.parametrize(("text", "slug"), [
    ("Funky drums!!", "funky-drums"),
    ("  Ça  sonne — très   bien ", "ca-sonne-tres-bien"),
    ("🎹🎹", "clip"),
    ("a" * 50, "a" * 40),
    ("lo-fi hip hop beat with dusty vinyl crackle and mellow keys",
     "lo-fi-hip-hop-beat-with-dusty-vinyl"),  # cut at a word boundary
])
def test_slugs_are_short_ascii(text, slug):
    assert slugify(text) == slug
    assert len(slugify(text)) <= 40


# ---- contents and formats ----

@pytest.mark.parametrize(("fmt", "bits", "subtype"), [
    ("wav", 16, "PCM_16"), ("wav", 24, "PCM_24"), ("wav", 32, "FLOAT"),
    ("flac", 16, "PCM_16"), ("flac", 24, "PCM_24"), ("flac", 32, "PCM_24"),
])
def test_formats_and_bit_depths(tmp_path, fmt, bits, subtype, caplog):
    settings = OutputSettings(format=fmt, bit_depth=bits, sample_rate=44100, channels=1)
    audio = noise(4410, channels=1)
    with caplog.at_level(logging.INFO, logger="bridge.output.writer"):
        paths = ClipWriter(tmp_path, settings).write(audio, make_sidecar(4410, settings),
                                                     slug_source="x")
    assert paths.audio.suffix == f".{fmt}"
    info = soundfile.info(paths.audio)
    assert (info.format, info.subtype) == (fmt.upper(), subtype)
    assert (info.samplerate, info.channels, info.frames) == (44100, 1, 4410)
    data, _ = soundfile.read(paths.audio, dtype="float32", always_2d=True)
    step = {"PCM_16": 2.0 ** -15, "PCM_24": 2.0 ** -23, "FLOAT": 0.0}[subtype]
    assert np.allclose(data.T, audio, rtol=0, atol=step)
    assert ("24-bit FLAC" in caplog.text) == (fmt == "flac" and bits == 32)


def test_the_sidecar_file_holds_the_sidecar(tmp_path):
    sidecar = make_sidecar(480, position_s=3.0)
    paths = ClipWriter(tmp_path, OutputSettings()).write(noise(480), sidecar, slug_source="x")
    assert json.loads(paths.sidecar.read_text(encoding="utf-8")) == sidecar


def test_audio_past_full_scale_is_clipped_for_integer_formats(tmp_path, caplog):
    audio = np.full((2, 100), 1.5, np.float32)
    with caplog.at_level(logging.WARNING, logger="bridge.output.writer"):
        paths = ClipWriter(tmp_path, OutputSettings()).write(audio, make_sidecar(100),
                                                             slug_source="x")
    data, _ = soundfile.read(paths.audio)
    assert data.max() == pytest.approx(1.0, abs=1e-6)  # clipped, not wrapped to negative
    assert "exceeds full scale" in caplog.text


def test_audio_and_sidecar_must_agree(tmp_path):
    writer = ClipWriter(tmp_path, OutputSettings())
    with pytest.raises(ValueError, match=r"sidecar disagrees with the clip: frames 200 "
                                         r"\(the clip has 100\)"):
        writer.write(noise(100), make_sidecar(200), slug_source="x")
    with pytest.raises(ValueError, match=r"channels=2, samples\), got \(1, 100\)"):
        writer.write(noise(100, channels=1), make_sidecar(100), slug_source="x")
    with pytest.raises(ValueError, match="seed: missing"):
        writer.write(noise(100), {k: v for k, v in make_sidecar(100).items() if k != "seed"},
                     slug_source="x")
    assert os.listdir(tmp_path) == []


# ---- atomic publishing ----

def test_the_sidecar_lands_before_the_audio(tmp_path, monkeypatch):
    order = []
    real_publish = writer_mod.publish

    def spy(temp, final, *, overwrite):
        # Both patterns match every temporary name, so either rule keeps importers off it.
        assert all(fnmatch.fnmatch(temp.name, pattern) for pattern in TEMP_PATTERNS)
        assert not is_temp_name(final.name)
        order.append((final.name, final.with_suffix(".json").exists()))
        return real_publish(temp, final, overwrite=overwrite)

    monkeypatch.setattr(writer_mod, "publish", spy)
    writer = ClipWriter(tmp_path, OutputSettings())
    writer.write(noise(100), make_sidecar(100), slug_source="Funky drums")
    assert order == [(f"{STEM}.json", False), (f"{STEM}.wav", True)]


def test_a_folder_watcher_never_sees_a_partial_clip(tmp_path):
    frames = 48000 * 20  # 5.8 MB per clip: writing takes long enough to be caught midway
    audio = noise(frames)
    writer = ClipWriter(tmp_path, OutputSettings())
    stop = threading.Event()
    problems: list[str] = []
    seen: set[str] = set()
    scans = [0]

    def scan() -> None:
        for name in final_names(tmp_path):
            if not name.endswith(".wav") or name in seen:
                continue
            try:
                found = soundfile.info(tmp_path / name).frames
            except (soundfile.SoundFileError, OSError) as err:
                problems.append(f"{name}: unreadable: {err}")
                continue
            if found != frames:
                problems.append(f"{name}: {found} frames, not {frames}")
            if not (tmp_path / name).with_suffix(".json").exists():
                problems.append(f"{name}: audio without its sidecar")
            seen.add(name)

    def watch() -> None:
        while True:
            done = stop.is_set()
            scan()
            scans[0] += 1
            if done:
                return

    watcher = threading.Thread(target=watch, name="folder-watcher")
    watcher.start()
    try:
        for variation in range(1, 4):
            writer.write(audio, make_sidecar(frames, variation=variation), slug_source="watch")
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()
    assert problems == []
    assert len(seen) == 3
    assert scans[0] > 3


# ---- never overwrite ----

def test_an_existing_file_is_never_overwritten(tmp_path):
    users = tmp_path / f"{STEM}.wav"
    users.write_bytes(b"the user's own take")
    paths = ClipWriter(tmp_path, OutputSettings()).write(noise(100), make_sidecar(100),
                                                         slug_source="Funky drums")
    assert users.read_bytes() == b"the user's own take"
    assert paths.audio.name == f"{STEM}-2.wav" and paths.sidecar.name == f"{STEM}-2.json"
    assert not (tmp_path / f"{STEM}.json").exists()  # no sidecar beside someone else's audio


def test_the_same_clip_twice_gets_a_counter(tmp_path):
    writer = ClipWriter(tmp_path, OutputSettings())
    first = writer.write(noise(100, seed=1), make_sidecar(100), slug_source="Funky drums")
    second = writer.write(noise(100, seed=2), make_sidecar(100), slug_source="Funky drums")
    assert second.audio.name == f"{STEM}-2.wav"
    assert soundfile.read(first.audio)[0][0, 0] != soundfile.read(second.audio)[0][0, 0]


def test_concurrent_writers_of_the_same_name_never_collide(tmp_path):
    writer = ClipWriter(tmp_path, OutputSettings())
    results, errors = [], []

    def write(seed: int) -> None:
        try:
            results.append(writer.write(noise(4800, seed=seed), make_sidecar(4800),
                                        slug_source="Funky drums"))
        except Exception as err:  # reported below; a thread must not swallow it
            errors.append(err)

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert sorted(p.audio.name for p in results) == sorted(
        [f"{STEM}.wav"] + [f"{STEM}-{n}.wav" for n in (2, 3, 4)])
    firsts = {soundfile.read(p.audio)[0][0, 0] for p in results}
    assert len(firsts) == 4  # four different clips, none overwrote another
    assert len((tmp_path / MANIFEST_NAME).read_text().splitlines()) == 4


def test_without_hard_links_the_fallback_still_never_overwrites(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")  # e.g. exFAT

    monkeypatch.setattr(writer_mod.os, "link", no_links)
    writer = ClipWriter(tmp_path, OutputSettings())
    writer.write(noise(100), make_sidecar(100), slug_source="Funky drums")
    paths = writer.write(noise(100), make_sidecar(100), slug_source="Funky drums")
    assert paths.audio.name == f"{STEM}-2.wav"
    assert final_names(tmp_path) == sorted(
        [f"{STEM}.json", f"{STEM}.wav", f"{STEM}-2.json", f"{STEM}-2.wav", MANIFEST_NAME])


def test_an_audio_name_taken_mid_publish_moves_the_clip_on(tmp_path, monkeypatch):
    real_publish = writer_mod.publish

    def racing(temp, final, *, overwrite):
        if final.name == f"{STEM}.wav":
            final.write_bytes(b"another writer got here first")
        return real_publish(temp, final, overwrite=overwrite)

    monkeypatch.setattr(writer_mod, "publish", racing)
    paths = ClipWriter(tmp_path, OutputSettings()).write(noise(100), make_sidecar(100),
                                                         slug_source="Funky drums")
    assert paths.audio.name == f"{STEM}-2.wav"
    assert (tmp_path / f"{STEM}.wav").read_bytes() == b"another writer got here first"
    assert not (tmp_path / f"{STEM}.json").exists()
    assert json.loads(paths.sidecar.read_text())["frames"] == 100


# ---- manifest ----

def test_each_clip_appends_one_manifest_line(tmp_path):
    manifest = tmp_path / MANIFEST_NAME
    manifest.write_text('{"earlier": "history"}\n')
    writer = ClipWriter(tmp_path, OutputSettings())
    written = [writer.write(noise(100), make_sidecar(100, variation=v), slug_source="x")
               for v in (1, 2)]
    lines = manifest.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"earlier": "history"}'
    entries = [json.loads(line) for line in lines[1:]]
    assert [e["audio_file"] for e in entries] == [p.audio.name for p in written]
    assert [e["sidecar_file"] for e in entries] == [p.sidecar.name for p in written]
    assert [e["variation"] for e in entries] == [1, 2]
    assert all(e["seed"] == 1234 and e["frames"] == 100 for e in entries)


def test_a_manifest_failure_does_not_undo_a_complete_clip(tmp_path, caplog):
    (tmp_path / MANIFEST_NAME).mkdir()  # something unappendable in the manifest's place
    with caplog.at_level(logging.ERROR, logger="bridge.output.writer"):
        paths = ClipWriter(tmp_path, OutputSettings()).write(noise(100), make_sidecar(100),
                                                             slug_source="x")
    assert paths.audio.exists() and paths.sidecar.exists()
    assert "is complete, but" in caplog.text


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="O_NOFOLLOW: POSIX")
def test_a_manifest_symlinked_outside_is_not_written_through(tmp_path, caplog):
    outside = tmp_path / "outside.txt"
    outside.write_text("someone else's file\n")
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / MANIFEST_NAME).symlink_to(outside)
    with caplog.at_level(logging.ERROR, logger="bridge.output.writer"):
        paths = ClipWriter(clips, OutputSettings()).write(noise(100), make_sidecar(100),
                                                          slug_source="x")
    assert paths.audio.exists()
    assert outside.read_text() == "someone else's file\n"


# ---- folders that cannot take a clip ----

def test_a_file_in_the_way_of_the_folder(tmp_path):
    blocker = tmp_path / "project"
    blocker.write_text("not a folder")
    with pytest.raises(WriterError) as err:
        ClipWriter(blocker / "MusicGen", OutputSettings())
    assert str(err.value) == (
        f"cannot write clips into {blocker / 'MusicGen'}: a file is in the way of the folder; "
        "move it or choose another output folder (--out DIR, or [output] project_dir in the "
        "config)")
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOTDIR


def test_a_vanished_project_is_reported_not_recreated(tmp_path):
    out = tmp_path / "project" / "MusicGen"
    writer = ClipWriter(out, OutputSettings())
    shutil.rmtree(tmp_path / "project")  # the drive was unplugged, the project moved
    with pytest.raises(WriterError, match="the folder is gone .a disconnected drive or a moved "
                                          "project.+; reconnect it or choose another output"):
        writer.write(noise(100), make_sidecar(100), slug_source="x")
    assert not (tmp_path / "project").exists()


def test_a_vanished_clip_folder_is_recreated(tmp_path, caplog):
    out = tmp_path / "project" / "MusicGen"
    writer = ClipWriter(out, OutputSettings())
    out.rmdir()
    with caplog.at_level(logging.WARNING, logger="bridge.output.writer"):
        paths = writer.write(noise(100), make_sidecar(100), slug_source="x")
    assert paths.audio.exists()
    assert "had vanished; re-created it" in caplog.text


@pytest.mark.parametrize(("fail_on", "code", "text"), [
    (1, errno.ENOSPC, "the disk is full; free some space or choose another output folder"),
    (2, errno.ENOSPC, "the disk is full; free some space or choose another output folder"),
    (1, errno.EACCES, "the folder is not writable; fix its permissions or choose another"),
])
def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, fail_on, code, text):
    calls = [0]
    real_write = writer_mod.write_temp

    def failing(folder, name, content):
        calls[0] += 1
        if calls[0] == fail_on:
            raise OSError(code, os.strerror(code), str(folder / name))
        return real_write(folder, name, content)

    monkeypatch.setattr(writer_mod, "write_temp", failing)
    with pytest.raises(WriterError, match=re.escape(f"cannot write clips into {tmp_path}: {text}")):
        ClipWriter(tmp_path, OutputSettings()).write(noise(100), make_sidecar(100),
                                                     slug_source="x")
    assert os.listdir(tmp_path) == []


def test_a_failure_after_the_sidecar_landed_takes_it_back(tmp_path, monkeypatch):
    real_publish = writer_mod.publish

    def failing(temp, final, *, overwrite):
        if final.suffix == ".wav":
            raise OSError(errno.EIO, "Input/output error")
        return real_publish(temp, final, overwrite=overwrite)

    monkeypatch.setattr(writer_mod, "publish", failing)
    with pytest.raises(WriterError, match="Input/output error; choose another output folder"):
        ClipWriter(tmp_path, OutputSettings()).write(noise(100), make_sidecar(100),
                                                     slug_source="x")
    assert os.listdir(tmp_path) == []


def test_stale_temporary_files_are_swept_fresh_ones_kept(tmp_path):
    stale = tmp_path / f"{TEMP_PREFIX}{STEM}.wav.0123456789ab{TEMP_SUFFIX}"
    fresh = tmp_path / f"{TEMP_PREFIX}{STEM}-2.wav.ba9876543210{TEMP_SUFFIX}"
    users = tmp_path / ".notes.part"
    for path in (stale, fresh, users):
        path.write_bytes(b"x")
    old = time.time() - writer_mod.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(users, (old, old))
    ClipWriter(tmp_path, OutputSettings())
    assert not stale.exists() and fresh.exists() and users.exists()


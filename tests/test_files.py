"""The one atomic write: a reader sees the old complete file or the new one, never part of
either, and nothing is left behind when a write fails."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from bridge import files
from bridge.files import (
    is_temp_name,
    remove_stale_temps,
    write_atomically,
    write_temp,
)


def visible(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("step", ["os.replace", "os.fsync"])
def test_a_crash_between_write_and_rename_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch,
                                                                        step):
    path = tmp_path / "journal.jsonl"
    path.write_text("old, complete\n")

    def crash(*args):
        raise OSError(5, "Input/output error")

    module, name = step.split(".")
    monkeypatch.setattr(os, name, crash)
    with pytest.raises(OSError, match="Input/output error"):
        write_atomically(path, "new, complete\n")
    monkeypatch.undo()
    assert path.read_text() == "old, complete\n"
    assert visible(tmp_path) == ["journal.jsonl"]


def test_a_failed_first_write_leaves_no_file_at_all(tmp_path, monkeypatch):
    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(tmp_path / "config.toml", "[osc]\n")
    monkeypatch.undo()
    assert visible(tmp_path) == []


def test_a_refusing_check_keeps_the_old_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[osc]\nport = 9000\n")
    seen = []

    def check(temp):
        seen.append(temp.read_text())
        raise ValueError("port must be 1..65535")

    with pytest.raises(ValueError, match="port must be"):
        write_atomically(path, "[osc]\nport = 0\n", check=check)
    assert seen == ["[osc]\nport = 0\n"]  # the check saw the complete new text
    assert path.read_text() == "[osc]\nport = 9000\n"
    assert visible(tmp_path) == ["config.toml"]


def test_the_file_and_then_the_folder_are_fsynced(tmp_path, monkeypatch):
    real_fsync = os.fsync
    synced = []

    def record(fd):
        st = os.fstat(fd)
        synced.append("folder" if stat.S_ISDIR(st.st_mode) and os.path.samestat(
            st, os.stat(tmp_path)) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    assert write_atomically(tmp_path / "clip.json", b"{}") is True
    assert synced == ["file", "folder"]
    assert (tmp_path / "clip.json").read_bytes() == b"{}"


def test_no_overwrite_never_replaces_an_existing_file(tmp_path):
    path = tmp_path / "clip.wav"
    path.write_bytes(b"the user's own file")
    assert write_atomically(path, b"ours", overwrite=False) is False
    assert path.read_bytes() == b"the user's own file"
    assert visible(tmp_path) == ["clip.wav"]


def test_no_overwrite_without_hard_links_still_never_replaces(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")  # exFAT, some network shares

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "clip.wav"
    assert write_atomically(path, b"first", overwrite=False) is True
    assert write_atomically(path, b"second", overwrite=False) is False
    assert path.read_bytes() == b"first"
    assert visible(tmp_path) == ["clip.wav"]


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("a")
    path.chmod(0o640)
    write_atomically(path, "b")
    assert (path.read_text(), stat.S_IMODE(os.stat(path).st_mode)) == ("b", 0o640)


def test_a_new_file_is_readable_by_others_as_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "clip.json", "{}")
    finally:
        os.umask(old)
    # 0o666 less the umask, not mkstemp's 0o600: a DAW running as another user reads clips.
    assert stat.S_IMODE(os.stat(tmp_path / "clip.json").st_mode) == 0o644


def test_two_writers_drawing_the_same_token_get_different_temp_names(tmp_path, monkeypatch):
    tokens = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(tokens))
    first = write_temp(tmp_path, "journal.jsonl", b"one")
    second = write_temp(tmp_path, "journal.jsonl", b"two")
    assert (first.name, second.name) == (".journal.jsonl.aaaaaaaaaaaa.part",
                                         ".journal.jsonl.bbbbbbbbbbbb.part")
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")


def test_concurrent_writers_each_leave_a_whole_file_and_no_temps(tmp_path):
    path = tmp_path / "journal.jsonl"
    texts = [f"writer {n}\n" * 2000 for n in range(8)]
    errors = []

    def write(text):
        try:
            for _ in range(20):
                write_atomically(path, text)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert path.read_text() in texts
    assert visible(tmp_path) == ["journal.jsonl"]


@pytest.mark.parametrize(("name", "temp"), [
    (".clip.wav.0123456789ab.part", True),  # ours
    (".hidden", True),
    ("request.json.tmp", True),
    ("REQUEST.JSON.TMP", True),
    ("clip.wav.part", True),
    ("clip.PART", True),
    ("clip.wav", False),
    ("request.json", False),
    ("tmp.json", False),
    ("partial.wav", False),
])
def test_one_rule_for_unfinished_names(name, temp):
    assert is_temp_name(name) is temp


def test_the_stale_sweep_removes_only_our_old_temps(tmp_path):
    ours_old = tmp_path / ".clip.wav.0123456789ab.part"
    ours_new = tmp_path / ".clip.wav.ba9876543210.part"
    users = tmp_path / ".notes.part"
    for path in (ours_old, ours_new, users):
        path.write_bytes(b"x")
    old = os.stat(ours_old).st_mtime - 7200
    os.utime(ours_old, (old, old))
    os.utime(users, (old, old))
    remove_stale_temps(tmp_path, older_than_s=3600)
    assert visible(tmp_path) == [".clip.wav.ba9876543210.part", ".notes.part"]

"""Request files from a hostile or careless local user: special files, odd names, JSON that
breaks parsers, symlinks planted in the output folder. Each must end with a reason file (or a
clip), never block the inbox, never be read without bound, never be processed twice."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.inbox.test_inbox import VALID, wait_for, write_atomic

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs and symlinks: POSIX")


def write_named(folder: Path, name: str, data: object) -> None:
    """Atomically, through a short temporary name (the final name may be 255 bytes)."""
    tmp = folder / ".short.tmp"
    tmp.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    os.replace(tmp, folder / name)


def _reasons(box) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in (box.folder / "rejected").glob("*.error.txt"))


def _left(box) -> list[str]:
    return sorted(p.name for p in box.folder.iterdir() if p.name not in ("done", "rejected"))


def wait_moved_aside(box) -> None:
    """Until no request is left in the inbox: a refusal's report lands first, and the request
    is moved (and the refusal logged) a moment later."""
    wait_for(lambda: _left(box) == [])


def test_a_fifo_is_refused_and_does_not_block_a_later_request(make_box):
    box = make_box()
    os.mkfifo(box.folder / "pipe.json")
    write_atomic(box.folder, "after.json", VALID)
    wait_for(lambda: box.done() == ["after.job1.json"])
    wait_for(lambda: "pipe.error.txt" in box.rejected())
    assert "named pipe" in box.error_text("pipe")
    wait_moved_aside(box)


@pytest.mark.parametrize(("name", "target", "what"), [
    ("zero.json", "/dev/zero", "symbolic link"),
    ("folder.json", "SELF_FOLDER", "symbolic link"),
    ("self.json", "self.json", "symbolic link"),
])
def test_symlinks_are_refused_not_followed(make_box, name, target, what):
    box = make_box(start=False)
    box.folder.mkdir(parents=True)
    os.symlink(str(box.folder) if target == "SELF_FOLDER" else target, box.folder / name)
    box.start()
    stem = name[:-5]
    wait_for(lambda: f"{stem}.error.txt" in box.rejected())
    assert what in box.error_text(stem)
    wait_moved_aside(box)


def test_a_folder_named_like_a_request_is_moved_aside(make_box):
    box = make_box(start=False)
    (box.folder / "dir.json").mkdir(parents=True)
    box.start()
    wait_for(lambda: "dir.error.txt" in box.rejected())
    assert "folder" in box.error_text("dir")


@pytest.mark.parametrize(("text", "words"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"prompt": "x", "bpm": 1' + "0" * 400 + ', "bars": 1}', "bpm"),
    ('{"prompt": "x", "bpm": ' + "9" * 5000 + ', "bars": 1}', "cannot be read"),
])
def test_json_that_breaks_the_parser_gets_a_reason(make_box, text, words):
    box = make_box()
    write_atomic(box.folder, "nasty.json", text)
    wait_for(lambda: "nasty.error.txt" in box.rejected())
    assert words in box.error_text("nasty")
    wait_moved_aside(box)


def test_fifty_thousand_unknown_keys_give_a_short_reason(make_box, caplog):
    box = make_box()
    with caplog.at_level(logging.WARNING, logger="bridge.inbox.folder"):
        write_atomic(box.folder, "keys.json", {**VALID, **{f"k{i}": i for i in range(50_000)}})
        # The report lands first, the log line once the request is moved: wait for both.
        wait_for(lambda: "keys.error.txt" in box.rejected())
        wait_for(lambda: "inbox: refused" in caplog.text)
    report = box.error_text("keys")
    assert "k0: unknown field" in report
    assert len(report.encode()) < 20_000
    assert max(len(r.getMessage()) for r in caplog.records) < 10_000


def test_a_255_byte_name_is_processed_once_even_after_a_restart(make_box, tmp_path):
    box = make_box()
    name = "a" * 250 + ".json"
    write_named(box.folder, name, VALID)
    wait_for(box.done)
    assert box.folder.joinpath(name).exists() is False
    [done] = box.done()
    assert len(done.encode()) < 200
    box.stop()
    again = make_box(start=False)
    again.daemon, again.folder = box.daemon, box.folder  # same folder, fresh inbox
    from bridge.inbox.folder import Inbox
    again.inbox = Inbox(box.daemon, box.folder, settle_s=0.05, parse_grace_s=0.6,
                        retry_full_s=0.1)
    again.start()
    assert again.settled()
    assert box.daemon.queue.jobs()[-1].job_id == 1  # no second job for the same file


def test_a_bad_request_with_a_long_name_still_gets_a_reason(make_box):
    box = make_box()
    write_named(box.folder, "b" * 250 + ".json", {"bpm": 0})
    wait_for(lambda: any(n.endswith(".error.txt") for n in box.rejected()))
    wait_moved_aside(box)
    assert "bpm" in _reasons(box)


def test_non_utf8_and_newline_names_get_readable_reasons_and_one_log_line(make_box, caplog):
    box = make_box()
    with caplog.at_level(logging.INFO, logger="bridge.inbox.folder"):
        raw = os.path.join(os.fsencode(box.folder), b"caf\xe9.json")
        with open(raw, "wb") as f:
            f.write(b'{"bpm": 0}')
        write_atomic(box.folder, "evil\nINFO forged line.json", {"bpm": 0})
        wait_for(lambda: len([n for n in box.rejected() if n.endswith(".error.txt")]) == 2)
        wait_for(lambda: caplog.text.count("inbox: refused") == 2)
    reasons = _reasons(box)
    assert reasons.count("bpm") >= 2
    for record in caplog.records:
        assert "\n" not in record.getMessage()
    wait_moved_aside(box)


def test_requests_done_symlinked_outside_is_not_written_through(make_box, tmp_path):
    box = make_box(start=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    box.folder.mkdir(parents=True)
    os.symlink(outside, box.folder / "done")
    with pytest.raises(OSError, match="not a real folder"):
        box.inbox.start()
    box.inbox.stop()
    assert list(outside.iterdir()) == []


def test_the_watch_folder_is_resolved(make_box, tmp_path):
    box = make_box(start=False)
    real = box.folder
    real.mkdir(parents=True)
    link = tmp_path / "linked-requests"
    os.symlink(real, link)
    from bridge.inbox.folder import Inbox
    box.inbox = Inbox(box.daemon, link, settle_s=0.05, parse_grace_s=0.6, retry_full_s=0.1)
    box.start()
    assert box.inbox.folder == real.resolve()
    write_atomic(real, "r.json", VALID)
    wait_for(lambda: box.done() == ["r.job1.json"])


def test_error_report_is_written_for_a_request_json_that_is_not_an_object(make_box):
    box = make_box()
    write_atomic(box.folder, "list.json", json.dumps([1, 2]))
    wait_for(lambda: "list.error.txt" in box.rejected())
    assert "JSON object" in box.error_text("list")


def test_safe_stem_is_bounded_and_printable():
    from bridge.inbox.folder import safe_stem
    assert safe_stem("reaper-1.json") == "reaper-1"
    long = safe_stem("x" * 300 + ".json")
    assert len(long.encode()) <= 120 and long.startswith("xxx")
    assert "\n" not in safe_stem("a\nb.json")
    assert safe_stem("a\nb.json") != safe_stem("a_b.json")  # no two names share a stem
    Path(safe_stem("caf\udce9.json")).name.encode("utf-8")  # no lone surrogates left


def test_audio_outside_the_allowed_folders_is_refused_without_saying_if_it_exists(make_box):
    box = make_box()
    values = {"real": "/etc/hostname", "gone": "/etc/no-such-file.wav", "dev": "/dev/zero",
              "up": "../../../../x.wav"}
    for stem, value in values.items():
        write_atomic(box.folder, f"{stem}.json", {**VALID, "audio_prompt": value})
    wait_for(lambda: len([n for n in box.rejected() if n.endswith(".txt")]) == 4)
    problems = {}
    for stem in values:
        report = box.error_text(stem)
        problems[stem] = report.split("Problems:")[1].split("Fix the file")[0]
        assert "outside the folders audio is read from" in problems[stem]
    # The same answer whether the file exists, is a device or is missing: no probing.
    assert problems["real"].replace("/etc/hostname", "P") == \
        problems["gone"].replace("/etc/no-such-file.wav", "P") == \
        problems["dev"].replace("/dev/zero", "P")
    assert box.daemon.queue.jobs() == []


def test_audio_in_a_configured_folder_is_accepted(make_box, tmp_path):
    import numpy as np
    import soundfile as sf
    stems = tmp_path / "stems"
    stems.mkdir()
    take = stems / "take.wav"
    t = np.arange(44_100) / 44_100
    sf.write(take, (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44_100)
    box = make_box(overrides={"generation": {"audio_folders": [str(stems)]}})
    write_atomic(box.folder, "ok.json", {**VALID, "audio_prompt": str(take)})
    wait_for(lambda: box.done() == ["ok.job1.json"])


def test_a_request_queued_but_not_moved_before_a_kill_runs_once(make_box, monkeypatch,
                                                                  tmp_path):
    from bridge.inbox.folder import Inbox
    from tests.support import make_daemon

    box = make_box()
    monkeypatch.setattr(Inbox, "_accept", lambda self, path, job_id: None)  # killed here
    write_atomic(box.folder, "once.json", VALID)
    wait_for(lambda: box.daemon.queue.jobs())
    assert box.settled()
    box.stop()
    assert (box.folder / "once.json").exists()  # the file was never moved
    monkeypatch.undo()
    restarted = make_daemon(tmp_path / "d0", box.daemon.engine)  # same journal and folder
    inbox = Inbox(restarted, box.folder, settle_s=0.05, parse_grace_s=0.6, retry_full_s=0.1)
    restarted.queue.resume()
    inbox.start()
    try:
        wait_for(lambda: (box.folder / "done" / "once.job1.json").exists())
        assert [job.job_id for job in restarted.jobs()] == [1]  # resumed, not queued again
    finally:
        inbox.stop()
        restarted.stop()


def test_a_folder_made_while_watching_is_moved_aside(make_box):
    box = make_box()
    (box.folder / "late.json").mkdir()
    wait_for(lambda: "late.error.txt" in box.rejected())
    assert "folder" in box.error_text("late")
    wait_moved_aside(box)

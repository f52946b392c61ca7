"""Refusals that must come at once, before the model loads, in one line naming the fix:
config files that are not files, an unwritable journal, an empty prompt, a read-only clip
folder, a busy OSC port, an offline first run; and a device such as cuda:1 accepted."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from bridge import config as config_mod
from bridge import preflight
from bridge.cli import _build_parser, main


@pytest.fixture
def no_model_load(monkeypatch):
    """The checks must run before the weights load: loading is a test failure here."""
    import bridge.engine.loader as loader

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the cheap checks")

    monkeypatch.setattr(loader, "load_engine", refuse)
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", "/nonexistent/config.toml")


@pytest.fixture
def read_only_folder(tmp_path):
    """An existing folder no file can be created in, for root too (root ignores mode bits:
    then /sys, mounted read-only)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if not os.access(folder, os.W_OK):
            yield folder
            return
        try:
            open("/sys/.musicgen-test", "w").close()  # noqa: SIM115
        except OSError:
            yield __import__("pathlib").Path("/sys")
            return
        pytest.skip("no read-only folder on this machine")
    finally:
        folder.chmod(0o700)


def _errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("musicgen-bridge")]


def test_config_from_dev_zero_is_refused_with_a_reason():
    with pytest.raises(config_mod.ConfigError, match="device, not a regular file"):
        config_mod.load("/dev/zero")


@pytest.mark.skipif(os.name != "posix", reason="FIFOs: POSIX")
def test_config_from_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            config_mod.load(fifo)
        except BaseException as err:  # noqa: BLE001 - recorded for the assertion
            outcome.append(err)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the reader so the test process can end
        with open(fifo, "w"):
            pass
        pytest.fail("loading a FIFO as config blocked")
    assert "named pipe" in str(outcome[0])


def test_an_unwritable_journal_is_refused_at_load_naming_the_key(tmp_path, read_only_folder):
    file = tmp_path / "c.toml"
    file.write_text(f'[queue]\njournal = "{read_only_folder / "sub" / "journal.jsonl"}"\n')
    with pytest.raises(config_mod.ConfigError, match=r"\[queue\] journal .* not a writable"):
        config_mod.load(file)


def test_a_journal_that_is_a_folder_is_refused(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text(f'[queue]\njournal = "{tmp_path}"\n')
    with pytest.raises(config_mod.ConfigError, match=r"\[queue\] journal .* is a folder"):
        config_mod.load(file)


def test_cuda_with_an_index_is_accepted_by_config_and_command_line(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text('[model]\ndevice = "cuda:1"\n')
    assert config_mod.load(file).model.device == "cuda:1"
    args = _build_parser().parse_args(["serve", "--device", "cuda:1"])
    assert args.device == "cuda:1"
    with pytest.raises(config_mod.ConfigError, match="cuda:N"):
        config_mod.defaults().with_overrides({("model", "device"): "gpu"})


def test_empty_prompt_names_the_flag_before_the_model_loads(tmp_path, no_model_load, capsys):
    status = main(["generate", "--prompt", "  ", "--out", str(tmp_path / "clips")])
    assert status == 2
    [line] = _errors(capsys)
    assert "--prompt" in line and "/musicgen" not in line


def test_a_read_only_clip_folder_is_refused_before_the_model_loads(read_only_folder,
                                                                   no_model_load, capsys):
    status = main(["generate", "--prompt", "drums", "--out", str(read_only_folder)])
    assert status == 2
    [line] = _errors(capsys)
    assert "cannot write into the clip folder" in line and str(read_only_folder) in line


def test_a_busy_osc_port_is_refused_before_the_model_loads(tmp_path, no_model_load, capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        status = main(["serve", "--osc-port", str(port), "--out", str(tmp_path / "clips")])
    assert status == 2
    [line] = _errors(capsys)
    assert f"127.0.0.1:{port}" in line and "--osc-port" in line


def test_an_offline_first_run_fails_fast_with_one_message(tmp_path, monkeypatch, no_model_load,
                                                          capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    status = main(["generate", "--prompt", "drums", "--model", "nobody/not-downloaded",
                   "--out", str(tmp_path / "clips")])
    assert status == 2
    [line] = _errors(capsys)
    assert "not downloaded yet" in line and "nobody/not-downloaded" in line


def test_preflight_port_zero_and_a_writable_folder_pass(tmp_path):
    preflight.check_udp_port_free("127.0.0.1", 0)
    preflight.check_output_folder(tmp_path / "new" / "clips")
    assert (tmp_path / "new" / "clips").is_dir()
    assert list((tmp_path / "new" / "clips").iterdir()) == []  # the probe is gone


def test_a_second_serve_on_the_same_journal_is_refused_before_the_model_loads(
        tmp_path, no_model_load, capsys):
    import subprocess
    import sys

    journal = tmp_path / "journal.jsonl"
    config = tmp_path / "c.toml"
    config.write_text(f'[queue]\njournal = "{journal}"\n[osc]\nport = 0\n')
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from bridge.jobs.journal import JournalLock\n"
         "JournalLock.acquire(Path(sys.argv[1]))\nprint('locked', flush=True)\n"
         "time.sleep(60)\n", str(journal)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        status = main(["serve", "--config", str(config), "--out", str(tmp_path / "clips")])
    finally:
        holder.kill()
        holder.wait()
    assert status == 2
    [line] = _errors(capsys)
    assert f"another musicgen-bridge (pid {holder.pid}) is using the job journal" in line

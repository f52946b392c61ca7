"""`musicgen-bridge doctor`: each problem a musician can have is named, with its fix, and the
exit status says whether a first clip can work."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from bridge import config as config_mod
from bridge import doctor
from bridge.doctor import FAIL, OK, WARN, Context


def _ctx(tmp_path, **kw) -> Context:
    config = kw.pop("config", None) or config_mod.defaults()
    return Context(config, "", kw.pop("out", tmp_path / "out"), kw.pop("resource", tmp_path / "R"))


def _by_name(results):
    return {r.name: r for r in results}


def _config(tmp_path, text: str) -> config_mod.Config:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return config_mod.load(path)


def test_a_local_model_directory_is_found_with_its_size(tmp_path, tiny_model_dir):
    config = _config(tmp_path, f'[model]\nname = "{tiny_model_dir}"\n')
    check = doctor.check_model(_ctx(tmp_path, config=config))
    assert check.status == OK and str(tiny_model_dir) in check.detail
    assert check.detail.endswith("MB)") or check.detail.endswith("KB)")


def test_a_hub_model_not_cached_offline_fails_naming_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    check = doctor.check_model(_ctx(tmp_path))
    assert check.status == FAIL
    assert "facebook/musicgen-small" in check.detail and "tiny-model" in check.fix


def test_an_unreachable_worker_fails_naming_the_worker_and_local_needs_none(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    config = _config(tmp_path, f'[model]\nbackend = "remote"\n'
                               f'worker_url = "http://127.0.0.1:{port}"\n')
    check = doctor.check_worker(_ctx(tmp_path, config=config))
    assert check.status == FAIL and f"127.0.0.1:{port}" in check.detail
    assert "musicgen-bridge worker" in check.fix
    assert doctor.check_model(_ctx(tmp_path, config=config)).status == OK  # the worker's job
    assert doctor.check_worker(_ctx(tmp_path)).status == OK  # local: no worker to reach


def test_an_unwritable_output_folder_fails_with_the_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    check = doctor.check_output(_ctx(tmp_path, out=blocker / "MusicGen"))
    assert check.status == FAIL and "--out" in check.fix
    good = doctor.check_output(_ctx(tmp_path, out=tmp_path / "clips"))
    assert good.status == OK and list((tmp_path / "clips").iterdir()) == []  # probe removed


def test_a_taken_osc_port_fails(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = _config(tmp_path, f"[osc]\nport = {port}\n")
        check = doctor.check_osc_port(_ctx(tmp_path, config=config))
        assert check.status == FAIL and f"127.0.0.1:{port} is in use" in check.detail
    assert doctor.check_osc_port(_ctx(tmp_path, config=config)).status == OK


def test_the_port_held_by_our_own_daemon_is_only_a_warning(tmp_path):
    from bridge.output.status import StatusFile

    status = StatusFile(tmp_path / "out", version="x", model="m")
    status.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", 0))
            config = _config(tmp_path, f"[osc]\nport = {taken.getsockname()[1]}\n")
            check = doctor.check_osc_port(_ctx(tmp_path, config=config))
    finally:
        status.stop()
    assert check.status == WARN and f"pid {os.getpid()}" in check.detail


def test_cuda_asked_for_on_a_cpu_build_fails_with_the_cuda_index(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the failure cannot happen here")
    config = _config(tmp_path, '[model]\ndevice = "cuda"\n')
    cuda = _by_name(doctor.check_torch(_ctx(tmp_path, config=config)))["CUDA"]
    assert cuda.status == FAIL
    assert ("download.pytorch.org/whl/cu" in cuda.fix) == (torch.version.cuda is None)


def test_reaper_scripts_missing_then_installed(tmp_path):
    from bridge.install import reaper

    resource = tmp_path / "REAPER"
    absent = doctor.check_reaper(_ctx(tmp_path, resource=resource))
    assert absent.status == OK and "not found" in absent.detail  # no REAPER: nothing to do
    resource.mkdir()
    missing = doctor.check_reaper(_ctx(tmp_path, resource=resource))
    assert missing.status == WARN and missing.fix == "musicgen-bridge reaper install"
    reaper.install(resource)
    assert doctor.check_reaper(_ctx(tmp_path, resource=resource)).status == OK


def test_a_crashing_check_is_a_failure_not_a_traceback(tmp_path):
    def check_boom(ctx):
        raise RuntimeError("boom")

    results = doctor.run_checks(_ctx(tmp_path), [doctor.check_python, check_boom])
    assert [r.status for r in results] == [OK, FAIL] and "boom" in results[1].detail
    assert doctor.exit_status(results) == 1
    assert "1 failed" in doctor.render(results)


def _doctor(tmp_path, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bridge", "doctor", "--out", str(tmp_path / "out"),
         "--reaper-resource-path", str(tmp_path / "R"), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK",
             "MUSICGEN_BRIDGE_CONFIG": str(tmp_path / "absent.toml"), **(env or {})})


def test_doctor_command_prints_a_table_and_exits_zero_when_nothing_fails(tmp_path, tiny_model_dir):
    config = tmp_path / "c.toml"
    config.write_text(f'[model]\nname = "{tiny_model_dir}"\n[osc]\nport = 0\n'
                      f'[queue]\njournal = "{tmp_path / "j.jsonl"}"\n')
    done = _doctor(tmp_path, "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[1]: line.split()[0] for line in done.stdout.splitlines()
            if line[:4].strip() in (OK, WARN, FAIL)}
    assert {"torch", "CUDA", "model", "output", "journal", "OSC", "MIDI", "REAPER",
            "config"} <= set(rows)


def test_doctor_command_exits_one_on_a_bad_config(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[generation]\nbars = 0\n")
    done = _doctor(tmp_path, "--config", str(config))
    assert done.returncode == 1
    assert "FAIL  config" in done.stdout and "bars" in done.stdout

"""Putting the package where users' tools look: REAPER's resource folder, the login session."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import sys
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.install import reaper, service

ROOT = Path(__file__).resolve().parents[1]
NS = {"t": service.TASK_NS}


# ---- REAPER ----

@pytest.mark.parametrize(("platform", "env", "expected"), [
    ("linux", {}, "HOME/.config/REAPER"),
    ("linux", {"XDG_CONFIG_HOME": "/xdg"}, "/xdg/REAPER"),
    ("darwin", {}, "HOME/Library/Application Support/REAPER"),
    ("win32", {"APPDATA": "/appdata"}, "/appdata/REAPER"),
])
def test_reaper_resource_folder_per_os(platform, env, expected):
    home = Path("/home/someone")
    found = reaper.default_resource_path(platform, env, home)
    assert found == Path(expected.replace("HOME", str(home)))


def test_reaper_install_copies_the_scripts_and_the_osc_map(tmp_path, capsys):
    resource = tmp_path / "REAPER"
    resource.mkdir()
    assert main(["reaper", "install", "--resource-path", str(resource)]) == 0
    target = resource / "Scripts" / "MusicGen"
    shipped = sorted(p.name for p in (ROOT / "reaper_scripts").glob("*.lua"))
    assert sorted(p.name for p in target.iterdir()) == shipped
    for name in shipped:
        assert (target / name).read_bytes() == (ROOT / "reaper_scripts" / name).read_bytes()
    assert (resource / "OSC" / "MusicGen.ReaperOSC").is_file()
    assert "Load ReaScript" in capsys.readouterr().err
    # Again, over the old copies: still exactly one of each, no temporary files left.
    assert main(["reaper", "install", "--resource-path", str(resource)]) == 0
    assert sorted(p.name for p in target.iterdir()) == shipped


def test_reaper_install_without_a_resource_folder_says_how(tmp_path, capsys):
    assert main(["reaper", "install", "--resource-path", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "start REAPER once" in err and "--resource-path" in err


# ---- start at login ----

def test_systemd_user_unit(tmp_path):
    file = service.service_file(["--out", "/music/My Project/MusicGen"], platform="linux",
                                home=tmp_path, env={}, python="/opt/venv/bin/python")
    assert file.path == tmp_path / ".config/systemd/user/musicgen-bridge.service"
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str
    unit.read_string(file.content.decode())
    assert shlex.split(unit["Service"]["ExecStart"]) == [
        "/opt/venv/bin/python", "-m", "bridge", "serve", "--out", "/music/My Project/MusicGen"]
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "default.target"
    assert file.enable == ("systemctl", "--user", "enable", "--now", "musicgen-bridge.service")


def test_launchd_agent(tmp_path):
    file = service.service_file([], platform="darwin", home=tmp_path, env={},
                                python="/Users/me/.local/pipx/venvs/musicgen-bridge/bin/python")
    assert file.path == tmp_path / "Library/LaunchAgents/org.musicgen-bridge.daemon.plist"
    plist = plistlib.loads(file.content)
    assert plist["Label"] == "org.musicgen-bridge.daemon"
    assert plist["ProgramArguments"] == [
        "/Users/me/.local/pipx/venvs/musicgen-bridge/bin/python", "-m", "bridge", "serve"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["StandardErrorPath"].endswith("Library/Logs/musicgen-bridge.log")
    assert file.enable[:3] == ("launchctl", "load", "-w")


def test_task_scheduler_entry(tmp_path):
    file = service.service_file(["--config", r"C:\Users\me\cfg.toml"], platform="win32",
                                home=tmp_path, env={"LOCALAPPDATA": str(tmp_path / "Local"),
                                                    "USERNAME": "me"},
                                python=r"C:\pipx\venvs\musicgen-bridge\Scripts\python.exe")
    assert file.content[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with a BOM, as schtasks wants
    task = service.parse_task(file.content)
    assert task.tag == f"{{{service.TASK_NS}}}Task"
    trigger = task.find("t:Triggers/t:LogonTrigger", NS)
    assert trigger.find("t:Enabled", NS).text == "true"
    assert trigger.find("t:UserId", NS).text == "me"
    exec_ = task.find("t:Actions/t:Exec", NS)
    assert exec_.find("t:Command", NS).text == r"C:\pipx\venvs\musicgen-bridge\Scripts\python.exe"
    assert exec_.find("t:Arguments", NS).text == r"-m bridge serve --config C:\Users\me\cfg.toml"
    assert task.find("t:Settings/t:ExecutionTimeLimit", NS).text == "PT0S"  # runs all session
    assert task.find("t:Principals/t:Principal/t:RunLevel", NS).text == "LeastPrivilege"
    assert file.enable[:2] == ("schtasks", "/Create")


def test_service_install_and_uninstall_write_and_remove_the_file(tmp_path, monkeypatch, capsys):
    if not sys.platform.startswith("linux"):
        pytest.skip("the command writes the unit for the OS it runs on; Linux here")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["service", "install", "--no-enable", "--out", str(tmp_path / "clips")]) == 0
    unit = tmp_path / "systemd" / "user" / "musicgen-bridge.service"
    assert capsys.readouterr().out.strip() == str(unit)
    assert f"--out {tmp_path / 'clips'}" in unit.read_text()
    assert main(["service", "uninstall", "--no-enable"]) == 0
    assert not unit.exists()
    assert main(["service", "uninstall", "--no-enable"]) == 0
    assert "nothing to remove" in capsys.readouterr().out

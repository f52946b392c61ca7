"""``musicgen-bridge service install|uninstall``: start the daemon at login.

One small file per OS, in the place that OS's per-user service manager reads: a systemd user
unit on Linux, a launchd agent on macOS, a Task Scheduler task (its XML) on Windows. The
command is this interpreter running ``-m bridge serve``, so a pipx or venv install starts
exactly the package that wrote the file. Nothing needs administrator rights.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

NAME = "musicgen-bridge"
LABEL = "org.musicgen-bridge.daemon"  # launchd label: reverse-DNS by convention
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


@dataclass(frozen=True)
class ServiceFile:
    platform: str  # "linux", "darwin", "win32"
    path: Path
    content: bytes
    enable: tuple[str, ...]  # the command that activates it (run unless --no-enable)
    disable: tuple[str, ...]


def serve_command(extra: Sequence[str] = (), python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "bridge", "serve", *extra]


def _platform(platform: str | None) -> str:
    platform = platform or sys.platform
    return "linux" if platform.startswith(("linux", "freebsd")) else platform


def systemd_unit(command: Sequence[str]) -> str:
    # systemd splits ExecStart like a shell: quote every word that needs it.
    def quote(word: str) -> str:
        if word and all(c.isalnum() or c in "/._-:=+,@" for c in word):
            return word
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        "[Unit]\n"
        "Description=musicgen-bridge: MusicGen for your DAW (OSC, MIDI, request folder)\n"
        "Documentation=https://github.com/musicgen-bridge/musicgen-bridge#readme\n"
        "After=sound.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(quote(w) for w in command)}\n"
        # SIGTERM is the daemon's orderly stop (it finishes the journal); give a job time.
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=30\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_plist(command: Sequence[str], log_path: Path) -> bytes:
    return plistlib.dumps({
        "Label": LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        # Restart after a crash, not after a clean stop (launchctl unload / SIGTERM).
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Interactive",  # generation is what the user is waiting for
        "StandardOutPath": str(log_path),
        "StandardErrorPath": str(log_path),
    })


def task_xml(command: Sequence[str], user: str = "") -> str:
    program, *arguments = command
    args = " ".join(f'"{a}"' if (" " in a or not a) else a for a in arguments)
    user_id = f"<UserId>{escape(user)}</UserId>" if user else ""
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        f'<Task version="1.2" xmlns="{TASK_NS}">\n'
        "  <RegistrationInfo><Description>musicgen-bridge: MusicGen for your DAW"
        "</Description></RegistrationInfo>\n"
        f"  <Triggers><LogonTrigger><Enabled>true</Enabled>{user_id}</LogonTrigger></Triggers>\n"
        '  <Principals><Principal id="Author"><LogonType>InteractiveToken</LogonType>'
        "<RunLevel>LeastPrivilege</RunLevel></Principal></Principals>\n"
        "  <Settings>\n"
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
        # PT0S: no time limit (the default stops a task after three days).
        "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n"
        "    <RestartOnFailure><Interval>PT1M</Interval><Count>3</Count></RestartOnFailure>\n"
        "  </Settings>\n"
        '  <Actions Context="Author"><Exec>'
        f"<Command>{escape(program)}</Command><Arguments>{escape(args)}</Arguments>"
        "</Exec></Actions>\n"
        "</Task>\n"
    )


def service_file(extra: Sequence[str] = (), *, platform: str | None = None,
                 home: Path | None = None, env: dict[str, str] | None = None,
                 python: str | None = None) -> ServiceFile:
    platform = _platform(platform)
    home = home or Path.home()
    env = dict(os.environ) if env is None else env
    if platform == "darwin":
        command = serve_command(extra, python)
        path = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        log = home / "Library" / "Logs" / f"{NAME}.log"
        return ServiceFile(platform, path, launchd_plist(command, log),
                           ("launchctl", "load", "-w", str(path)),
                           ("launchctl", "unload", "-w", str(path)))
    if platform == "win32":
        python = python or sys.executable
        # pythonw: no console window left open on the desktop for the whole session.
        windowless = Path(python).with_name("pythonw.exe")
        command = serve_command(extra, str(windowless) if windowless.exists() else python)
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
        path = base / NAME / f"{NAME}-task.xml"
        content = task_xml(command, env.get("USERNAME", "")).encode("utf-16")
        return ServiceFile(platform, path, content,
                           ("schtasks", "/Create", "/TN", NAME, "/XML", str(path), "/F"),
                           ("schtasks", "/Delete", "/TN", NAME, "/F"))
    if platform == "linux":
        command = serve_command(extra, python)
        config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        path = config / "systemd" / "user" / f"{NAME}.service"
        return ServiceFile(platform, path, systemd_unit(command).encode(),
                           ("systemctl", "--user", "enable", "--now", f"{NAME}.service"),
                           ("systemctl", "--user", "disable", "--now", f"{NAME}.service"))
    raise OSError(f"starting at login is not supported on {platform!r}: run "
                  "`musicgen-bridge serve` from your session's start-up programs")


def _run(command: Sequence[str]) -> None:
    if shutil.which(command[0]) is None:
        raise OSError(f"{command[0]} not found; activate the service yourself: {' '.join(command)}")
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"`{' '.join(command)}` failed ({done.returncode}): "
                      f"{(done.stderr or done.stdout).strip()[:300]}")


def install(file: ServiceFile, *, enable: bool = True) -> Path:
    file.path.parent.mkdir(parents=True, exist_ok=True)
    partial = file.path.with_name(file.path.name + ".partial")
    partial.write_bytes(file.content)
    os.replace(partial, file.path)
    if enable:
        if file.platform == "linux":
            _run(("systemctl", "--user", "daemon-reload"))
        _run(file.enable)
    return file.path


def uninstall(file: ServiceFile, *, disable: bool = True) -> bool:
    """Returns whether there was a file to remove."""
    if not file.path.exists():
        return False
    if disable:
        try:
            _run(file.disable)
        except OSError:
            pass  # already stopped or never enabled: removing the file is what matters
    file.path.unlink()
    return True


def parse_task(content: bytes) -> ET.Element:
    """The task XML as Task Scheduler reads it (UTF-16); for tests and doctor."""
    return ET.fromstring(content.decode("utf-16").split("?>", 1)[1])

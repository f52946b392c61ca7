"""``musicgen-bridge reaper install``: copy the scripts into REAPER's resource folder.

No web host needed (ReaPack is the other way). The resource folder is REAPER's per-user
folder (*Options > Show REAPER resource path*): ~/.config/REAPER on Linux,
~/Library/Application Support/REAPER on macOS, %APPDATA%\\REAPER on Windows. A portable
REAPER keeps it beside the program: pass ``--resource-path``.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from bridge.install.assets import asset_dir

SUBFOLDER = ("Scripts", "MusicGen")
# What REAPER runs and what the scripts load from their own folder; not the ReaPack index.
PATTERNS = ("*.lua",)
OSC_PATTERN = "*.ReaperOSC"  # the control surface map goes into OSC/, where REAPER lists them


def default_resource_path(platform: str | None = None, env: dict[str, str] | None = None,
                          home: Path | None = None) -> Path:
    platform = platform or sys.platform
    env = dict(os.environ) if env is None else env
    home = home or Path.home()
    if platform == "win32":
        appdata = env.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return base / "REAPER"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "REAPER"
    config = env.get("XDG_CONFIG_HOME")
    return (Path(config) if config else home / ".config") / "REAPER"


def scripts_folder(resource: Path) -> Path:
    return resource.joinpath(*SUBFOLDER)


@dataclass(frozen=True)
class InstallResult:
    folder: Path
    files: tuple[Path, ...]


def source_files() -> list[Path]:
    folder = asset_dir("reaper_scripts")
    return sorted(p for pattern in (*PATTERNS, OSC_PATTERN) for p in folder.glob(pattern))


def install(resource: Path | None = None) -> InstallResult:
    """Copy the scripts (and the OSC map) in; existing copies are replaced. Raises OSError with
    the fix when the resource folder is not there (REAPER never ran, or a portable install)."""
    resource = Path(resource).expanduser() if resource else default_resource_path()
    if not resource.is_dir():
        raise OSError(f"REAPER's resource folder {resource} does not exist: start REAPER once, "
                      "or pass --resource-path (REAPER: Options > Show REAPER resource path)")
    target = scripts_folder(resource)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in source_files():
        folder = resource / "OSC" if source.match(OSC_PATTERN) else target
        folder.mkdir(exist_ok=True)
        # Through a temporary name: REAPER may be running a script while we replace it.
        partial = folder / f".{source.name}.partial"
        shutil.copyfile(source, partial)
        os.replace(partial, folder / source.name)
        written.append(folder / source.name)
    return InstallResult(target, tuple(written))


def installed_status(resource: Path | None = None) -> tuple[bool, str]:
    """(ok, detail) for doctor: are the scripts there and the same as this version's?"""
    resource = Path(resource).expanduser() if resource else default_resource_path()
    target = scripts_folder(resource)
    if not resource.is_dir():
        return False, f"no REAPER resource folder at {resource}"
    wanted = [p for p in source_files() if not p.match(OSC_PATTERN)]
    missing = [p.name for p in wanted if not (target / p.name).is_file()]
    if missing:
        return False, f"{len(missing)} of {len(wanted)} scripts missing in {target}"
    stale = [p.name for p in wanted if (target / p.name).read_bytes() != p.read_bytes()]
    if stale:
        return False, f"{len(stale)} scripts in {target} differ from this version"
    return True, f"{len(wanted)} scripts in {target}"

"""`musicgen-bridge ardour install [--scripts-dir DIR]`: copy the Ardour Lua scripts into
Ardour's per-user scripts folder, where Edit > Lua Scripts > Script Manager finds them.

The folder is the one Ardour 7 itself searches (libs/ardour/filesystem_paths.cc,
``user_config_directory`` + ``scripts``): ``$XDG_CONFIG_HOME/ardour7/scripts`` or
``~/.config/ardour7/scripts`` on Linux, ``~/Library/Preferences/Ardour7/scripts`` on macOS,
``%XDG_CONFIG_HOME%\\Ardour7\\scripts`` or ``%LOCALAPPDATA%\\Ardour7\\scripts`` on Windows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.install.assets import asset_dir

ARDOUR_VERSION = 7


def ardour_scripts_dir(platform: str = sys.platform, env: Mapping[str, str] = os.environ,
                       home: Path | None = None) -> Path:
    """Ardour's per-user scripts folder on ``platform``, as Ardour computes it."""
    home = home if home is not None else Path.home()
    if platform == "darwin":  # Ardour ignores XDG_CONFIG_HOME on macOS
        return home / "Library" / "Preferences" / f"Ardour{ARDOUR_VERSION}" / "scripts"
    if platform.startswith("win"):
        base = env.get("XDG_CONFIG_HOME") or env.get("LOCALAPPDATA")
        if not base:
            raise OSError("cannot find Ardour's scripts folder: LOCALAPPDATA is not set; give "
                          "the folder with --scripts-dir")
        return Path(base) / f"Ardour{ARDOUR_VERSION}" / "scripts"
    base = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(base) / f"ardour{ARDOUR_VERSION}" / "scripts"


# The JSON codec: rxi/json.lua, vendored once in the repository beside the REAPER scripts and
# installed beside the Ardour ones under the name musicgen_lib.lua loads it by. It has no
# ardour {} header, so Ardour's script list skips it.
JSON_CODEC = ("reaper_scripts", "MusicGen_json.lua")
JSON_CODEC_NAME = "musicgen_json.lua"


def script_files(source: Path | None = None) -> dict[str, Path]:
    """The files to install: name in Ardour's scripts folder -> the shipped file."""
    source = source if source is not None else asset_dir("ardour_scripts")
    files = {f.name: f for f in sorted(source.glob("musicgen_*.lua"))}
    codec = asset_dir(JSON_CODEC[0]) / JSON_CODEC[1]
    if not files or not codec.is_file():
        raise OSError(f"the Ardour scripts or {codec.name} are missing from {source.parent}: "
                      "reinstall musicgen-bridge")
    files[JSON_CODEC_NAME] = codec
    return files


def install_ardour_scripts(dest: Path | None = None, source: Path | None = None) -> list[Path]:
    """Copy the scripts into ``dest`` (default: Ardour's scripts folder); return the copies.

    Existing MusicGen scripts there are replaced (an update); nothing else is touched.
    """
    files = script_files(source)
    dest = Path(dest).expanduser() if dest is not None else ardour_scripts_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copyfile(f, dest / name)) for name, f in sorted(files.items())]
    except OSError as err:
        raise OSError(f"cannot copy the Ardour scripts into {dest}: {err.strerror or err}; "
                      f"choose a writable folder with --scripts-dir") from err


def add_ardour_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("ardour", help="Ardour: install the MusicGen Lua scripts",
                                   description="Ardour's side of the bridge (docs/ardour.md).")
    commands = parser.add_subparsers(dest="ardour_command", metavar="COMMAND", required=True)
    install = commands.add_parser(
        "install", help="copy the MusicGen scripts into Ardour's scripts folder",
        description="Copy the MusicGen Lua scripts into Ardour's per-user scripts folder. "
                    "Restart Ardour (or press Refresh in its Script Manager) to see them.")
    install.add_argument("--scripts-dir", metavar="DIR", type=Path,
                         help=f"where to copy them (default: {ardour_scripts_dir()})")
    install.set_defaults(handler=run_install)
    return parser


def run_install(args: argparse.Namespace) -> int:
    copied = install_ardour_scripts(args.scripts_dir)
    print(f"installed {len(copied)} files into {copied[0].parent}:")
    for path in copied:
        print(f"  {path.name}")
    print("In Ardour: Edit > Lua Scripts > Script Manager: add the MusicGen actions to action "
          "buttons and 'MusicGen: import clips as they finish' under Action Hooks.")
    return 0

"""The distribution: metadata a package index shows, a wheel and an sdist that build and
install, carrying the DAW scripts and the licence."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import tomlkit
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomlkit.parse((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def test_every_bridge_package_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set(find_packages(str(ROOT), include=["bridge", "bridge.*"]))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_licence_is_gpl3_or_later_with_its_full_text():
    assert PROJECT["license"] == "GPL-3.0-or-later"  # pedalboard, a dependency, is GPL-3.0
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text and "END OF TERMS AND CONDITIONS" in text


def test_metadata_a_package_index_shows():
    assert PROJECT["authors"] and PROJECT["keywords"]
    assert "Topic :: Multimedia :: Sound/Audio" in PROJECT["classifiers"]
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])  # SPDX instead
    assert PROJECT["urls"]["Repository"].startswith("https://")


def _build(outdir: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    return next(outdir.glob("*.whl")), next(outdir.glob("*.tar.gz"))


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("dist"))


@pytest.mark.slow
def test_the_wheel_carries_the_daw_files_licence_and_metadata(dists):
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
    for script in (ROOT / "reaper_scripts").glob("*.lua"):
        assert f"bridge/assets/reaper_scripts/{script.name}" in names
    assert "bridge/assets/max_patches/musicgen_bridge.js" in names
    assert "bridge/assets/max_patches/MusicGen Bridge.amxd" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["License-Expression"] == "GPL-3.0-or-later"
    assert f"Repository, {PROJECT['urls']['Repository']}" in meta.get_all("Project-URL")
    assert any(r.startswith("torch") for r in meta.get_all("Requires-Dist"))


@pytest.mark.slow
def test_the_sdist_installs_into_a_clean_venv_and_finds_its_scripts(dists, tmp_path):
    _, sdist = dists
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / "bin" / "python"
    # --no-deps: the point is our sdist -> wheel -> files; the dependencies (torch...) are
    # installed by the README test from the CPU wheels.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(sdist)],
                   check=True, capture_output=True, text=True, timeout=600,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    probe = ("import importlib.metadata as m, bridge.install.assets as a; "
             "print(m.version('musicgen-bridge')); "
             "print(a.asset_dir('reaper_scripts')); "
             "print(m.metadata('musicgen-bridge')['License-Expression']); "
             "import bridge.install.ardour as ar; f = ar.script_files(); "
             "print(' '.join(sorted(f))); print(f['musicgen_json.lua'])")
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True,
                         cwd=tmp_path, timeout=120).stdout.split("\n")
    assert out[0] == PROJECT.get("version", out[0])
    assert Path(out[1]).is_relative_to(env_dir) and (Path(out[1]) / "MusicGen_lib.lua").is_file()
    assert out[2] == "GPL-3.0-or-later"
    # `musicgen-bridge ardour install` from an installed package: the scripts and the one
    # vendored JSON codec, taken from the REAPER folder of the installed package.
    ardour_names = sorted(p.name for p in (ROOT / "ardour_scripts").glob("musicgen_*.lua"))
    assert out[3].split() == sorted([*ardour_names, "musicgen_json.lua"])
    assert Path(out[4]) == Path(out[1]) / "MusicGen_json.lua"
    assert (env_dir / "bin" / "musicgen-bridge").is_file()

"""Where the DAW-side files that ship with the package are.

A wheel carries them inside the package (``bridge/assets/...``, mapped from the repository's
``reaper_scripts/``, ``ardour_scripts/`` and ``max_patches/`` by pyproject.toml); a source checkout (editable
install, CI) has them at the repository root. The installed copy wins.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def asset_dir(name: str) -> Path:
    """``name``: "reaper_scripts", "ardour_scripts" or "max_patches". Raises OSError when neither place has it."""
    for candidate in (_PACKAGE / "assets" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise OSError(f"the {name} folder is missing from this installation ({_PACKAGE}): "
                  "reinstall musicgen-bridge")

"""The ReaPack index keeps every released version (roll back), each with its time, and takes
the repository address from the package metadata."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from xml.etree import ElementTree as ET

import tomlkit

from tools import reaper_pack

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = tomlkit.parse((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def _versions(xml: str) -> dict[str, ET.Element]:
    return {v.get("name"): v for v in ET.fromstring(xml.encode()).iter("version")}


def test_every_version_has_a_time_and_sources_at_its_own_tag():
    versions = _versions((ROOT / "reaper_scripts" / "index.xml").read_text())
    assert len(versions) >= 2  # 1.0.0 kept beside the current one
    for name, version in versions.items():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", version.get("time")), name
        for source in version.iter("source"):
            assert f"/reaper-scripts-v{name}/reaper_scripts/" in source.text


def test_the_repository_comes_from_the_project_metadata():
    assert reaper_pack.repository_url() == REPOSITORY
    owner_name = REPOSITORY.removeprefix("https://github.com/")
    index = (ROOT / "reaper_scripts" / "index.xml").read_text()
    assert f"https://raw.githubusercontent.com/{owner_name}/reaper-scripts-v" in index
    assert set(re.findall(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/", index)) == \
        {owner_name}
    # The import URL the REAPER docs give is the same repository's.
    assert f"https://raw.githubusercontent.com/{owner_name}/main/reaper_scripts/index.xml" in \
        (ROOT / "docs" / "reaper.md").read_text()


def test_regenerating_keeps_older_versions_and_their_times(tmp_path):
    old = reaper_pack.Version("0.9.0", "someone", "2025-01-02T03:04:05Z", "beta",
                              ((True, "a.lua", "https://example/a.lua"),))
    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    first = reaper_pack.render_index(previous=[old], now=later)
    versions = _versions(first)
    current = reaper_pack.read_header(reaper_pack.SCRIPTS_DIR / reaper_pack.MAIN_SCRIPT)
    assert versions["0.9.0"].get("time") == "2025-01-02T03:04:05Z"
    assert versions["0.9.0"].findtext("changelog") == "beta"
    assert versions[current.tags["version"]].get("time") == "2030-01-01T00:00:00Z"
    # Written and read back, then regenerated a year later: nothing changes.
    path = tmp_path / "index.xml"
    path.write_text(first)
    again = reaper_pack.render_index(previous=reaper_pack.read_versions(path),
                                     now=datetime(2031, 1, 1, tzinfo=timezone.utc))
    assert again == first
    assert list(versions) == ["0.9.0", current.tags["version"]]  # oldest first

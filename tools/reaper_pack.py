"""The ReaPack index for the Reaper scripts, rendered from the scripts' own headers.

The scripts ship as one ReaPack package: its main file is the Generate script, whose
``@provides`` lists the other actions and the shared library, so every file has exactly one
owner (ReaPack refuses two packages that install the same file). ``reaper_scripts/index.xml``
is generated from those headers and tested against them::

    python -m tools.reaper_pack --write

Every version ever released stays in the index (ReaPack offers them for rolling back), each
with the time it was first indexed and its own changelog and sources; regenerating only adds
or refreshes the current ``@version``. Sources point at the repository's raw files at the tag
``reaper-scripts-v<version>``; the repository address comes from the package metadata
(``[project.urls] Repository`` in pyproject.toml), never from a guess. The release steps are
in docs/release.md.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from urllib.parse import quote, urlparse
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import tomlkit

from tools.generated import write_or_check

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS_DIR = ROOT / "reaper_scripts"
INDEX_PATH = SCRIPTS_DIR / "index.xml"
MAIN_SCRIPT = "MusicGen - Generate from time selection.lua"
TAG = "reaper-scripts-v{version}"
REQUIRED_TAGS = ("description", "version", "author", "about", "provides")

_TAG_LINE = re.compile(r"^--\s*@(\w+)\s*(.*)$")


@dataclass(frozen=True)
class Header:
    tags: dict[str, str]  # tag -> value; multi-line values joined with "\n"

    @property
    def provides(self) -> list[tuple[str, str]]:
        """(option, file) pairs: option is "main", "nomain" or ""."""
        out = []
        for line in self.tags.get("provides", "").splitlines():
            match = re.fullmatch(r"\s*(?:\[(\w+)\]\s*)?(.+?)\s*", line)
            if match and match.group(2):
                out.append((match.group(1) or "", match.group(2)))
        return out


def read_header(path: Path) -> Header:
    """The ReaPack tags of a script's leading comment block.

    A tag's value is the rest of its line plus the following lines indented by three spaces
    after the ``--`` (``--   text``), where a bare ``--`` is an empty line of the value.
    """
    values: dict[str, list[str]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        content = line[2:]
        match = _TAG_LINE.match(line)
        if match:
            current = match.group(1)
            values[current] = [match.group(2)] if match.group(2) else []
        elif current is not None and (not content.strip() or content.startswith("   ")):
            values[current].append(content[3:] if content.strip() else "")
        else:
            current = None
    return Header({tag: "\n".join(lines).strip("\n") for tag, lines in values.items()})


def _rtf(markdown: str) -> str:
    """ReaPack shows the About tab as RTF: headings bold, everything else as plain lines."""
    def text(s: str) -> str:
        s = s.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")
        s = re.sub(r"\*\*(.+?)\*\*", r"\\b \1\\b0 ", s)
        s = s.replace("`", "")
        return "".join(c if ord(c) < 128 else f"\\u{ord(c)}?" for c in s)

    lines = []
    for line in markdown.splitlines():
        heading = re.match(r"#+\s*(.*)", line)
        lines.append(f"\\b {text(heading.group(1))}\\b0" if heading else text(line))
    return "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\f0\\fs20 " + "\\par\n".join(lines) + "}"


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def repository_url() -> str:
    """``[project.urls] Repository`` from the installed package's metadata (pyproject.toml when
    the package is not installed, e.g. a bare checkout)."""
    try:
        urls = metadata.metadata("musicgen-bridge").get_all("Project-URL") or []
        found = dict(u.split(", ", 1) for u in urls if ", " in u)
    except metadata.PackageNotFoundError:
        found = {}
    if "Repository" not in found:
        project = tomlkit.parse((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        found = project["project"]["urls"]
    return found["Repository"].rstrip("/")


def raw_base(repository: str, tag: str) -> str:
    """Where ReaPack downloads a tag's scripts from (GitHub's raw file host)."""
    url = urlparse(repository)
    if url.netloc != "github.com":
        raise ValueError(f"repository {repository!r}: only GitHub raw URLs are generated; "
                         "add the host's raw-file URL scheme to tools/reaper_pack.py")
    return f"https://raw.githubusercontent.com{url.path.removesuffix('.git')}/{tag}/reaper_scripts/"


@dataclass(frozen=True)
class Version:
    name: str
    author: str
    time: str  # ISO 8601, UTC: when this version was first indexed
    changelog: str
    sources: tuple[tuple[bool, str, str], ...]  # (main, file, url)


def _version_key(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.-]", name))


def read_versions(path: Path = INDEX_PATH) -> list[Version]:
    """The versions already in the index (none when there is no index yet)."""
    if not path.exists():
        return []
    versions = []
    for element in ET.parse(path).getroot().iter("version"):
        versions.append(Version(
            name=element.get("name", ""), author=element.get("author", ""),
            time=element.get("time", ""), changelog=element.findtext("changelog") or "",
            sources=tuple((s.get("main") == "main", s.get("file", ""), (s.text or "").strip())
                          for s in element.iter("source")),
        ))
    return versions


def current_version(now: datetime | None = None, previous: list[Version] | None = None,
                    repository: str | None = None) -> Version:
    main = read_header(SCRIPTS_DIR / MAIN_SCRIPT)
    name = main.tags["version"]
    base = raw_base(repository or repository_url(), TAG.format(version=name))
    old = {v.name: v for v in previous or []}
    # The time a version was first indexed never changes: regenerating is reproducible.
    when = old[name].time if name in old and old[name].time else \
        (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = [("main", MAIN_SCRIPT), *main.provides]
    return Version(name, main.tags["author"], when, main.tags.get("changelog", ""),
                   tuple((option == "main", file, base + quote(file)) for option, file in files))


def _render_version(v: Version) -> str:
    sources = "\n".join(
        f"        <source{' main=' + quoteattr('main') if is_main else ''} "
        f"file={quoteattr(file)}>{escape(url)}</source>" for is_main, file, url in v.sources)
    return (f"      <version name={quoteattr(v.name)} author={quoteattr(v.author)} "
            f"time={quoteattr(v.time)}>\n"
            f"        <changelog>{_cdata(v.changelog)}</changelog>\n{sources}\n"
            "      </version>")


def render_index(previous: list[Version] | None = None, now: datetime | None = None,
                 repository: str | None = None) -> str:
    """The index: every earlier version as it was, plus the scripts' current version."""
    previous = read_versions() if previous is None else previous
    main = read_header(SCRIPTS_DIR / MAIN_SCRIPT)
    current = current_version(now, previous, repository)
    versions = {v.name: v for v in previous}
    versions[current.name] = current
    ordered = sorted(versions.values(), key=lambda v: _version_key(v.name))
    body = "\n".join(_render_version(v) for v in ordered)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<!-- Generated from the script headers by tools/reaper_pack.py; do not edit by hand. -->
<index version="1" name="musicgen-bridge">
  <category name="MusicGen">
    <reapack name={quoteattr(MAIN_SCRIPT)} type="script" desc={quoteattr(main.tags["description"])}>
      <metadata>
        <description>{_cdata(_rtf(main.tags["about"]))}</description>
        <link rel="website">{escape(repository or repository_url())}</link>
      </metadata>
{body}
    </reapack>
  </category>
</index>
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render reaper_scripts/index.xml")
    parser.add_argument("--write", action="store_true", help="rewrite index.xml")
    args = parser.parse_args(argv)
    return write_or_check(INDEX_PATH, render_index().encode("utf-8"), write=args.write,
                          module="tools.reaper_pack")


if __name__ == "__main__":
    raise SystemExit(main())

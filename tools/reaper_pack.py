"""The ReaPack index for the Reaper scripts, rendered from the scripts' own headers.

The scripts ship as one ReaPack package: its main file is the Generate script, whose
``@provides`` lists the other actions and the shared library, so every file has exactly one
owner (ReaPack refuses two packages that install the same file). ``reaper_scripts/index.xml``
is generated from those headers and tested against them::

    python -m tools.reaper_pack --write

To release new scripts: raise ``@version`` in every script header, add a ``@changelog`` to the
main one, regenerate, commit, and push the tag ``reaper-scripts-v<version>`` the URLs point at.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS_DIR = ROOT / "reaper_scripts"
INDEX_PATH = SCRIPTS_DIR / "index.xml"
MAIN_SCRIPT = "MusicGen - Generate from time selection.lua"
# Where ReaPack downloads from: the repository's raw files at the release tag. A fork changes
# this line and regenerates the index.
RAW_URL = "https://raw.githubusercontent.com/musicgen-bridge/musicgen-bridge/{tag}/reaper_scripts/"
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


def render_index() -> str:
    main = read_header(SCRIPTS_DIR / MAIN_SCRIPT)
    version = main.tags["version"]
    base = RAW_URL.format(tag=TAG.format(version=version))
    files = [("main", MAIN_SCRIPT), *main.provides]
    sources = "\n".join(
        f"        <source{' main=' + quoteattr('main') if option == 'main' else ''} "
        f"file={quoteattr(name)}>{escape(base + quote(name))}</source>"
        for option, name in files
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<!-- Generated from the script headers by bridge/reaper_pack.py; do not edit by hand. -->
<index version="1" name="musicgen-bridge">
  <category name="MusicGen">
    <reapack name={quoteattr(MAIN_SCRIPT)} type="script" desc={quoteattr(main.tags["description"])}>
      <metadata>
        <description>{_cdata(_rtf(main.tags["about"]))}</description>
      </metadata>
      <version name={quoteattr(version)} author={quoteattr(main.tags["author"])}>
        <changelog>{_cdata(main.tags.get("changelog", ""))}</changelog>
{sources}
      </version>
    </reapack>
  </category>
</index>
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render reaper_scripts/index.xml")
    parser.add_argument("--write", action="store_true", help="rewrite index.xml")
    args = parser.parse_args(argv)
    rendered = render_index()
    if args.write:
        INDEX_PATH.write_text(rendered, encoding="utf-8")
        print(f"wrote {INDEX_PATH.relative_to(ROOT)}")
        return 0
    if not INDEX_PATH.exists() or INDEX_PATH.read_text(encoding="utf-8") != rendered:
        print("reaper_scripts/index.xml is out of date: run python -m tools.reaper_pack --write",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Configuration: one TOML file, assembled from the sections each room defines.

Every section is a frozen pydantic model beside the code that reads it ([model] in
bridge/engine/settings.py, [output] in bridge/output/settings.py, ...); each setting's
description is the comment ``config init`` writes above it. ``Config`` holds them typed, and
each component is handed its own section.

Load order: defaults, then the file (per-user default location, or ``--config PATH``), then
command-line overrides. Every problem in a file is reported at once, each with its [section],
key, value and what was expected; unknown sections and keys are refused too (a typo must not
silently do nothing).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import platformdirs
import tomlkit
from pydantic import BaseModel, Field, ValidationError

from bridge.engine.settings import ModelSettings
from bridge.errors import UserError
from bridge.files import write_atomically
from bridge.inbox.settings import InboxSettings
from bridge.jobs.settings import QueueSettings
from bridge.midi.settings import MidiSection
from bridge.osc.settings import OscSettings
from bridge.output.settings import OutputSettings
from bridge.post.settings import FitSettings
from bridge.prompt import PromptSettings
from bridge.reading import read_regular
from bridge.schema import FROZEN, Problem, Section, choice, problems
from bridge.session.settings import GenerationSettings

MAX_CONFIG_BYTES = 1 << 20  # a config is a few KB; /dev/zero or a FIFO must not be read

APP_NAME = "musicgen-bridge"
MAX_SHOWN_CHARS = 120  # a long value (a whole mapping table) is cut in messages


class ConfigError(UserError):
    """The config file cannot be used; the message names the file, and every key, value and
    fix."""

    multiline = True  # every problem in the file, one per line


def default_config_path() -> Path:
    override = os.environ.get("MUSICGEN_BRIDGE_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class LogSettings(Section):
    level: Annotated[str, choice("DEBUG", "INFO", "WARNING", "ERROR")] = Field(
        "INFO", description="log level")


class ConfigSections(BaseModel):
    """The config file's schema: one table per section, in the order ``config init`` writes."""

    model_config = FROZEN

    model: ModelSettings = Field(default_factory=ModelSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    osc: OscSettings = Field(default_factory=OscSettings)
    midi: MidiSection = Field(default_factory=MidiSection)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    fit: FitSettings = Field(default_factory=FitSettings)
    log: LogSettings = Field(default_factory=LogSettings)


SECTIONS: tuple[str, ...] = tuple(ConfigSections.model_fields)


class Config(ConfigSections):
    """The loaded configuration: the file's sections, typed, and where they came from."""

    path: Path | None = None

    def sections(self) -> dict[str, dict[str, Any]]:
        """Plain values per section (what a file with every key written out would hold)."""
        return {name: getattr(self, name).model_dump() for name in SECTIONS}

    def with_overrides(self, overrides: Mapping[tuple[str, str], Any]) -> Config:
        """Apply (section, key) -> value overrides (the command line), validated like the file."""
        raw = self.sections()
        for (section, key), value in overrides.items():
            if value is not None:
                raw.setdefault(section, {})[key] = value
        return _build(raw, self.path, "command line")

    @property
    def output_dir(self) -> Path:
        base = self.output.project_dir
        root = Path(base).expanduser() if base else default_data_dir()
        return root / "MusicGen"

    @property
    def journal_path(self) -> Path:
        path = self.queue.journal
        return Path(path).expanduser() if path else default_data_dir() / "journal.jsonl"


def _build(raw: Mapping[str, Any], path: Path | None, where: str) -> Config:
    try:
        sections = ConfigSections.model_validate(raw)
    except ValidationError as err:
        lines = [f"{where}: {_explain(p)}" for p in problems(err)]
        raise ConfigError("\n".join(lines)) from None
    return Config(path=path, **{name: getattr(sections, name) for name in SECTIONS})


def _explain(problem: Problem) -> str:
    section = str(problem.loc[0])
    if len(problem.loc) == 1:
        if problem.kind == "unknown":
            return f"unknown section [{section}] (known: {', '.join(SECTIONS)})"
        return f"[{section}] must be a table"
    key = ".".join(str(part) for part in problem.loc[1:])
    if problem.kind == "unknown":
        known = ", ".join(_section_model(section).model_fields)
        return f"unknown key [{section}] {key} (known: {known})"
    shown = repr(problem.value)
    if len(shown) > MAX_SHOWN_CHARS:
        shown = shown[:MAX_SHOWN_CHARS] + "..."
    return f"[{section}] {key} = {shown} is invalid: {problem.expected}"


def _section_model(section: str) -> type[BaseModel]:
    model = ConfigSections.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def defaults() -> Config:
    return Config()


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load ``path`` (or the default location, if it exists) over the defaults."""
    explicit = path is not None
    file = Path(path).expanduser() if explicit else default_config_path()
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"{file}: no such config file; create one with `musicgen-bridge config init "
                f"--config {file}`"
            )
        return defaults()
    try:
        text = read_regular(file, MAX_CONFIG_BYTES, follow=True).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{file}: cannot read config: {err}") from None
    except ValueError as err:  # not a regular file, or too large (UserError)
        raise ConfigError(f"cannot read config: {err}") from None
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}") from None
    return _build(document.unwrap(), file, str(file))


def render_default() -> str:
    """The commented default config file ``config init`` writes."""
    document = tomlkit.document()
    document.add(tomlkit.comment(f"{APP_NAME} configuration. Every key is optional; the values "
                                 "below are the defaults."))
    for section in SECTIONS:
        table = tomlkit.table()
        for key, field in _section_model(section).model_fields.items():
            value = field.get_default(call_default_factory=True)
            if isinstance(value, dict):
                # Inline: a {} would be written as a [midi.mappings] table at the end of the
                # section, away from its comment.
                inline = tomlkit.inline_table()
                inline.update(value)
                value = inline
            table.add(tomlkit.comment(field.description or ""))
            table.add(key, value)
        document.add(tomlkit.nl())
        document.add(section, table)
    return tomlkit.dumps(document)


def write_default(path: str | os.PathLike[str] | None = None, *, force: bool = False) -> Path:
    file = Path(path).expanduser() if path is not None else default_config_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    # No-clobber is decided by the link that publishes the file, so a config written meanwhile
    # by someone else is never replaced (no check-then-write race).
    if not write_atomically(file, render_default(), overwrite=force):
        raise ConfigError(f"{file} exists; pass --force to overwrite it")
    return file

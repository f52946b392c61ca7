"""Configuration: one TOML file, every setting defined once in ``SETTINGS`` with its default,
its check and the comment ``config init`` writes above it.

Load order: defaults, then the file (per-user default location, or ``--config PATH``), then
command-line overrides. An invalid file is refused with the key, the value and what was
expected; unknown keys are refused too (a typo must not silently do nothing).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any

import platformdirs
import tomlkit

from bridge.midi.mapping import check_mappings
from bridge.midi.triggers import check_notes, check_presets
from bridge.musical_time import Meter, check_bars, check_bpm, normalize_key
from bridge.params import PARAMS, check_seed
from bridge.prompt import DEFAULT_QUALITY, DEFAULT_TEMPLATE, check_template

APP_NAME = "musicgen-bridge"


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file, key, value and fix."""


def default_config_path() -> Path:
    override = os.environ.get("MUSICGEN_BRIDGE_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


# ---- checks: each returns the normalized value or raises ValueError(what was expected) ----

def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _choice(*options: Any) -> Callable[[object], Any]:
    def check(value: object) -> Any:
        if isinstance(value, bool) or value not in options:
            raise ValueError(f"expected one of {', '.join(repr(o) for o in options)}")
        return value

    return check


def _int_range(lo: int, hi: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"expected an integer {lo}..{hi}")
        return value

    return check


def _float_range(lo: float, hi: float) -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number {lo:g}..{hi:g}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ValueError(f"expected a number {lo:g}..{hi:g}")
        return float(value)

    return check


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _str_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('expected a list of strings, e.g. ["a", "b"]')
    return list(value)


def _table(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("expected a table")
    return {str(k): _plain(v) for k, v in value.items()}


def _plain(value: object) -> Any:
    """tomlkit items -> plain Python values."""
    if hasattr(value, "unwrap"):
        return value.unwrap()  # type: ignore[union-attr]
    return value


def _host_port(value: object) -> str:
    if not isinstance(value, str) or value.count(":") != 1:
        raise ValueError('expected "HOST:PORT", e.g. "127.0.0.1:9001"')
    host, port = value.rsplit(":", 1)
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError('expected "HOST:PORT" with a port 1..65535')
    return value


def _host_ports(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError('expected a list like ["127.0.0.1:9001"]')
    return [_host_port(v) for v in value]


def _param(name: str) -> Callable[[object], Any]:
    return PARAMS[name].check


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    default: Any
    check: Callable[[object], Any]
    comment: str


SETTINGS: tuple[Setting, ...] = (
    Setting("model", "name", "facebook/musicgen-small", _str,
            "Hugging Face hub id or a local directory saved with save_pretrained"),
    Setting("model", "device", "auto", _choice("auto", "cuda", "mps", "cpu"),
            "auto: cuda, then mps, then cpu"),
    Setting("model", "engine", "auto", _choice("auto", "transformers", "fast"),
            "fast: the project's own decode loop (same output, faster); transformers: the "
            "reference generate(); auto: fast on the CPU, transformers on GPUs until measured"),
    Setting("model", "cpu_int8", False, _bool,
            "fast engine on CPU: weight-only int8 decoder linears (about 2x faster per step)"),
    Setting("generation", "prompt", "", _str, "default prompt text"),
    Setting("generation", "bpm", 120.0, check_bpm, "default tempo until the DAW sends one"),
    Setting("generation", "meter", "4/4", lambda v: str(Meter.parse(v)), "default meter"),
    Setting("generation", "key", "", normalize_key, 'default key, e.g. "A minor"; empty: none'),
    Setting("generation", "bars", 4, check_bars, "default clip length in bars"),
    *(Setting("generation", name, spec.type(spec.default), _param(name), spec.help)
      for name, spec in PARAMS.items()),
    Setting("generation", "seed", -1, lambda v: -1 if check_seed(v) is None else check_seed(v),
            "-1: a new random seed per job"),
    Setting("generation", "negative_prompt", "", _str, "what guidance steers away from"),
    Setting("prompt", "template", DEFAULT_TEMPLATE, lambda v: check_template(_str(v)),
            "parts without a value (e.g. no key) are dropped"),
    Setting("prompt", "quality", DEFAULT_QUALITY, _str,
            'quality words, or a preset: "hi-fi" (320kbps, 48kHz), "lo-fi" (64kbps, 16kHz), "none"'),
    Setting("output", "project_dir", "", _str,
            "the DAW project folder; clips go into its MusicGen/ folder (empty: the data folder)"),
    Setting("output", "format", "wav", _choice("wav", "flac"), "clip file format"),
    Setting("output", "sample_rate", 48000, _int_range(8000, 192000), "clip sample rate"),
    Setting("output", "channels", 2, _int_range(1, 2), "1: mono, 2: stereo"),
    Setting("output", "bit_depth", 24, _choice(16, 24, 32),
            "16, 24 or 32 (float) bits"),
    Setting("output", "lufs", -14.0, _float_range(-40.0, 0.0), "integrated loudness target"),
    Setting("output", "true_peak_db", -1.0, _float_range(-12.0, 0.0), "true-peak ceiling, dBTP"),
    Setting("output", "fade_ms", 4.0, _float_range(0.0, 100.0), "fade in/out against clicks"),
    Setting("queue", "max_pending", 16, _int_range(1, 1000), "queued jobs beyond this are refused"),
    Setting("queue", "journal", "", _str, "pending-jobs journal (empty: in the data folder)"),
    Setting("osc", "enabled", True, _bool, "listen for OSC"),
    Setting("osc", "host", "127.0.0.1", _str,
            "listen address; anything but loopback obeys only the allow list"),
    Setting("osc", "port", 9000, _int_range(0, 65535), "listen port (UDP); 0: any free port"),
    Setting("osc", "allow", [], _str_list,
            'senders obeyed when not on loopback: addresses, networks ("192.168.1.0/24") '
            "or host names"),
    Setting("osc", "feedback", ["127.0.0.1:9001"], _host_ports, "where feedback is sent"),
    Setting("osc", "abletonosc", False, _bool,
            "follow Live's tempo and meter through AbletonOSC (ports 11000/11001)"),
    Setting("osc", "abletonosc_host", "127.0.0.1", _str, "the machine Live runs on"),
    Setting("osc", "abletonosc_port", 11000, _int_range(1, 65535), "AbletonOSC's listen port"),
    Setting("osc", "abletonosc_reply_port", 11001, _int_range(0, 65535),
            "the port AbletonOSC replies to (it always uses 11001); 0: any free port"),
    Setting("midi", "enabled", True, _bool, "listen for MIDI"),
    Setting("midi", "inputs", [], _str_list,
            "input port names (exact or a substring); empty: a virtual port 'MusicGen Bridge'"),
    Setting("midi", "output", "", _str,
            "port for CC feedback to LED rings / motor faders (exact or a substring); empty: none"),
    Setting("midi", "backend", "", _str,
            'mido backend, e.g. "mido.backends.rtmidi/UNIX_JACK"; empty: MIDO_BACKEND or rtmidi'),
    Setting("midi", "tempo_source", "auto", _choice("auto", "osc", "clock", "manual"),
            "which tempo wins: osc (the DAW), clock (MIDI clock), manual; auto: the most recent"),
    Setting("midi", "presets", [], check_presets,
            "prompts selected by program change 0, 1, ..."),
    # Inline-table defaults: a plain {} would be written by `config init` as a [midi.mappings]
    # table at the end of the section, away from its comment.
    Setting("midi", "mappings", tomlkit.inline_table(), check_mappings,
            'param = { cc = 21, channel = 1, mode = "absolute" }; empty: CC 21-24 on any '
            "channel -> top_k, top_p, temperature, cfg; see docs/midi.md"),
    Setting("midi", "notes", tomlkit.inline_table(), check_notes,
            "generate/cancel/variations = note number; empty: 36, 37, 38 on any channel"),
    Setting("inbox", "enabled", True, _bool, "watch the requests/ folder (ReaScripts write there)"),
    Setting("inbox", "polling", False, _bool,
            "poll the folder every second (network drives and containers lack change events)"),
    Setting("fit", "tempo_lock", True, _bool, "stretch and align clips to the project grid"),
    Setting("fit", "retries", 0, _int_range(0, 5),
            "when a clip asked to be on the grid cannot be locked confidently, generate it "
            "again with the next seed, up to this many times (each costs a generation); 0: off"),
    Setting("fit", "max_seconds", 120.0, _float_range(1.0, 600.0),
            "longest clip, generated in windows past the model's 30 s"),
    Setting("log", "level", "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "log level"),
)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS))
_BY_KEY = {(s.section, s.key): s for s in SETTINGS}
_SECTION_TYPES = {
    section: make_dataclass(
        f"{section.title()}Config",
        [(s.key, Any) for s in SETTINGS if s.section == section],
        frozen=True,
    )
    for section in SECTIONS
}


@dataclass(frozen=True)
class Config:
    path: Path | None
    values: Mapping[str, Any]  # section -> frozen section dataclass

    def __getattr__(self, section: str) -> Any:
        try:
            return self.values[section]
        except KeyError:
            raise AttributeError(section) from None

    def get(self, section: str, key: str) -> Any:
        return getattr(self.values[section], key)

    def with_overrides(self, overrides: Mapping[tuple[str, str], Any]) -> Config:
        """Apply (section, key) -> value overrides (the command line), validated like the file."""
        raw = {s: dict(vars(v)) for s, v in self.values.items()}
        for (section, key), value in overrides.items():
            if value is not None:
                raw[section][key] = _check(_BY_KEY[(section, key)], value, "command line")
        return Config(self.path, _freeze(raw))

    @property
    def output_dir(self) -> Path:
        base = self.output.project_dir
        root = Path(base).expanduser() if base else default_data_dir()
        return root / "MusicGen"

    @property
    def journal_path(self) -> Path:
        path = self.queue.journal
        return Path(path).expanduser() if path else default_data_dir() / "journal.jsonl"


def _check(setting: Setting, value: object, where: str) -> Any:
    try:
        return setting.check(_plain(value))
    except ValueError as err:
        raise ConfigError(
            f"{where}: [{setting.section}] {setting.key} = {_plain(value)!r} is invalid: {err}"
        ) from None


def _freeze(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {section: _SECTION_TYPES[section](**raw[section]) for section in SECTIONS}


def defaults() -> Config:
    raw: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for s in SETTINGS:
        raw[s.section][s.key] = s.default
    return Config(None, _freeze(raw))


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
        document = tomlkit.parse(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{file}: cannot read config: {err}") from None
    except tomlkit.exceptions.ParseError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}") from None
    return Config(file, _freeze(_merge(document, str(file))))


def _merge(document: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for s in SETTINGS:
        raw[s.section][s.key] = s.default
    for section, table in document.items():
        if section not in raw:
            raise ConfigError(f"{where}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for key, value in table.items():
            setting = _BY_KEY.get((section, key))
            if setting is None:
                known = ", ".join(s.key for s in SETTINGS if s.section == section)
                raise ConfigError(f"{where}: unknown key [{section}] {key} (known: {known})")
            raw[section][key] = _check(setting, value, where)
    return raw


def render_default() -> str:
    """The commented default config file ``config init`` writes."""
    document = tomlkit.document()
    document.add(tomlkit.comment(f"{APP_NAME} configuration. Every key is optional; the values "
                                 "below are the defaults."))
    for section in SECTIONS:
        table = tomlkit.table()
        for s in SETTINGS:
            if s.section == section:
                table.add(tomlkit.comment(s.comment))
                table.add(s.key, s.default)
        document.add(tomlkit.nl())
        document.add(section, table)
    return tomlkit.dumps(document)


def write_default(path: str | os.PathLike[str] | None = None, *, force: bool = False) -> Path:
    file = Path(path).expanduser() if path is not None else default_config_path()
    if file.exists() and not force:
        raise ConfigError(f"{file} exists; pass --force to overwrite it")
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(render_default(), encoding="utf-8")
    os.replace(tmp, file)
    return file

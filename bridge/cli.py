"""The command line: generate a clip, serve the daemon, write a config, build the tiny model."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from bridge import __version__, preflight
from bridge import config as config_mod
from bridge.errors import reason_of
from bridge.install.ardour import add_ardour_parser
from bridge.midi_cli import add_midi_parser
from bridge.params import PARAMS
from bridge.style_cli import add_style_parser
from bridge.worker.cli import add_worker_parser

log = logging.getLogger("bridge")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="config file (default: the per-user one)")
    p.add_argument("--model", help="hub id or local directory (default: config [model] name)")
    p.add_argument("--device", help="compute device: auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--engine", choices=("auto", "transformers", "fast"),
                   help="decoding engine (default: config [model] engine, auto)")
    p.add_argument("--out", metavar="DIR",
                   help="clip folder itself (default: MusicGen/ in the config's project_dir)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Examples keep their line breaks; every option with a real default shows it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


EXAMPLES = """\
examples:
  musicgen-bridge doctor                       check this machine before the first clip
  musicgen-bridge tiny-model models/tiny       an offline test model (noise, not music)
  musicgen-bridge generate --prompt "dusty funk drums" --bpm 96 --bars 8 --out clips
  musicgen-bridge serve --out ~/Music/MyProject/MusicGen
  musicgen-bridge reaper install               the REAPER scripts into REAPER's folder
  musicgen-bridge service install              start the daemon at login
"""
GENERATE_EXAMPLES = """\
examples:
  musicgen-bridge generate --prompt "dusty funk drums" --bpm 96 --bars 8 --out clips
  musicgen-bridge generate --prompt "ambient pads" --meter 6/8 --bars 4 --key "A minor" \\
      --variations 3 --seed 7
  musicgen-bridge generate --model models/tiny --prompt test --no-progress
Unset options take the config's [generation] values (musicgen-bridge config init writes them).
"""
SERVE_EXAMPLES = """\
examples:
  musicgen-bridge serve
  musicgen-bridge serve --out "/path/to/MyProject/MusicGen" --osc-port 9000
  musicgen-bridge serve --feedback 127.0.0.1:9001 --feedback 192.168.1.20:9001
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with a "did you mean" for a mistyped action (``reaper instal``)."""

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2)) or match.group(2).split(", ")
            close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
        super().error(message)


def _add_subparser(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    return sub.add_parser(name, formatter_class=_HelpFormatter, **kwargs)


def _build_parser() -> argparse.ArgumentParser:
    defaults = config_mod.defaults().generation
    parser = _Parser(
        prog="musicgen-bridge", formatter_class=_HelpFormatter, epilog=EXAMPLES,
        description="Bridge DAWs to MusicGen: bar-exact clips dropped into your project.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.set_defaults(subcommands=sub)

    gen = _add_subparser(sub, "generate", help="generate clips once and print their paths",
                         description="Generate N bars at a tempo and meter; print the paths.",
                         epilog=GENERATE_EXAMPLES)
    gen.add_argument("--prompt", required=True, help="what to generate, in words")
    gen.add_argument("--bpm", type=float, help=f"tempo (default: config, {defaults.bpm:g})")
    gen.add_argument("--meter", help=f'time signature, e.g. "4/4", "6/8" (default: config, '
                                     f'{defaults.meter})')
    gen.add_argument("--bars", type=int, help=f"length in bars (default: config, {defaults.bars})")
    gen.add_argument("--key", help='e.g. "A minor" (default: config, none)')
    for name, spec in PARAMS.items():
        gen.add_argument(f"--{name.replace('_', '-')}", dest=name, type=spec.type,
                         help=f"{spec.help} ({spec.minimum:g}..{spec.maximum:g}; "
                              f"default: config, {spec.default:g})")
    gen.add_argument("--seed", type=int, help="-1: random (default: config, -1)")
    gen.add_argument("--quality", help='quality words or preset ("hi-fi", "lo-fi", "none")')
    gen.add_argument("--negative", dest="negative_prompt", help="negative prompt")
    gen.add_argument("--audio-prompt", dest="audio_prompt", metavar="FILE",
                     help="continue this audio file (wav, flac, aiff, mp3)")
    gen.add_argument("--prompt-seconds", dest="prompt_seconds", type=float,
                     help="how many of the audio prompt's last seconds to use (default 8)")
    gen.add_argument("--keep-prompt", dest="keep_prompt", action="store_true", default=None,
                     help="write the audio prompt plus the new material")
    gen.add_argument("--melody", dest="melody_audio", metavar="FILE",
                     help="follow this audio's melody (needs a melody checkpoint)")
    gen.add_argument("--loop", action="store_true", default=None,
                     help="make the clip loop seamlessly")
    gen.add_argument("--no-tempo-lock", dest="tempo_lock", action="store_false", default=None,
                     help="leave the generated timing alone")
    gen.add_argument("--style", help="a trained style (musicgen-bridge style list)")
    gen.add_argument("--position", dest="position_s", type=float,
                     help="where the clip belongs in the project (seconds), for the sidecar")
    gen.add_argument("--format", choices=("wav", "flac"))
    gen.add_argument("--rate", type=int, help="output sample rate (default 48000)")
    gen.add_argument("--channels", type=int, choices=(1, 2))
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_model_args(gen)

    serve = _add_subparser(sub, "serve", help="run the daemon (OSC, MIDI, request folder)",
                           description="Keep the model warm and serve OSC, MIDI and the "
                                       "request folder until Ctrl-C or SIGTERM.",
                           epilog=SERVE_EXAMPLES)
    _add_model_args(serve)
    serve.add_argument("--osc-host", help="OSC listen address (default 127.0.0.1)")
    serve.add_argument("--osc-port", type=int, help="OSC listen port (default 9000)")
    serve.add_argument("--feedback", action="append", metavar="HOST:PORT",
                       help="OSC feedback target (repeatable; default 127.0.0.1:9001)")

    cfg = _add_subparser(sub, "config", help="write or locate the config file")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    init = cfg_sub.add_parser("init", help="write a commented default config")
    init.add_argument("--config", metavar="PATH", help="where (default: the per-user one)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    path = cfg_sub.add_parser("path", help="print the config file location")
    path.add_argument("--config", metavar="PATH")

    tiny = _add_subparser(sub, "tiny-model", help="build a small random-weight MusicGen (noise!)",
                          description="Build a tiny random-weight MusicGen and save it with "
                                      "save_pretrained. It makes noise, not music: it exists so "
                                      "tests and demos run the real loading code offline.")
    tiny.add_argument("dir", help="where to save it")
    tiny.add_argument("--melody", action="store_true", help="a melody-conditioned variant")
    tiny.add_argument("--seed", type=int, default=0, help="weight seed")

    add_midi_parser(sub)
    add_ardour_parser(sub)
    add_worker_parser(sub)
    _add_install_parsers(sub)
    add_style_parser(sub)
    return parser


def _add_install_parsers(sub: Any) -> None:
    doctor = _add_subparser(sub, "doctor", help="check torch, devices, model, folders, ports",
                            description="Check what a first clip needs, without loading the "
                                        "model: torch build and devices, the model in the local "
                                        "cache, the output folder and journal, the OSC port, "
                                        "MIDI, the config, the DAW scripts. Each problem comes "
                                        "with a one-line fix; exit status 1 if a check failed.")
    doctor.add_argument("--config", metavar="PATH", help="config file (default: the per-user one)")
    doctor.add_argument("--out", metavar="DIR", help="clip folder to check (default: config)")
    doctor.add_argument("--reaper-resource-path", metavar="DIR",
                        help="REAPER's resource folder (default: the per-OS one)")

    reaper = _add_subparser(sub, "reaper", help="install the REAPER scripts")
    reaper_sub = reaper.add_subparsers(dest="reaper_command", required=True, metavar="ACTION")
    reaper_install = _add_subparser(
        reaper_sub, "install", help="copy the scripts into REAPER's Scripts/MusicGen",
        description="Copy the MusicGen scripts into REAPER's resource folder (Scripts/MusicGen) "
                    "and the OSC map into OSC/. Then in REAPER: Actions > Show action list > "
                    "New action > Load ReaScript, and pick the four MusicGen - *.lua files.")
    reaper_install.add_argument("--resource-path", metavar="DIR",
                                help="REAPER's resource folder (default: ~/.config/REAPER, "
                                     "~/Library/Application Support/REAPER or "
                                     "%%APPDATA%%\\REAPER)")

    service = _add_subparser(sub, "service", help="start the daemon at login (or stop doing so)")
    service_sub = service.add_subparsers(dest="service_command", required=True, metavar="ACTION")
    for action, text in (("install", "write and enable a systemd user unit (Linux), a launchd "
                                     "agent (macOS) or a Task Scheduler task (Windows)"),
                         ("uninstall", "disable and remove it")):
        p = _add_subparser(service_sub, action, help=text, description=text + ".")
        p.add_argument("--no-enable", action="store_true",
                       help="only write/remove the file; do not call systemctl, launchctl or "
                            "schtasks")
        if action == "install":
            p.add_argument("--config", metavar="PATH", help="config file the daemon reads")
            p.add_argument("--out", metavar="DIR", help="clip folder the daemon writes")
            p.add_argument("--print", action="store_true", dest="print_only",
                           help="print the file instead of writing it")


def _load_config(args: argparse.Namespace) -> config_mod.Config:
    config = config_mod.load(getattr(args, "config", None))
    overrides: dict[tuple[str, str], Any] = {
        ("model", "name"): getattr(args, "model", None),
        ("model", "device"): getattr(args, "device", None),
        ("model", "engine"): getattr(args, "engine", None),
        ("log", "level"): getattr(args, "log_level", None),
        ("osc", "host"): getattr(args, "osc_host", None),
        ("osc", "port"): getattr(args, "osc_port", None),
        ("osc", "feedback"): getattr(args, "feedback", None),
        ("output", "format"): getattr(args, "format", None),
        ("output", "sample_rate"): getattr(args, "rate", None),
        ("output", "channels"): getattr(args, "channels", None),
    }
    return config.with_overrides(overrides)


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # transformers warns about MusicGen's own pad/bos token ids (codebook_size, by design)
        # and draws weight-loading bars over ours; read before transformers is imported.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if not sys.stderr.isatty():
        # A log file or the service journal: no bars redrawn line after line (a terminal gets
        # the hub's download bar and the weight loading bar).
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _out_dir(args: argparse.Namespace, config: config_mod.Config) -> Path:
    return Path(args.out).expanduser().resolve() if args.out else config.output_dir


def _generate(args: argparse.Namespace) -> int:
    from bridge import events
    from bridge.daemon import Daemon, default_request
    from bridge.engine.loader import load_engine

    config = _load_config(args)
    _setup_logging("WARNING" if config.log.level == "INFO" else config.log.level)
    changes = {name: getattr(args, name) for name in
               ("prompt", "bpm", "meter", "bars", "key", *PARAMS, "seed", "quality",
                "negative_prompt", "position_s", "audio_prompt", "prompt_seconds",
                "keep_prompt", "melody_audio", "loop", "tempo_lock", "style")
               if getattr(args, name) is not None}
    for name in ("audio_prompt", "melody_audio"):
        if changes.get(name):
            # The daemon may run elsewhere later (journal): keep the path absolute.
            changes[name] = str(Path(changes[name]).expanduser().resolve())
    # Validate before loading the model: a typo in --bpm should not wait for the weights.
    request = default_request(config).with_changes(**changes)
    preflight.check_prompt(request.prompt, has_audio=bool(request.audio_prompt))
    out_dir = _out_dir(args, config)
    preflight.check_output_folder(out_dir)
    preflight.check_model_reachable(config.model.name)
    engine = load_engine(config.model)
    # A one-shot run keeps no journal: a killed `generate` should not resume in a later daemon.
    # The files named on its own command line may be read wherever they are.
    daemon = Daemon(config, engine, out_dir=out_dir, journal=False,
                    audio_folders=tuple(Path(changes[name]).parent
                                        for name in ("audio_prompt", "melody_audio")
                                        if changes.get(name)))
    finished = threading.Event()
    outcome: dict[str, Any] = {}
    bar = _ProgressBar(enabled=not args.no_progress and sys.stderr.isatty())

    def on_event(event: object) -> None:
        if not isinstance(event, events.JobEvent):
            return
        if event.kind == events.PROGRESS:
            bar.update(event.progress)
        elif event.kind == events.WRITING:
            bar.update(1.0, "writing")
        elif event.kind == events.STARTED:
            bar.update(0.0)
        elif event.kind in (events.DONE, events.FAILED, events.CANCELLED):
            outcome["event"] = event
            finished.set()

    daemon.bus.subscribe(on_event)
    daemon.start()
    # Log lines (a warning from finishing, say) go above the live bar, not through it.
    from tqdm.contrib.logging import logging_redirect_tqdm

    try:
        with logging_redirect_tqdm():
            daemon.submit(request)
            while not finished.wait(0.2):
                pass
    except KeyboardInterrupt:
        daemon.queue.cancel()
        finished.wait(10)
        print("cancelled", file=sys.stderr)
        return 130
    finally:
        bar.close()
        daemon.stop()
    event = outcome["event"]
    if event.kind != events.DONE:
        print(f"musicgen-bridge: {event.kind}: {event.error}", file=sys.stderr)
        return 1
    for clip in event.clips:
        print(clip.path)
    return 0


class _ProgressBar:
    """tqdm, labelled by stage: "generating" while the model samples, "finishing" once sampling
    is done (fit, loudness: seconds at 100 % that must not look hung), "writing"."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._stage = ""

    def update(self, fraction: float, label: str = "generating") -> None:
        if not self.enabled:
            return
        if label == "generating" and fraction >= 1.0:
            label = "finishing"
        if self._bar is None:
            from tqdm import tqdm

            self._stage = label
            self._bar = tqdm(total=100, desc=label, unit="%", file=sys.stderr,
                             dynamic_ncols=True,
                             bar_format="{desc:<10} {percentage:3.0f}%|{bar}| {elapsed}")
        self._bar.update(int(fraction * 100) - self._bar.n)
        if label != self._stage:
            # Drawn at once, past tqdm's rate limit: a new stage is news.
            self._stage = label
            self._bar.set_description_str(label, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _serve(args: argparse.Namespace) -> int:
    from bridge.daemon import Daemon
    from bridge.engine.loader import load_engine
    from bridge.services import create_services

    config = _load_config(args)
    _setup_logging(config.log.level)
    out_dir = _out_dir(args, config)
    preflight.check_output_folder(out_dir)
    if config.osc.enabled:
        preflight.check_udp_port_free(config.osc.host, config.osc.port)
    preflight.claim_journal(config.journal_path)  # held until the process exits
    preflight.check_model_reachable(config.model.name)
    engine = load_engine(config.model)
    daemon = Daemon(config, engine, out_dir=out_dir)
    for service in create_services(daemon):
        daemon.add_service(service)

    shutdown = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        shutdown.set()

    signal.signal(signal.SIGTERM, on_signal)
    log.info("warming the model up before serving")
    daemon.warm_up()
    daemon.start()
    try:
        # Wake often: on Windows an Event wait does not let Ctrl-C through.
        while not shutdown.wait(0.5):
            pass
    except KeyboardInterrupt:
        log.info("Ctrl-C: shutting down")
    # The main thread stops the daemon itself, so the process ends only once every
    # service, the running job and the journal are shut down.
    daemon.stop()
    return 0


def _config(args: argparse.Namespace) -> int:
    if args.config_command == "path":
        print(Path(args.config).expanduser() if args.config else config_mod.default_config_path())
        return 0
    path = config_mod.write_default(args.config, force=args.force)
    print(path)
    return 0


def _tiny_model(args: argparse.Namespace) -> int:
    from bridge.engine.tiny_model import build_tiny_model

    target = Path(args.dir)
    if (target / "config.json").is_file():
        # Re-running the README's first command must work: keep the model already there.
        print(target)
        print(f"note: {target} already holds a model; kept it (delete the folder to rebuild)",
              file=sys.stderr)
        return 0
    path = build_tiny_model(target, melody=args.melody, seed=args.seed)
    print(path)
    print("note: random weights; it makes noise, not music (for tests and offline demos)",
          file=sys.stderr)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from bridge import doctor

    try:
        config: config_mod.Config | None = config_mod.load(args.config)
        error = ""
    except ValueError as err:
        config, error = None, str(err)
    out = _out_dir(args, config) if config else Path(args.out or ".").expanduser().resolve()
    resource = Path(args.reaper_resource_path) if args.reaper_resource_path else None
    results = doctor.run_checks(doctor.Context(config, error, out, resource))
    print(doctor.render(results))
    return doctor.exit_status(results)


def _reaper(args: argparse.Namespace) -> int:
    from bridge.install import reaper

    result = reaper.install(Path(args.resource_path) if args.resource_path else None)
    for path in result.files:
        print(path)
    print(f"installed into {result.folder}: in REAPER, Actions > Show action list > New action "
          "> Load ReaScript..., and pick the four 'MusicGen - *.lua' files", file=sys.stderr)
    return 0


def _service(args: argparse.Namespace) -> int:
    from bridge.install import service

    extra: list[str] = []
    for flag in ("config", "out"):
        value = getattr(args, flag, None)
        if value:
            extra += [f"--{flag}", str(Path(value).expanduser().resolve())]
    file = service.service_file(extra)
    if args.service_command == "install":
        if args.print_only:
            sys.stdout.write(file.content.decode("utf-16" if file.platform == "win32"
                                                 else "utf-8"))
            return 0
        path = service.install(file, enable=not args.no_enable)
        print(path)
        if args.no_enable:
            print(f"written, not enabled: {' '.join(file.enable)}", file=sys.stderr)
        return 0
    removed = service.uninstall(file, disable=not args.no_enable)
    print(f"removed {file.path}" if removed else f"nothing to remove at {file.path}")
    return 0


COMMANDS = {"generate": _generate, "serve": _serve, "config": _config,
            "tiny-model": _tiny_model, "doctor": _doctor, "reaper": _reaper,
            "service": _service}


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """ "unknown command 'genrate'; did you mean 'generate'?" (or the list of commands)."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"commands: {', '.join(choices)}"
    return f"unknown command {word!r}; {hint}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    commands = list(parser.get_default("subcommands").choices)
    if words and not words[0].startswith("-") and words[0] not in commands:
        parser.print_usage(sys.stderr)
        print(f"musicgen-bridge: error: {did_you_mean(words[0], commands)}", file=sys.stderr)
        return 2
    args = parser.parse_args(words)
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    try:
        return handler(args)
    except (ValueError, OSError, RuntimeError) as err:
        # Bad input, a missing model, an unwritable folder: one clear line, non-zero exit.
        log.debug("command failed", exc_info=True)
        print(f"musicgen-bridge: error: {reason_of(err)}", file=sys.stderr)
        return 2

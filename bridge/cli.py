"""The command line: generate a clip, serve the daemon, write a config, build the tiny model."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge import config as config_mod
from bridge.midi_cli import add_midi_parser
from bridge.params import PARAMS
from bridge.style_cli import add_style_parser

log = logging.getLogger("bridge")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="config file (default: the per-user one)")
    p.add_argument("--model", help="hub id or local directory (default: config [model] name)")
    p.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), help="compute device")
    p.add_argument("--engine", choices=("auto", "transformers", "fast"),
                   help="decoding engine (default: config [model] engine, auto)")
    p.add_argument("--out", metavar="DIR",
                   help="clip folder itself (default: MusicGen/ in the config's project_dir)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musicgen-bridge",
        description="Bridge DAWs to MusicGen: bar-exact clips dropped into your project.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="generate clips once and print their paths",
                         description="Generate N bars at a tempo and meter; print the paths.")
    gen.add_argument("--prompt", required=True, help="what to generate, in words")
    gen.add_argument("--bpm", type=float, help="tempo (default: config)")
    gen.add_argument("--meter", help='time signature, e.g. "4/4", "6/8"')
    gen.add_argument("--bars", type=int, help="length in bars")
    gen.add_argument("--key", help='e.g. "A minor"')
    for name, spec in PARAMS.items():
        gen.add_argument(f"--{name.replace('_', '-')}", dest=name, type=spec.type,
                         help=f"{spec.help} ({spec.minimum:g}..{spec.maximum:g})")
    gen.add_argument("--seed", type=int, help="-1: random")
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

    serve = sub.add_parser("serve", help="run the daemon (OSC, MIDI, request folder)",
                           description="Keep the model warm and serve OSC, MIDI and the "
                                       "request folder until Ctrl-C or SIGTERM.")
    _add_model_args(serve)
    serve.add_argument("--osc-host", help="OSC listen address (default 127.0.0.1)")
    serve.add_argument("--osc-port", type=int, help="OSC listen port (default 9000)")
    serve.add_argument("--feedback", action="append", metavar="HOST:PORT",
                       help="OSC feedback target (repeatable; default 127.0.0.1:9001)")

    cfg = sub.add_parser("config", help="write or locate the config file")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    init = cfg_sub.add_parser("init", help="write a commented default config")
    init.add_argument("--config", metavar="PATH", help="where (default: the per-user one)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    path = cfg_sub.add_parser("path", help="print the config file location")
    path.add_argument("--config", metavar="PATH")

    tiny = sub.add_parser("tiny-model", help="build a small random-weight MusicGen (noise!)",
                          description="Build a tiny random-weight MusicGen and save it with "
                                      "save_pretrained. It makes noise, not music: it exists so "
                                      "tests and demos run the real loading code offline.")
    tiny.add_argument("dir", help="where to save it")
    tiny.add_argument("--melody", action="store_true", help="a melody-conditioned variant")
    tiny.add_argument("--seed", type=int, default=0, help="weight seed")

    add_midi_parser(sub)
    add_style_parser(sub)
    return parser


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
    engine = load_engine(config)
    # A one-shot run keeps no journal: a killed `generate` should not resume in a later daemon.
    daemon = Daemon(config, engine, out_dir=_out_dir(args, config), journal=False)
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
        elif event.kind in (events.DONE, events.FAILED, events.CANCELLED):
            outcome["event"] = event
            finished.set()

    daemon.bus.subscribe(on_event)
    daemon.start()
    try:
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
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = -1

    def update(self, fraction: float, label: str = "generating") -> None:
        percent = int(fraction * 100)
        if not self.enabled or percent == self._last:
            return
        self._last = percent
        filled = percent * 30 // 100
        sys.stderr.write(f"\r{label:<10} [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self._last >= 0:
            sys.stderr.write("\n")


def _serve(args: argparse.Namespace) -> int:
    from bridge.daemon import Daemon
    from bridge.engine.loader import load_engine
    from bridge.services import create_services

    config = _load_config(args)
    _setup_logging(config.log.level)
    engine = load_engine(config)
    daemon = Daemon(config, engine, out_dir=_out_dir(args, config))
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


COMMANDS = {"generate": _generate, "serve": _serve, "config": _config,
            "tiny-model": _tiny_model}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    try:
        return handler(args)
    except (ValueError, OSError, RuntimeError) as err:
        # Bad input, a missing model, an unwritable folder: one clear line, non-zero exit.
        log.debug("command failed", exc_info=True)
        print(f"musicgen-bridge: error: {err}", file=sys.stderr)
        return 2

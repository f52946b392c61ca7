"""`musicgen-bridge midi ports` and `musicgen-bridge midi learn <param>`.

``add_midi_parser(subparsers)`` adds the ``midi`` command to the main parser; each subcommand
sets ``handler(args) -> int`` (the exit status) and takes ``--config PATH`` (default: the
per-user config file).
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
from pathlib import Path
from typing import Any

import mido

from bridge.config import Config, default_config_path, load
from bridge.midi.learn import TIMEOUT_S, ConfigFile, Learner, save_binding
from bridge.midi.mapping import parse_mappings
from bridge.midi.ports import (
    LOOPMIDI_HINT,
    NO_MIDI_SYSTEM,
    VIRTUAL_NAME,
    describe,
    drop_sysex_at_driver,
    load_backend,
    match_port,
)
from bridge.params import KNOB_PARAMS

LEARN_PORT_NAME = f"{VIRTUAL_NAME} learn"  # beside a running daemon's own virtual port


def add_midi_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "midi", help="MIDI: list ports, learn a knob",
        description="MIDI controllers: list the ports, bind a knob to a parameter.")
    commands = parser.add_subparsers(dest="midi_command", metavar="COMMAND", required=True)

    ports = commands.add_parser("ports", help="list MIDI inputs and outputs",
                                description="List MIDI inputs and outputs and which of them "
                                            "the config's [midi] inputs/output match.")
    ports.add_argument("--backend", help="mido backend (default: [midi] backend, then "
                                         "MIDO_BACKEND, then rtmidi)")
    _add_config(ports)
    ports.set_defaults(handler=run_ports)

    learn = commands.add_parser(
        "learn", help="bind the next moved control to a parameter and save it",
        description="Move a knob, fader or encoder on your controller after starting this: it "
                    "is bound to PARAM (absolute, 14-bit or relative detected from what it "
                    "sends) and saved into [midi] mappings of the config file, keeping your "
                    "comments. Turn encoders a few clicks both ways.")
    learn.add_argument("param", choices=KNOB_PARAMS, help="the parameter to bind")
    learn.add_argument("--port", action="append", metavar="NAME",
                       help="input to listen on (exact or a substring; repeatable); default: "
                            "[midi] inputs, else every input plus a virtual port")
    learn.add_argument("--timeout", type=float, default=TIMEOUT_S,
                       help=f"seconds to wait for a control to move (default {TIMEOUT_S:.0f})")
    learn.add_argument("--backend", help="mido backend (default: [midi] backend, then "
                                         "MIDO_BACKEND, then rtmidi)")
    _add_config(learn)
    learn.set_defaults(handler=run_learn)
    return parser


def _add_config(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: never overwrite a --config the main parser may have taken already.
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: the per-user one); learn saves into it")


def _load_config(args: argparse.Namespace) -> Config:
    return load(getattr(args, "config", None))


def _config_path(args: argparse.Namespace, config: Config) -> Path:
    explicit = getattr(args, "config", None)
    return Path(explicit) if explicit else (config.path or default_config_path())


def _fail(message: str, status: int = 1) -> int:
    print(f"musicgen-bridge midi: {message}", file=sys.stderr)
    return status


def run_ports(args: argparse.Namespace) -> int:
    try:
        config = _load_config(args)
        backend = load_backend(args.backend or config.midi.backend)
    except (OSError, ValueError) as err:
        return _fail(str(err), 2)
    try:
        inputs, outputs = backend.get_input_names(), backend.get_output_names()
    except Exception as err:  # rtmidi raises its own types when there is no MIDI system
        return _fail(f"cannot list MIDI ports ({err}): {NO_MIDI_SYSTEM}")
    print(f"backend: {describe(backend)}")
    for title, names in (("inputs", inputs), ("outputs", outputs)):
        print(f"{title}:")
        for name in names:
            print(f"  {name}")
        if not names:
            print("  (none)")
    wanted = list(config.midi.inputs)
    if not wanted:
        hint = LOOPMIDI_HINT if sys.platform == "win32" else "serve creates it"
        print(f"[midi] inputs: none named, so the virtual input {VIRTUAL_NAME!r} ({hint})")
    taken: list[str] = []
    for pattern in wanted:
        match = match_port(pattern, inputs, taken)
        taken.append(match or "")
        print(f"[midi] inputs {pattern!r}: {match or 'NOT FOUND'}")
    if config.midi.output:
        print(f"[midi] output {config.midi.output!r}: "
              f"{match_port(config.midi.output, outputs) or 'NOT FOUND'}")
    return 0


def run_learn(args: argparse.Namespace) -> int:
    try:
        config = _load_config(args)
        backend = load_backend(args.backend or config.midi.backend)
    except (OSError, ValueError) as err:
        return _fail(str(err), 2)
    received: queue.Queue[tuple[float, mido.Message]] = queue.Queue(maxsize=4096)

    def on_message(msg: mido.Message) -> None:
        if msg.type == "control_change":
            try:
                received.put_nowait((time.monotonic(), msg))
            except queue.Full:
                pass

    ports = _open_learn_ports(backend, args.port or list(config.midi.inputs), on_message)
    if not ports:
        return _fail("no MIDI input to learn from: plug in a controller, or name one with "
                     "--port (see `musicgen-bridge midi ports`)")
    print(f"Move the control for {args.param} now (encoders: a few clicks both ways); "
          f"listening on {', '.join(p.name for p in ports)} for {args.timeout:.0f} s")
    try:
        learner = Learner(args.param, time.monotonic(), timeout_s=args.timeout)
        while not learner.done(time.monotonic()):
            try:
                t, msg = received.get(timeout=0.05)
            except queue.Empty:
                continue
            learner.feed(msg.channel, msg.control, msg.value, t)
    except KeyboardInterrupt:
        return _fail("learn cancelled", 130)
    finally:
        for port in ports:
            port.close()
    previous = next((b for b in parse_mappings(config.midi.mappings)
                     if b.param == args.param), None)
    binding = learner.result(previous)
    if binding is None:
        return _fail(f"no MIDI control moved within {args.timeout:.0f} s")
    path = _config_path(args, config)
    try:
        saved = save_binding(ConfigFile(path, load), binding)
    except (OSError, ValueError) as err:
        return _fail(f"learned, but not saved: {err}")
    channel = binding.channel + 1 if binding.channel is not None else 0
    print(f"{args.param} <- channel {channel}, CC {binding.cc} ({binding.mode}); saved to "
          f"{saved}. A running daemon uses it after a restart (to learn live, send it "
          f"/musicgen/learn).")
    return 0


def _open_learn_ports(backend: mido.Backend, patterns: list[str], on_message: Any) -> list[Any]:
    try:
        available = backend.get_input_names()
    except Exception as err:  # no MIDI system at all
        print(f"cannot list MIDI inputs ({err}): {NO_MIDI_SYSTEM}", file=sys.stderr)
        return []
    names = ([m for p in patterns if (m := match_port(p, available)) is not None]
             if patterns else list(available))
    for pattern in patterns:
        if match_port(pattern, available) is None:
            print(f"MIDI input {pattern!r} not found", file=sys.stderr)
    ports = []
    for name in dict.fromkeys(names):
        try:
            port = backend.open_input(name, callback=on_message)
        except Exception as err:
            print(f"cannot open MIDI input {name!r} ({err})", file=sys.stderr)
            continue
        drop_sysex_at_driver(port)
        ports.append(port)
    if not patterns and sys.platform != "win32":
        kwargs = {"client_name": LEARN_PORT_NAME} if backend.name.endswith("rtmidi") else {}
        try:
            port = backend.open_input(LEARN_PORT_NAME, virtual=True,
                                      callback=on_message, **kwargs)
            drop_sysex_at_driver(port)
            ports.append(port)
        except Exception as err:
            print(f"no virtual input {LEARN_PORT_NAME!r} ({err})", file=sys.stderr)
    return ports

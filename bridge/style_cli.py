"""`musicgen-bridge style train NAME CLIP...` and `musicgen-bridge style list`.

``add_style_parser(subparsers)`` adds the ``style`` command; the training itself is
bridge.engine.style_train (the daemon runs the same trainer between generation jobs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bridge.config import default_data_dir, load
from bridge.engine.device_names import DEVICE_HELP, device_arg


def add_style_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "style", help="styles: train a LoRA adapter on your clips, list them",
        description="Teach the model a sound from 5-50 of your clips (5-30 s each).")
    commands = parser.add_subparsers(dest="style_command", metavar="COMMAND", required=True)
    train = commands.add_parser(
        "train", help="train style NAME on the clips",
        description="Train style NAME on 5-50 clips of 5-30 s (wav, flac, aiff; any rate, mono "
                    "or stereo). Ctrl-C stops after the current step; running the same "
                    "command again resumes at the last finished epoch.")
    train.add_argument("name", help="style name: letters, digits, '-', '_'")
    train.add_argument("clips", nargs="+", metavar="CLIP", help="audio files")
    train.add_argument("--describe", default="", metavar="TEXT",
                       help="what the clips are, in words (the style's name is added)")
    train.add_argument("--epochs", type=int, help="most epochs (default 8; stops early)")
    train.add_argument("--learning-rate", type=float, dest="learning_rate")
    train.add_argument("--seed", type=int)
    train.add_argument("--config", metavar="PATH")
    train.add_argument("--model", help="hub id or local directory (default: config)")
    train.add_argument("--device", type=device_arg, help=DEVICE_HELP)
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(handler=run_train)
    listing = commands.add_parser("list", help="list the trained styles")
    listing.set_defaults(handler=run_list)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from bridge.engine.style_train import StyleTrainer, TrainSettings
    from bridge.engine.styles import check_name, styles_root
    from bridge.engine.transformers_engine import load_engine

    check_name(args.name)  # before loading the model
    config = load(args.config)
    settings = TrainSettings()
    changes = {k: getattr(args, k) for k in ("epochs", "learning_rate", "seed")
               if getattr(args, k) is not None}
    settings = replace(settings, **changes)
    engine = load_engine(args.model or config.model.name, args.device or config.model.device)
    root = styles_root(default_data_dir())
    trainer = StyleTrainer(engine, args.name, args.clips, root, description=args.describe,
                           settings=settings)
    trainer.prepare()
    if trainer.resumed_from:
        print(f"resuming after epoch {trainer.resumed_from}", file=sys.stderr)
    bar = tqdm(total=trainer.total_steps, initial=trainer.steps, unit="step",
               desc=f"style {args.name}", disable=args.no_progress)
    try:
        while (report := trainer.step()) is not None:
            bar.update(1)
            post = {"epoch": report.epoch, "loss": f"{report.loss:.3f}"}
            if report.heldout is not None:
                post["held-out"] = f"{report.heldout:.3f}"
            bar.set_postfix(post)
        bar.close()
        info = trainer.finish()
    except KeyboardInterrupt:
        bar.close()
        print(f"stopped; run the same command again to resume after epoch {trainer.epoch}",
              file=sys.stderr)
        return 130
    finally:
        trainer.close()
    m = info.manifest
    print(info.path)
    print(f"{m['steps']} steps, {m['epochs']} epochs (best {m['best_epoch']}), held-out loss "
          f"{min(m['heldout_losses']):.3f}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from bridge.engine.styles import list_styles, styles_root

    for info in list_styles(styles_root(default_data_dir())):
        m = info.manifest
        print(f"{info.name}\t{m.get('base_model', '?')}\t{len(m.get('clips', []))} clips\t"
              f"{m.get('description', '')}")
    return 0

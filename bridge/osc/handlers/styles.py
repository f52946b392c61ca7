"""Styles over OSC: the list for menus, collecting clips and starting a training.

A DAW sends each clip with /musicgen/style_clip (a path per message, so paths with spaces
arrive whole), then /musicgen/train NAME [DESCRIPTION]. Clips are kept per sender, at most
``MAX_CLIPS``, until the training is sent. Progress and the result come back from the
training's ``StyleEvent``s through the feedback.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bridge.engine.style_train import MAX_CLIPS
from bridge.osc.addresses import PREFIX
from bridge.osc.dispatch import Call, Dispatcher
from bridge.osc.feedback import OscFeedback, OscOut, Peer

if TYPE_CHECKING:
    from bridge.session.control import Control


def _styles(daemon: Control, call: Call) -> OscOut:
    return OscOut.of(f"{PREFIX}/style_list", " ".join(daemon.styles()))


# Senders with clips collected; past this the oldest collection is dropped (a stray sender
# must not grow the daemon's memory).
MAX_SENDERS = 32


def _clip(pending: dict[Peer, list[str]], call: Call) -> OscOut:
    if call.sender not in pending and len(pending) >= MAX_SENDERS:
        del pending[next(iter(pending))]
    clips = pending.setdefault(call.sender, [])
    if len(clips) >= MAX_CLIPS:
        raise ValueError(f"already {MAX_CLIPS} clips collected, the most a style trains on; "
                         "send /musicgen/train")
    path = str(call.args[0]).strip()
    if not path:
        raise ValueError("the clip path is empty")
    clips.append(path)
    return OscOut.of(f"{PREFIX}/style_clips", len(clips))


def _train(daemon: Control, feedback: OscFeedback, pending: dict[Peer, list[str]],
           call: Call) -> OscOut:
    name = str(call.args[0]).strip()
    description = str(call.args[1]) if len(call.args) > 1 else ""
    clips = pending.pop(call.sender, [])
    daemon.train_style(name, clips, description=description,
                       client_id=feedback.clients.client_id_for(call.sender))
    return OscOut.of(f"{PREFIX}/training", name)


def _cancel(daemon: Control, call: Call) -> None:
    name = str(call.args[0]).strip()
    if not daemon.cancel_training(name):
        raise ValueError(f"style {name!r} is not being trained")


def register(dispatcher: Dispatcher, daemon: Control, feedback: OscFeedback) -> None:
    pending: dict[Peer, list[str]] = {}
    dispatcher.register(f"{PREFIX}/styles", partial(_styles, daemon))
    dispatcher.register(f"{PREFIX}/style_clip", partial(_clip, pending))
    dispatcher.register(f"{PREFIX}/train", partial(_train, daemon, feedback, pending))
    dispatcher.register(f"{PREFIX}/train_cancel", partial(_cancel, daemon))

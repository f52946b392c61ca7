"""Conditioning over OSC: continue an audio file, vary the last request.

``/musicgen/continue s`` snapshots the session state with the file as its audio prompt
(``prompt_seconds``, ``keep_prompt`` and the rest as the state has them) and queues it; the
daemon checks the file before queueing, so a missing, unreadable, empty, too short or silent
file is answered on /musicgen/error at once. ``/musicgen/vary [i]`` queues the last request
again (the sender's own newest job, else the daemon's last submitted request) with a random
seed, ``count`` variations in one batched call (default: as many as that request had) and
``parent_job`` pointing at it, so the sidecars link each variation to its parent. /musicgen/negative is a plain setting (settings handlers).
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.engine.base import EngineError
from bridge.errors import reason_of
from bridge.osc.addresses import PREFIX
from bridge.osc.dispatch import Call, Dispatcher
from bridge.osc.feedback import OscFeedback
from bridge.params import PARAMS
from bridge.request import GenerationRequest

if TYPE_CHECKING:
    from bridge.session.control import Control

CONTINUE = f"{PREFIX}/continue"
VARY = f"{PREFIX}/vary"

log = logging.getLogger(__name__)
# One audio file is decoded at a time, off the OSC thread: a 1 GB file that is not audio must
# not stall knobs and transport for seconds.
_DECODING = threading.BoundedSemaphore(1)


def _continue(daemon: Control, feedback: OscFeedback, call: Call) -> None:
    text = str(call.args[0]).strip()
    if not text:
        raise ValueError("give the audio file's absolute path, e.g. /musicgen/continue "
                         "\"/home/me/song/selection.wav\"")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"give the audio file's absolute path, got {text!r} (the daemon's "
                         "working folder is not your project's)")
    request = daemon.state.snapshot().with_changes(
        audio_prompt=str(path), client_id=feedback.clients.client_id_for(call.sender))
    daemon.check_audio(request)  # cheap refusals answered at once, on this thread
    if not _DECODING.acquire(blocking=False):
        raise ValueError("still reading the previous /musicgen/continue file; send it again "
                         "in a moment")
    threading.Thread(target=_submit_decoded, args=(daemon, feedback, call, request),
                     name="osc-continue", daemon=True).start()


def _submit_decoded(daemon: Control, feedback: OscFeedback, call: Call,
                    request: GenerationRequest) -> None:
    try:
        daemon.submit(request)
    except (ValueError, EngineError) as err:
        feedback.error(CONTINUE, reason_of(err), call.sender)
    except Exception as err:
        log.exception("/musicgen/continue failed")
        feedback.error(CONTINUE, f"the daemon failed on this file ({type(err).__name__}); "
                                 "its log has the details", call.sender)
    finally:
        _DECODING.release()


def last_request(daemon: Control, client_id: str = "") -> tuple[int, GenerationRequest]:
    """(job id, request) to vary: the newest job of ``client_id`` when it has one (two people
    sharing a daemon vary their own), else the daemon's last submitted request; after a
    restart, the newest job its journal brought back. Raises ValueError when there is none."""
    jobs = daemon.jobs()
    mine = [job for job in jobs if client_id and job.request.client_id == client_id]
    if mine:
        newest = max(mine, key=lambda job: job.job_id)
        return newest.job_id, newest.request
    if daemon.last_submitted is not None:
        return daemon.last_submitted
    if not jobs:
        raise ValueError("nothing to vary yet: generate a clip first")
    newest = max(jobs, key=lambda job: job.job_id)
    return newest.job_id, newest.request


def _vary(daemon: Control, feedback: OscFeedback, call: Call) -> None:
    client_id = feedback.clients.client_id_for(call.sender)
    parent, request = last_request(daemon, client_id)
    changes: dict[str, object] = {"seed": None, "parent_job": parent, "client_id": client_id}
    if call.args:
        count = int(call.args[0])  # an "i" argument: int() only types it
        spec = PARAMS["variations"]
        if not spec.minimum <= count <= spec.maximum:
            raise ValueError(f"count must be {spec.minimum:g}..{spec.maximum:g} variations, "
                             f"got {count}")
        changes["variations"] = count
    daemon.submit(request.with_changes(**changes))


def register(dispatcher: Dispatcher, daemon: Control, feedback: OscFeedback) -> None:
    dispatcher.register(CONTINUE, partial(_continue, daemon, feedback))
    dispatcher.register(VARY, partial(_vary, daemon, feedback))

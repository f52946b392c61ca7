"""Jobs and transport over OSC: generate, cancel, state, ping, client (continue and vary
live in conditioning.py).

A trigger snapshots the session state into a request and queues it (``Daemon.submit`` returns
a job id at once; the model runs on the job worker), so a knob turned afterwards changes the
next job only. /musicgen/queued, progress and clip messages come from the job's events through
the feedback, routed by the request's client id: the sender's registered client, or the
sender itself.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bridge.osc.addresses import PREFIX
from bridge.osc.dispatch import Call, Dispatcher
from bridge.osc.feedback import OscFeedback, OscOut

if TYPE_CHECKING:
    from bridge.session.control import Control


def _generate(daemon: Control, feedback: OscFeedback, call: Call) -> None:
    changes: dict[str, object] = {"client_id": feedback.clients.client_id_for(call.sender)}
    if call.args and str(call.args[0]).strip():
        changes["prompt"] = call.args[0]
    daemon.submit(daemon.state.snapshot().with_changes(**changes))


def _cancel(daemon: Control, call: Call) -> None:
    job = int(call.args[0]) if call.args else None  # an "i" argument: int() only types it
    if daemon.cancel(job):
        return  # /musicgen/status follows from the CANCELLED event
    if job is None:
        raise ValueError("no job is running")
    raise ValueError(f"job {job} is neither queued nor running")


def _state(daemon: Control, feedback: OscFeedback, call: Call) -> None:
    feedback.send_state(call.sender, daemon.state.snapshot())


def _ping(call: Call) -> OscOut:
    return OscOut.of(f"{PREFIX}/pong")


def _client(feedback: OscFeedback, call: Call) -> OscOut:
    client_id, reply_port = call.args
    client = feedback.clients.register(str(client_id), call.sender, int(reply_port))
    return OscOut.of(f"{PREFIX}/client", client.client_id, client.reply[1])


def register(dispatcher: Dispatcher, daemon: Control, feedback: OscFeedback) -> None:
    dispatcher.register(f"{PREFIX}/generate", partial(_generate, daemon, feedback))
    dispatcher.register(f"{PREFIX}/cancel", partial(_cancel, daemon))
    dispatcher.register(f"{PREFIX}/state", partial(_state, daemon, feedback))
    dispatcher.register(f"{PREFIX}/ping", _ping)
    dispatcher.register(f"{PREFIX}/client", partial(_client, feedback))

"""What an input (OSC, MIDI, the inbox) may ask of the daemon: the one seam between inputs and
the rooms below them.

Inputs are written against this protocol, never against ``bridge.daemon.Daemon``, so no input
imports the application that assembles it; the daemon is the one implementation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bridge.events import EventBus, JobInfo
from bridge.request import GenerationRequest
from bridge.session.state import SessionState
from bridge.session.tempo_source import TempoArbiter


class Control(Protocol):
    state: SessionState
    bus: EventBus
    tempo: TempoArbiter  # every input that sets the tempo offers it here
    out_dir: Path
    # (job id, request) of the latest accepted submission: what /musicgen/vary re-runs.
    last_submitted: tuple[int, GenerationRequest] | None

    def default_request(self) -> GenerationRequest: ...

    def submit(self, request: GenerationRequest | None = None, *,
               origin: str | None = None) -> int:
        """Queue ``request`` (default: the session state); raises ValueError for the asker.
        A second submit with the same ``origin`` returns the first job's id."""
        ...

    def check_audio(self, request: GenerationRequest) -> None:
        """Refuse audio files the request may not read, without decoding (cheap)."""
        ...

    def cancel(self, job_id: int | None = None) -> bool:
        """Cancel a queued or the running job (None: the running one); False when unknown."""
        ...

    def jobs(self) -> list[JobInfo]: ...

    def styles(self) -> list[str]:
        """The trained styles' names (for the DAW's menus)."""
        ...

    def train_style(self, name: str, clips: list[str], *, description: str = "",
                    client_id: str = "") -> None:
        """Queue training a style; raises ValueError naming every bad clip and why."""
        ...

    def cancel_training(self, name: str) -> bool:
        """Stop training style ``name`` (resumable); False when it is not being trained."""
        ...

    def start_learn(self, param: str) -> None:
        """Bind the next moved MIDI control to ``param``; raises ValueError with the fix."""
        ...

    def register_learner(self, learner: LearnerFn | None) -> None:
        """The MIDI input offers (or withdraws, with None) its learn while it runs."""
        ...


class LearnerFn(Protocol):
    def __call__(self, param: str) -> None: ...

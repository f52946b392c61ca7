"""Training a style as a background task of the job queue (bridge.jobs.queue.BackgroundTask).

Each ``step`` is one bounded piece of ``StyleTrainer``'s work (reading the clips, encoding one
clip, one optimizer step), so a generation job queued meanwhile waits for one of those at
most. Progress and the
outcome go out as ``StyleEvent``s; when the daemon stops, the trainer's last epoch checkpoint
stays, and sending the same training again resumes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.engine.style_train import StyleTrainer
from bridge.events import STYLE_DONE, STYLE_FAILED, STYLE_PROGRESS, StyleEvent

log = logging.getLogger(__name__)

# Progress events at most every 2 % (a DAW's progress bar, not a log).
_PROGRESS_STEP = 0.02


class TrainingTask:
    def __init__(self, trainer: StyleTrainer, publish: Callable[[object], None], *,
                 client_id: str = "") -> None:
        self.trainer = trainer
        self.name = f"style {trainer.name}"
        self._publish = publish
        self._client_id = client_id
        self._last = -1.0

    def step(self) -> bool:
        trainer = self.trainer
        try:
            if not trainer.prepared:
                if trainer.prepare_step():  # reading, then one clip's encoding per call
                    self._progress(trainer.steps / max(1, trainer.total_steps))
                return True
            report = trainer.step()
            if report is not None:
                self._progress(report.step / max(1, report.total))
                return True
            info = trainer.finish()
        except Exception as error:
            log.exception("training style %s failed", trainer.name)
            trainer.close()
            reason = str(error) or type(error).__name__
            self._emit(StyleEvent(STYLE_FAILED, trainer.name, error=reason,
                                  client_id=self._client_id))
            return False
        self._emit(StyleEvent(STYLE_PROGRESS, trainer.name, 1.0, client_id=self._client_id))
        self._emit(StyleEvent(STYLE_DONE, trainer.name, 1.0, path=str(info.path),
                              client_id=self._client_id))
        return False

    def stop(self) -> None:
        self.trainer.close()
        self._emit(StyleEvent(STYLE_FAILED, self.trainer.name,
                              error="stopped; send the same training again to resume after "
                                    f"epoch {self.trainer.epoch}", client_id=self._client_id))

    def _progress(self, fraction: float) -> None:
        if fraction - self._last >= _PROGRESS_STEP:
            self._last = fraction
            self._emit(StyleEvent(STYLE_PROGRESS, self.trainer.name, min(fraction, 0.99),
                                  client_id=self._client_id))

    def _emit(self, event: StyleEvent) -> None:
        try:
            self._publish(event)
        except Exception:
            log.exception("publishing %s failed", event)

"""Fan-out of job events and state changes to feedback outputs (OSC, MIDI echo, CLI).

Subscribers are called on the publishing thread and must not block: an output that does I/O
puts the event on its own queue and sends from its own thread. A subscriber that raises is
logged and the others still get the event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[object], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: object) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("feedback subscriber %r failed on %r", callback, event)

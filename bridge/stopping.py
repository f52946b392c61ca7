"""Stopping a worker thread that reads a bounded queue, without ever blocking the caller.

A blocking ``put`` of the stop sentinel hangs shutdown for good when the queue is full and
its reader is stuck or gone; ``put_sentinel`` makes room by dropping the oldest items (the
reader is stopping: what it has not taken yet would be thrown away anyway, or, for a live
input, is the least current).
"""

from __future__ import annotations

import queue


def put_sentinel(q: queue.Queue[object], sentinel: object) -> int:
    """Put ``sentinel`` on ``q`` now; returns how many waiting items were dropped for it."""
    dropped = 0
    while True:
        try:
            q.put_nowait(sentinel)
            return dropped
        except queue.Full:
            try:
                q.get_nowait()
                dropped += 1
            except queue.Empty:
                pass

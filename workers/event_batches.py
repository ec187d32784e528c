"""The worker's Celery consumer, whose task events go to Redis in batches.

A worker sends three task events per chunk (received, started, succeeded: what
Flower shows). Celery buffers them and publishes the buffer at the event loop's
next turn, which for chunks of a few hundred milliseconds is one PUBLISH per
event, and each round trip wakes Redis, which costs it more than the command
(bench/reach.py). Here the buffer goes out at most ``EVENT_BATCH_SECONDS`` after
its first event (or at Celery's own limit of buffered events, or when the
consumer shuts down): Flower sees a task that much later at most, and one
PUBLISH carries the events of every chunk that ended meanwhile. Worker events
(online, heartbeat, offline) are not buffered and go out as before.
"""

from __future__ import annotations

import time

from celery.worker.consumer import Consumer

EVENT_BATCH_SECONDS = 0.1


class BatchingConsumer(Consumer):
    """Celery's consumer; its buffered task events are published at most every
    ``EVENT_BATCH_SECONDS`` instead of at the event loop's next turn."""

    _flush_due_at = 0.0  # when the scheduled publish of the buffer runs (0.0: none is)

    def on_send_event_buffered(self) -> None:
        if not self.hub:
            return
        now = time.monotonic()
        # one publish scheduled is enough; one overdue was dropped with the loop's timers (a
        # consumer restarted after a lost connection), so another is scheduled
        if now < self._flush_due_at + EVENT_BATCH_SECONDS:
            return
        self._flush_due_at = now + EVENT_BATCH_SECONDS
        self.hub.call_later(EVENT_BATCH_SECONDS, self._flush_batch)

    def _flush_batch(self) -> None:
        self._flush_due_at = 0.0
        self._flush_events()

    def shutdown(self) -> None:
        self._flush_events()  # the last chunk's events, before the dispatcher closes
        super().shutdown()

"""The farm's result backend: Celery's Redis backend without a subscription per sent task.

Celery's Redis backend subscribes to a task's result channel as the task is
sent, so that a later ``AsyncResult.get()`` is woken by Redis. btfarm never
waits on a chunk that way (variant results come through the sweep's inbox
list, see orchestrator/sweeps/collect.py; chunk_watch.py reads states with GET), yet
paid for it on every submit: a SUBSCRIBE per chunk, an UNSUBSCRIBE when its
``AsyncResult`` was collected, and a pub/sub connection per sweep thread.
``AsyncResult.get()`` still works: it subscribes when it waits.
"""

from __future__ import annotations

from celery.backends.redis import RedisBackend

SCHEMES = (
    "redis",
    "rediss",
)  # the URL schemes this backend takes over (redis+socket:// is "redis")


class FarmRedisBackend(RedisBackend):
    def on_task_call(self, producer, task_id) -> None:
        """Nothing: see the module docstring."""

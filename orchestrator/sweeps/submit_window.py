"""Chunks out a window at a time, while results come in (backpressure).

Submitting a whole sweep at once put every chunk message in Redis before the
first result was read: a sweep of a million variants filled Redis to its
``maxmemory`` before anything was collected. The window keeps up to
``WINDOW_PER_SLOT`` chunks per pool process in flight and submits the next
ones as results arrive, a pool's worth (one chunk per process) at a time:
a publish is a round trip, which cost as much as the results of a short
chunk when each chunk went alone. Between two top-ups at least two chunks
per process are in flight (one running, one queued behind it), so no worker
waits for the orchestrator. Its size follows the live pool, read again
every ``RESIZE_SECONDS``, so workers that join mid-sweep get work.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from celery import Celery

from btfarm.orchestrator.sweeps import fanout
from btfarm.orchestrator.sweeps.chunk_watch import ChunkWatch

WINDOW_PER_SLOT = 3  # chunks in flight per pool process, at most
MIN_WINDOW = 4  # chunks in flight at least (no pool announced yet, say)
RESIZE_SECONDS = 5.0  # how often the pool's size is read again


class SubmitWindow:
    """The chunks of one attempt not submitted yet, and how many variants are in flight."""

    def __init__(self, app: Celery, watch: ChunkWatch, slots: Callable[[], int]) -> None:
        self.app = app
        self.watch = watch
        self._slots = slots
        self._chunks = fanout.ChunkPlan({}, [], 1)  # none until ``replace``
        self._next = 0  # the first chunk not submitted yet
        self._submitted = 0  # variants submitted since the last ``replace``
        self._collected_before = 0  # results already counted when the queue was replaced
        self._limit = MIN_WINDOW
        self._next_resize = 0.0

    def replace(self, chunks: fanout.ChunkPlan, collected: int) -> None:
        """Submit these chunks from now on (a new attempt), ``collected`` results being in.
        Each chunk is built when the window sends it (fanout.ChunkPlan)."""
        self._chunks, self._next = chunks, 0
        self._submitted = 0
        self._collected_before = collected
        self.watch.replace([], [])

    @property
    def remaining(self) -> int:
        """Chunks not submitted yet."""
        return len(self._chunks) - self._next

    def limit(self) -> int:
        """Chunks allowed in flight, from the live pool's size."""
        now = time.monotonic()
        if now >= self._next_resize:
            self._next_resize = now + RESIZE_SECONDS
            self._limit = max(MIN_WINDOW, WINDOW_PER_SLOT * self._slots())
        return self._limit

    def top_up(self, collected: int) -> int:
        """Submit chunks until the window is full again; ``collected``: results in so far.
        Returns the chunks submitted."""
        if not self.remaining:
            return 0
        in_flight = self._submitted - (collected - self._collected_before)
        size = max(self._chunks.size(self._next), 1)
        limit = self.limit()
        room = limit * size - in_flight
        # a pool's worth at a time (what the last chunks need, at the end)
        group = min(max(1, limit // WINDOW_PER_SLOT), self.remaining)
        if room < group * size:
            return 0
        first = self._next
        while self._next < len(self._chunks) and room > 0:
            room -= self._chunks.size(self._next)
            self._next += 1
        if self._next == first:
            return 0
        chunks = [self._chunks[i] for i in range(first, self._next)]
        ids = [
            fanout.task_id(chunk, i)
            for i, chunk in zip(range(first, self._next), chunks, strict=True)
        ]
        try:
            fanout.submit(self.app, chunks, ids)
        except BaseException:  # the broker failed mid-batch: all of it goes again (same task ids)
            self._next = first
            raise
        self._submitted += sum(c.own_count() for c in chunks)
        self.watch.add(chunks, ids)
        return len(chunks)

"""The worker's heartbeat: its node name and pool size in Redis while it runs.

Started by the main worker process once it is ready, from a daemon thread
with its own Redis client (pool children never see the thread: fork copies
only the forking thread). A Redis outage only skips beats; the worker's
tasks do not depend on it. The first beat also clears what an earlier start
of the same node refused or failed with; a clean shutdown removes the entry
at once, and a sweep's orchestrator notices within seconds when none is left.
"""

from __future__ import annotations

import logging
import threading

import redis

from btfarm.shared.store import worker_registry
from btfarm.shared.store.connection import connect

log = logging.getLogger("btfarm.workers")


class Heartbeat:
    def __init__(self, node: str, slots: int) -> None:
        self.node, self.slots = node, slots
        self._stop = threading.Event()
        self._client = connect()
        self._thread = threading.Thread(target=self._beat, name="btfarm-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _beat(self) -> None:
        warned = False
        arriving = True
        while True:
            try:
                worker_registry.announce(self._client, self.node, self.slots, arriving=arriving)
                warned = arriving = False
            except redis.RedisError as exc:
                if not warned:
                    log.warning("btfarm heartbeat of %s skipped: %s", self.node, exc)
                    warned = True
            if self._stop.wait(worker_registry.HEARTBEAT_SECONDS):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            worker_registry.leave(self._client, self.node)
        except redis.RedisError:
            pass  # the entry lapses by itself
        finally:
            self._client.close()

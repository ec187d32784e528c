"""Which workers are alive and how many tasks they run at once, kept in Redis.

A sweep cut into chunks that do not match the pool it runs on ends
unbalanced: 5 equal chunks on 2 processes take 3 chunk-times, not 2.5. Each
worker main process announces its node name and pool size every
``HEARTBEAT_SECONDS``; an announcement holds for ``HEARTBEAT_TTL_SECONDS``,
so a worker killed without a goodbye drops out of the count by itself.
"""

from __future__ import annotations

import time

import redis

from . import keys

HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 3 * HEARTBEAT_SECONDS  # two missed beats are tolerated


def announce(r: redis.Redis, node: str, slots: int) -> None:
    expires = int((time.time() + HEARTBEAT_TTL_SECONDS) * 1000)
    pipe = r.pipeline()
    pipe.zadd(keys.worker_heartbeats(), {node: expires})
    pipe.hset(keys.worker_slots(), node, max(int(slots), 1))
    pipe.execute()


def leave(r: redis.Redis, node: str) -> None:
    pipe = r.pipeline()
    pipe.zrem(keys.worker_heartbeats(), node)
    pipe.hdel(keys.worker_slots(), node)
    pipe.execute()


def live_slots(r: redis.Redis) -> dict[str, int]:
    """Node name -> pool size of every worker whose heartbeat still holds."""
    now = int(time.time() * 1000)
    pipe = r.pipeline(transaction=False)  # one round trip: a sweep asks this before it starts
    pipe.zrangebyscore(keys.worker_heartbeats(), "-inf", now)
    pipe.zrangebyscore(keys.worker_heartbeats(), now + 1, "+inf")
    pipe.hgetall(keys.worker_slots())
    lapsed, nodes, sizes = pipe.execute()
    if lapsed:
        pipe = r.pipeline()
        pipe.zrem(keys.worker_heartbeats(), *lapsed)
        pipe.hdel(keys.worker_slots(), *lapsed)
        pipe.execute()
    return {node: int(sizes.get(node) or 1) for node in nodes}

"""Which workers are alive and how many tasks they run at once, kept in Redis.

A sweep cut into chunks that do not match the pool it runs on ends
unbalanced: 5 equal chunks on 2 processes take 3 chunk-times, not 2.5. Each
worker main process announces its node name and pool size every
``HEARTBEAT_SECONDS``; an announcement holds for ``HEARTBEAT_TTL_SECONDS``,
so a worker killed without a goodbye drops out of the count by itself.

Expiry is in Redis' clock (``TIME``), never a host's: a worker whose wall
clock is 30 s slow would otherwise announce itself already expired, and one
30 s fast would be counted for 30 s after it died.
"""

from __future__ import annotations

import redis

from . import keys

HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 3 * HEARTBEAT_SECONDS  # two missed beats are tolerated


def redis_now_ms(r: redis.Redis) -> int:
    return _ms(*r.time())


def _ms(seconds: int, micros: int) -> int:
    """Redis' TIME reply in epoch milliseconds."""
    return seconds * 1000 + micros // 1000


def announce(r: redis.Redis, node: str, slots: int) -> None:
    expires = redis_now_ms(r) + int(HEARTBEAT_TTL_SECONDS * 1000)
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
    pipe = r.pipeline(transaction=False)  # one round trip: a sweep asks this before it starts
    pipe.time()
    pipe.zrange(keys.worker_heartbeats(), 0, -1, withscores=True)
    pipe.hgetall(keys.worker_slots())
    served, beats, sizes = pipe.execute()
    now = _ms(*served)
    lapsed = [node for node, expires in beats if expires <= now]
    nodes = [node for node, expires in beats if expires > now]
    if lapsed:
        pipe = r.pipeline()
        pipe.zrem(keys.worker_heartbeats(), *lapsed)
        pipe.hdel(keys.worker_slots(), *lapsed)
        pipe.execute()
    return {node: int(sizes.get(node) or 1) for node in nodes}

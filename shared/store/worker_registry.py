"""Which workers are alive, how many tasks they run at once, and what they refuse, kept in Redis.

A sweep cut into chunks that do not match the pool it runs on ends
unbalanced: 5 equal chunks on 2 processes take 3 chunk-times, not 2.5. Each
worker main process announces its node name and pool size every
``HEARTBEAT_SECONDS``; an announcement holds for ``HEARTBEAT_TTL_SECONDS``,
so a worker killed without a goodbye drops out of the count by itself, and a
sweep whose workers all died notices within seconds (orchestrator/sweeps/worker_watch.py).

Expiry is in Redis' clock (``TIME``), never a host's: a worker whose wall
clock is 30 s slow would otherwise announce itself already expired, and one
30 s fast would be counted for 30 s after it died.

Two records say why a worker does no work: the sweeps it refuses because its
code differs from their orchestrator's (``refuse``), and why a worker exited
before it was ready (``record_start_failure``: a user module that does not
import). Both are JSON or plain text, shown to the user, never executed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis

from . import keys

HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TTL_SECONDS = 3 * HEARTBEAT_SECONDS  # two missed beats are tolerated
WORKER_RECORD_TTL_SECONDS = 86_400  # refusals and start failures of a worker that vanished: a day
START_FAILURE_SHOWN_SECONDS = 3_600  # older start failures are not shown (the farm has moved on)
ERROR_CHARS = 2_000  # of a start failure's error, kept


def redis_now_ms(r: redis.Redis) -> int:
    return _ms(*r.time())


def _ms(seconds: int, micros: int) -> int:
    """Redis' TIME reply in epoch milliseconds."""
    return seconds * 1000 + micros // 1000


def announce(r: redis.Redis, node: str, slots: int, *, arriving: bool = False) -> None:
    """``node`` is alive with ``slots`` pool processes for ``HEARTBEAT_TTL_SECONDS``.
    ``arriving`` (its first beat): it forgets what a previous start of the same node
    refused or failed with, since it may run other code now."""
    expires = redis_now_ms(r) + int(HEARTBEAT_TTL_SECONDS * 1000)
    pipe = r.pipeline()
    pipe.zadd(keys.worker_heartbeats(), {node: expires})
    pipe.hset(keys.worker_slots(), node, max(int(slots), 1))
    if arriving:
        pipe.delete(keys.worker_refusals(node))
        pipe.hdel(keys.worker_start_failures(), node)
    pipe.execute()


def leave(r: redis.Redis, node: str) -> None:
    pipe = r.pipeline()
    pipe.zrem(keys.worker_heartbeats(), node)
    pipe.hdel(keys.worker_slots(), node)
    pipe.delete(keys.worker_refusals(node))
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


def _sweep_field(run_id: str, attempt: int) -> str:
    return f"{run_id}/{int(attempt)}"


def refuse(r: redis.Redis, node: str, run_id: str, attempt: int, reason: str) -> None:
    """``node`` will not run attempt ``attempt`` of sweep ``run_id``: its code differs."""
    key = keys.worker_refusals(node)
    pipe = r.pipeline()
    pipe.hset(key, _sweep_field(run_id, attempt), reason)
    pipe.expire(key, WORKER_RECORD_TTL_SECONDS)
    pipe.execute()


def refusals(r: redis.Redis, nodes: Sequence[str], run_id: str, attempt: int) -> dict[str, str]:
    """Of ``nodes``, those refusing attempt ``attempt`` of sweep ``run_id`` -> why."""
    if not nodes:
        return {}
    pipe = r.pipeline(transaction=False)
    for node in nodes:
        pipe.hget(keys.worker_refusals(node), _sweep_field(run_id, attempt))
    return {node: str(why) for node, why in zip(nodes, pipe.execute(), strict=True) if why}


def record_start_failure(r: redis.Redis, node: str, error: str, imports: Sequence[str]) -> None:
    """``node`` exits before it is ready, because of ``error`` (importing ``imports``, say)."""
    entry = json.dumps(
        {"error": error[:ERROR_CHARS], "imports": list(imports), "at_ms": redis_now_ms(r)}
    )
    pipe = r.pipeline()
    pipe.hset(keys.worker_start_failures(), node, entry)
    pipe.expire(keys.worker_start_failures(), WORKER_RECORD_TTL_SECONDS)
    pipe.execute()


def start_failures(r: redis.Redis) -> list[tuple[str, float, str]]:
    """(node, seconds ago, error) of the workers that failed to start in the last
    ``START_FAILURE_SHOWN_SECONDS``, the latest first; an entry that is not what
    ``record_start_failure`` writes is skipped (it is shown, never executed)."""
    pipe = r.pipeline(transaction=False)
    pipe.time()
    pipe.hgetall(keys.worker_start_failures())
    served, entries = pipe.execute()
    now = _ms(*served)
    found = []
    for node, raw in entries.items():
        try:
            entry = json.loads(raw)
            error, at_ms = str(entry["error"]), int(entry["at_ms"])
        except (ValueError, TypeError, KeyError):
            continue
        age = max(now - at_ms, 0) / 1000
        if age <= START_FAILURE_SHOWN_SECONDS:
            found.append((str(node), age, error))
    return sorted(found, key=lambda f: f[1])

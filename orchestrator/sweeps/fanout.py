"""Cutting a sweep's variants into chunks and submitting them as Celery tasks.

Chunk size: a Celery task costs about ``TASK_OVERHEAD_SECONDS`` (publish,
deliver, ack, result) on top of its work, so a chunk must run at least
``TASK_OVERHEAD_SECONDS / MAX_OVERHEAD_FRACTION`` seconds for the overhead
to stay under 3 %. A variant's run time is estimated from the frame's length
(``SECONDS_PER_STRATEGY_CALL`` per strategy interval plus
``SECONDS_PER_TICK`` per minute, measured on the demo strategies); the
smallest chunk that reaches the target is used, so the work still spreads
over as many workers as possible. ``BTFARM_CHUNK_SIZE`` or
``Walker.run(..., chunk_size=N)`` overrides it.

Task ids are deterministic (run id + attempt + chunk index), so a
redelivered chunk is the same task; a resume (attempt 2, 3...) submits new
tasks for the variants still missing.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import uuid
from collections.abc import Sequence

import numpy as np
import redis
from celery import Celery

from btfarm.orchestrator.state_client import state
from btfarm.shared.errors import UsageError
from btfarm.shared.fingerprint import btfarm_version
from btfarm.shared.frames import frame_bounds
from btfarm.shared.intervals import interval_ms
from btfarm.shared.payloads import Chunk, Variant
from btfarm.shared.schemas import FrameSchema, StrategySchema
from btfarm.shared.settings import get_settings
from btfarm.shared.store import worker_registry
from btfarm.shared.store.connection import connect_url
from btfarm.shared.variant_space import VariantSpace
from btfarm.workers.app import CHUNK_TASK, TASK_QUEUE, chunk_title

TASK_OVERHEAD_SECONDS = 0.003  # publish + deliver + ack of one task on Redis
MAX_OVERHEAD_FRACTION = 0.03  # overhead allowed per task, of its run time
MIN_TASK_SECONDS = TASK_OVERHEAD_SECONDS / MAX_OVERHEAD_FRACTION  # 0.1 s of work per task
SECONDS_PER_TICK = 1e-6  # engine cost per 1m candle of the frame, without strategy calls
SECONDS_PER_STRATEGY_CALL = 5e-6  # one get_signal call of a simple strategy (demo sma-cross)
SECONDS_PER_VECTOR_TICK = (
    6.5e-9  # vectorised form, per 1m candle (demo sma-cross: ~3.3 ms a year variant, 2026-12-03)
)


def estimate_variant_seconds(frame: FrameSchema, strategy: StrategySchema) -> float:
    """A lower bound on one variant's backtest time over ``frame``."""
    start, end = frame_bounds(frame)
    minutes = max((end - start) / 60_000, 1.0)
    if strategy.get_signals is not None:  # the vectorised form: no call per throttle bucket
        return minutes * SECONDS_PER_VECTOR_TICK
    calls = minutes / max(interval_ms(strategy.interval) / 60_000, 1.0)
    return minutes * SECONDS_PER_TICK + calls * SECONDS_PER_STRATEGY_CALL


def chunk_size_for(
    variant_seconds: float, override: int | None = None, variants: int = 0, slots: int = 0
) -> int:
    """Variants per task: ``override`` (or BTFARM_CHUNK_SIZE) when set; else, for
    ``variants`` over ``slots`` pool processes, the size that cuts them into a
    multiple of ``slots`` near-equal chunks, each (when the work allows) at
    least ``MIN_TASK_SECONDS`` long; with no slots known, the smallest size
    whose estimated run time reaches ``MIN_TASK_SECONDS``."""
    chosen = override if override else get_settings().chunk_size
    if chosen:
        if chosen < 1:
            raise UsageError(f"chunk size must be at least 1, got {chosen}")
        return int(chosen)
    smallest = max(1, math.ceil(MIN_TASK_SECONDS / max(variant_seconds, 1e-9)))
    if slots < 1 or variants < 1:
        return smallest
    chunks = math.ceil(max(1, variants // smallest) / slots) * slots
    return math.ceil(variants / min(chunks, variants))


def overhead_fraction(chunk_size: int, variant_seconds: float) -> float:
    """The share of a task's time that is Celery overhead, for this chunk size."""
    return TASK_OVERHEAD_SECONDS / (TASK_OVERHEAD_SECONDS + chunk_size * variant_seconds)


class ChunkPlan(Sequence[Chunk]):
    """The chunks of one attempt, each built when it is asked for: a sweep of a million
    variants holds the variants' indices, not a million ``Variant`` objects."""

    def __init__(self, fields: dict, variants: Sequence[Variant], size: int) -> None:
        self._fields, self._variants = fields, variants
        # a sweep's variants (its plan is stored) travel as indices; any other list as Variants
        self._indices = _indices_of(variants)
        self._built: dict[
            int, list[Variant]
        ] = {}  # the last blocks built: chunk i steals block i + 1
        count = math.ceil(len(variants) / size) if len(variants) else 0
        base, extra = divmod(len(variants), count) if count else (0, 0)
        self._bounds, start = [], 0
        for index in range(count):
            end = start + base + (1 if index < extra else 0)
            self._bounds.append((start, end))
            start = end

    def __len__(self) -> int:
        return len(self._bounds)

    def size(self, index: int) -> int:
        start, end = self._bounds[index]
        return end - start

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self._bounds)
        if index < 0:
            index += count
        if self._indices is not None:
            own = self._indices[slice(*self._bounds[index])].tolist()
            steal_indices = (
                self._indices[slice(*self._bounds[(index + 1) % count])][::-1].tolist()
                if count > 1
                else []
            )
            return Chunk.model_construct(
                **self._fields,
                variants=[],
                steal=[],
                indices=own,
                steal_indices=steal_indices,
                chunk_id=str(index),
            )
        steal = self._block((index + 1) % count)[::-1] if count > 1 else []
        return Chunk.model_construct(
            **self._fields,
            variants=self._block(index),
            chunk_id=str(index),
            steal=steal,
            indices=[],
            steal_indices=[],
        )

    def _block(self, index: int) -> list[Variant]:
        """Chunk ``index``'s own variants; the window builds chunks in order, so the block
        a chunk steals from is the next one's own, built once for both."""
        block = self._built.get(index)
        if block is None:
            start, end = self._bounds[index]
            block = list(self._variants[start:end])
            if len(self._built) >= 2:
                del self._built[next(iter(self._built))]
            self._built[index] = block
        return block


def make_chunks(
    run_id: str,
    walker_name: str,
    symbol: str,
    exchange_name: str,
    frame_name: str,
    variants: Sequence[Variant],
    size: int,
    attempt: int = 1,
    code: dict[str, str] | None = None,
) -> ChunkPlan:
    """As few chunks as hold at most ``size`` variants each, their sizes
    differing by one at most (53 at 27 a chunk: 27 + 26, not 27 + 27 + ...).

    Each chunk may steal the next one's variants, from its end: a worker that
    ends early (a faster machine, a core shared with the orchestrator) helps
    the one still busy instead of idling while the sweep waits for it.

    ``code``: the orchestrator's source hash of each strategy (btfarm.shared.payloads.Chunk.code)."""
    fields = {
        "run_id": run_id,
        "walker_name": walker_name,
        "symbol": symbol,
        "exchange_name": exchange_name,
        "frame_name": frame_name,
        "attempt": attempt,
        "code": dict(code or {}),
        "btfarm_version": btfarm_version(),
    }
    return ChunkPlan(fields, variants, size)


def _indices_of(variants: Sequence[Variant]) -> np.ndarray | None:
    """The sweep indices of ``variants`` when it is a sweep's space or a part of it, else None."""
    if isinstance(variants, VariantSpace):
        return np.arange(len(variants), dtype=np.int64)
    if isinstance(variants, Subset):
        return np.asarray(variants.indices, dtype=np.int64)
    return None


class Subset(Sequence[Variant]):
    """The variants of ``space`` at ``indices`` (a resume's missing ones), built when asked for."""

    def __init__(self, space: Sequence[Variant], indices: Sequence[int] | np.ndarray) -> None:
        self._space, self._indices = space, indices

    @property
    def indices(self) -> Sequence[int] | np.ndarray:
        return self._indices

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._space[int(i)] for i in self._indices[index]]
        return self._space[int(self._indices[index])]


def live_slots(r: redis.Redis) -> int:
    """Pool processes of the workers alive now (0 when none announced itself
    or Redis cannot say: the caller falls back to the size-only rule)."""
    try:
        return sum(worker_registry.live_slots(r).values())
    except redis.RedisError:
        return 0


def task_id(chunk: Chunk, index: int) -> str:
    if chunk.attempt == 1:
        return f"{chunk.run_id}-{index:05d}"
    return f"{chunk.run_id}-a{chunk.attempt}-{index:05d}"


def withdraw(r: redis.Redis, run_id: str) -> int:
    """Take this sweep's chunk messages still queued out of the broker's queue (Celery's
    Redis transport keeps them as JSON in the list named after the queue); returns how many.
    Deleting is allowed to a Redis out of memory, so a sweep that failed on a full Redis
    leaves nothing queued behind."""
    withdrawn = 0
    for raw in r.lrange(TASK_QUEUE, 0, -1):
        try:
            task = json.loads(raw).get("headers", {}).get("id", "")
        except (ValueError, AttributeError):
            continue  # not a Celery message: not ours to touch
        if isinstance(task, str) and task.startswith(f"{run_id}-"):
            withdrawn += r.lrem(TASK_QUEUE, 1, raw.decode() if isinstance(raw, bytes) else raw)
    return withdrawn


def withdraw_queued(r: redis.Redis, run_id: str) -> int:
    """``withdraw`` from the broker's own Redis: ``r`` (the state store's client) unless
    ``BTFARM_BROKER_URL`` names another server."""
    settings = get_settings()
    broker = settings.broker_url
    if not broker or broker == (settings.state_url or settings.redis_url):
        return withdraw(r, run_id)
    client = connect_url(broker, attempts=1)
    try:
        return withdraw(client, run_id)
    finally:
        client.close()


def variants_repr(chunk: Chunk) -> str:
    """What Flower shows of a chunk's variants: their names, or (by index) their indices."""
    if chunk.by_index:
        shown = ", ".join(map(str, chunk.indices[:20])) + (
            " ..." if len(chunk.indices) > 20 else ""
        )
        return f"variants={len(chunk.indices)} (by index in sweep {chunk.run_id}): {shown}"
    return f"variants={len(chunk.variants)}: {', '.join(v.strategy_name for v in chunk.variants)}"


_broker_clients: dict[str, redis.Redis] = {}  # broker URL -> a client (when not the state's)
_broker_lock = threading.Lock()


def broker_client(state_client: redis.Redis) -> redis.Redis:
    """A client of the broker's Redis: ``state_client`` when the broker is the state store
    (``BTFARM_BROKER_URL`` unset or the same server), else one kept per broker URL."""
    settings = get_settings()
    broker = settings.broker_url or settings.redis_url
    if broker == (settings.state_url or settings.redis_url):  # both None: the embedded server
        return state_client
    assert broker is not None  # protocol: differing URLs, so the broker's is set
    with _broker_lock:
        client = _broker_clients.get(broker)
        if client is None:
            client = _broker_clients[broker] = connect_url(broker)
        return client


def submit(
    app: Celery,
    chunks: Sequence[Chunk],
    ids: Sequence[str] | None = None,
    client: redis.Redis | None = None,
) -> list[str]:
    """Publish every chunk (task ids ``ids``, default ``task_id``) in one round trip on
    ``client`` (default: the broker's, ``broker_client``); returns the task ids.

    Each message is the one ``app.send_task`` would publish: Celery builds its headers and
    body (``create_task_message``), the body is base64 of its JSON (the Redis transport's
    ``body_encoding``), and the envelope is the Redis transport's, LPUSHed to the queue's
    list as kombu does; the messages of one call go in one pipeline. ``send_task`` took
    about as much of the orchestrator's CPU per chunk as its 50 results (bench/reach.py):
    its routing, retry and per-message round trip serve nothing a chunk needs, and
    kombu's producer pool made a Redis client per publish. No limits in the message:
    each worker enforces its own BTFARM_TASK_*_TIME_LIMIT (left out, Celery copies in the
    limits of the task as this process registered it: its settings, frozen when the task
    object was first used here). Flower names the task ``chunk_title``."""
    out, messages = [], []
    create = app.amqp.create_task_message
    for index, chunk in enumerate(chunks):
        tid = ids[index] if ids is not None else task_id(chunk, index)
        headers, properties, body, _ = create(
            tid,
            CHUNK_TASK,
            (),
            chunk.model_dump(mode="json"),
            time_limit=None,
            soft_time_limit=None,
            ignore_result=None,
            shadow=chunk_title(chunk),
            argsrepr="()",
            kwargsrepr=f"walker={chunk.walker_name} symbol={chunk.symbol} {variants_repr(chunk)}",
        )
        messages.append(
            json.dumps(
                {
                    "body": base64.b64encode(json.dumps(body).encode()).decode("ascii"),
                    "content-encoding": "utf-8",
                    "content-type": "application/json",
                    "headers": headers,
                    "properties": {
                        **properties,
                        "delivery_mode": 2,
                        "priority": 0,
                        "body_encoding": "base64",
                        "delivery_info": {"exchange": "", "routing_key": TASK_QUEUE},
                        "delivery_tag": str(uuid.uuid4()),
                    },
                }
            )
        )
        out.append(tid)
    if messages:
        pipe = (client or broker_client(state())).pipeline(transaction=False)
        for message in messages:
            pipe.lpush(TASK_QUEUE, message)  # the queue's list: workers BRPOP its other end
        pipe.execute()
    return out

"""The farm's task ``btfarm.backtest_chunk`` (the scheduled walker run is a beat task of
orchestrator/schedule.py).

A chunk task backtests its variants one after another on this worker's
cached candles, in batches: each round trip to Redis (a Lua script,
turn_script.py) stores the results of the batch just run as one columnar
block (shared/result_block.py) in the sweep's results (or, when some were
collected already or the walker was stopped, pushes it to the sweep's inbox
list for the orchestrator) and checks, claims and marks the next batch. A batch holds about ``BATCH_SECONDS`` of work at
the variants' measured cost (in this chunk, else in the sweep's earlier chunks
in this process; one variant before any is measured, and a long variant
alone): variants of a few milliseconds cannot afford a round trip each. It rings the sweep's doorbell (the list the orchestrator BLPOPs) at
most every ``RING_SECONDS`` and when the chunk ends, so the orchestrator
drains results in batches instead of waking per variant. It returns what
happened to each variant as the task result (Flower shows it).

Work stealing: once its own variants are done, a chunk takes those of
``Chunk.steal`` (the next chunk's, from that chunk's end) that no chunk has
claimed yet. Each variant is claimed just before it runs
(``keys.walker_claims``), so it runs in one chunk only, and a chunk that ends
early (a faster machine, a core shared with Redis or the orchestrator) helps
a busy one instead of leaving the sweep waiting for it. Owner and stealer
claim one list from opposite ends, so the first variant found taken means
the rest of that list is taken too.

It stops cooperatively (DESIGN: never ``terminate``): a chunk taken from the
queue after the walker was stopped, or after its sweep ended, reports its
variants "stopped" without running them; a running one checks the walker's
stop flag before each batch (in its turn script), between the variants of a batch
and between engine steps (its poller).

A worker whose code differs from the orchestrator's (its btfarm version, or
the source of a strategy the chunk names: ``Chunk.code``) runs none of the
chunk: before its first turn (so it claims and steals nothing, and counts no
delivery) it records that it refuses the sweep (``keys.worker_refusals``),
puts the chunk back at the end of the queue for another worker, and rests
``REFUSED_PAUSE_SECONDS`` before it takes the next task, so it does not spin
on a sweep it will never run. The orchestrator ends the sweep as interrupted
when every live worker refuses it (orchestrator/sweeps/worker_watch.py). A chunk of
an attempt that no longer holds the lease is dropped instead of handed back.

Failures are per variant (STYLE 9, variant_run.py): a strategy missing from this worker's
registry, an exception inside it (``MemoryError`` included: each pool child
runs under ``RLIMIT_DATA`` = ``BTFARM_WORKER_MAX_MEMORY_MB``, see startup.py),
or the soft time limit make that variant "failed" with the reason, and the
chunk goes on (or, for the time limit, reports the rest as failed). Only a
lost Redis connection fails the task, which Celery retries.

Crash-only (STYLE 12): a chunk is delivered at least once. Every delivery
counts itself in ``keys.chunk_task(task_id)`` and marks the variants it is
running; a redelivery finding one variant marked knows that variant killed
its worker (``os._exit``, a signal, the OOM killer) and, past
``BTFARM_TASK_MAX_RETRIES`` such deaths, reports it failed instead of running
it again; finding a batch of several marked, it runs each of them alone, so
the next death names its variant. A worker killed mid-batch loses that
batch's results (at most ``BATCH_SECONDS`` of work), which the redelivery
runs again. A redelivery skips variants already collected. A chunk whose
attempt no longer holds the sweep's lease (``keys.walker_lease``: its
orchestrator died, or a resume took over) stops at once, reporting nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import redis
from celery import Task
from celery.exceptions import Ignore, SoftTimeLimitExceeded

from btfarm.shared.errors import ChunkFailed, NotRegisteredError
from btfarm.shared.payloads import Chunk, Variant, result_record
from btfarm.shared.registry import get_strategy
from btfarm.shared.result_block import pack
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys, variant_marks, worker_registry
from btfarm.shared.store.stop_flags import StopPoller

from .app import CHUNK_TASK, TASK_QUEUE, app, chunk_title
from .plan_variants import bases_of, chunk_variants
from .startup import worker_client
from .turn_script import TurnKeys, run_turn
from .variant_run import code_mismatch, run_variant, version_mismatch

log = logging.getLogger("btfarm.workers")

REFUSED_PAUSE_SECONDS = (
    1.0  # after handing a chunk back, this pool process takes nothing for this long
)

PROGRESS_EVERY_SECONDS = 0.5  # at most one PROGRESS task state (seen in Flower) per this interval
# Each record is pushed as its variant ends, but the orchestrator is woken (the doorbell)
# at most this often per chunk: a wake per 2 ms variant would take a core from the workers.
RING_SECONDS = 0.05
SUMMARY_NOT_DONE = 20  # failed or stopped variants a task result names (the rest are counted)
OWN, STOLEN = 0, 1  # the two lists of a chunk: its own variants, then those it may steal
# Short variants are claimed, run and pushed several to a round trip: a batch holds about this
# much work (measured on the chunk's variants so far); a worker killed mid-batch loses at most
# that, which the chunk's redelivery runs again.
BATCH_SECONDS = 0.05
MAX_BATCH = 64  # variants claimed in one turn at most
KEPT_MEANS = (
    8  # sweeps whose mean variant time this process keeps (for the next chunk's first batch)
)

_means: dict[str, float] = {}  # run_id -> mean seconds a variant of it took in this process


def _worker_name(node: str | None = None) -> str:
    """``NODE:PID``: the Celery node name (what Flower and ``inspect`` show) and the pool process."""
    return f"{node or socket.gethostname()}:{os.getpid()}"


def crash_reason(deaths: int) -> str:
    settings = get_settings()
    return (
        f"its worker process died {deaths} times while running it (killed by a signal, "
        f"os._exit, the OOM killer or the hard time limit); not retried after "
        f"BTFARM_TASK_MAX_RETRIES={settings.task_max_retries}"
    )


class _ChunkTask(Task):
    """Reads its retry cap from the settings when it retries, not at import: a misspelt
    BTFARM_* variable must fail as a one-line error of the command, not as an import."""

    @property
    def max_retries(self) -> int:
        return get_settings().task_max_retries


@app.task(
    name=CHUNK_TASK,
    bind=True,
    base=_ChunkTask,
    autoretry_for=(redis.ConnectionError,),
    retry_backoff=True,
)
def backtest_chunk(self, **payload: Any) -> dict[str, Any]:
    chunk = Chunk.model_validate(payload)
    r = worker_client()
    worker = _worker_name(self.request.hostname)
    lists = chunk_variants(r, chunk)
    if lists is None:  # its plan is gone (Redis came back empty): nobody collects this attempt
        return chunk_summary(chunk, [])
    own, stolen = lists
    refusal = chunk_refusal(chunk, worker, [*bases_of(own), *bases_of(stolen)])
    if refusal is not None:  # before the first turn: nothing claimed, stolen or counted
        return hand_back(self, r, chunk, payload, refusal)
    results: list[dict[str, Any]] = []  # every record this delivery made (the task's summary)
    unsent: list[dict[str, Any]] = []  # those the next turn pushes, as one block
    max_retries = get_settings().task_max_retries
    deaths: dict[int, int] = {}  # variant index -> times a delivery of this task died in it
    suspects: set[int] = set()  # variants of a batch a delivery died in: each runs alone
    first_turn = bool(self.request.id)  # a delivery to count (a direct call is none)
    ring_by: float | None = None  # when the orchestrator must hear of blocks pushed unrung
    poller = StopPoller(r, "walker", chunk.symbol, chunk.walker_name)  # between a variant's steps
    turn_keys = TurnKeys(
        inbox=keys.walker_inbox(chunk.run_id),
        task_record=keys.chunk_task(self.request.id or f"{chunk.run_id}-local"),
        lease=keys.walker_lease(chunk.run_id),
        executions=keys.walker_executions(chunk.run_id),
        collected=keys.walker_collected(chunk.run_id),
        doorbell=keys.walker_doorbell(chunk.run_id),
        claims=keys.walker_claims(chunk.run_id, chunk.attempt),
        stop_flag=keys.stop_flag("walker", chunk.symbol, chunk.walker_name),
        results=keys.walker_results(chunk.run_id),
    )

    def emit(*records: dict[str, Any]) -> None:
        results.extend(records)
        unsent.extend(records)

    def turn(batch: list[Variant], part: int = OWN, expected_seconds: float = 0.0) -> list[str]:
        """Push the records made since the last turn as one block, then check, claim and mark
        ``batch``: one round trip. It rings once ``RING_SECONDS`` passed since the first unrung
        block, when the batch may well outlast that, when it tries to steal (most often the
        chunk's last turn: the other chunk got there) or when the chunk ends."""
        nonlocal ring_by, first_turn
        now = time.monotonic()
        if unsent and ring_by is None:
            ring_by = now + RING_SECONDS
        ring = ring_by is not None and (
            not batch or part == STOLEN or now + expected_seconds >= ring_by
        )
        answer = run_turn(
            r,
            turn_keys,
            attempt=chunk.attempt,
            chunk_id=chunk.chunk_id,
            stolen=part == STOLEN,
            batch=[index_of(v) for v in batch],
            skip=[index_of(v) for v in batch if deaths.get(index_of(v), 0) > max_retries],
            ring=ring,
            first_turn=first_turn,
            crashes_allowed=max_retries,
            block=pack(unsent) if unsent else None,
            block_indices=[rec["index"] for rec in unsent],
            storable=all(rec["status"] != "stopped" for rec in unsent),
        )
        if answer.died_in is not None:
            deaths[answer.died_in] = answer.deaths
        suspects.update(answer.suspects)
        first_turn = False
        unsent.clear()
        if ring:
            ring_by = None
        poller.heard(answer.statuses == ["stopped"])
        return answer.statuses

    def unclaimed(rest: list[Variant]) -> list[Variant]:
        """Of this chunk's own variants not reached, those no other chunk took (and runs)."""
        owners = variant_marks.owners(r, chunk.run_id, chunk.attempt, [index_of(v) for v in rest])
        return [v for v, owner in zip(rest, owners, strict=True) if owner in (None, chunk.chunk_id)]

    # (list, variant): a stealer claims a list from its end and its owner from its start,
    # so the first variant found taken means the rest of that list is taken too
    queue = ChunkQueue(own, stolen)
    taken_from: set[int] = set()
    # the first after PROGRESS_EVERY_SECONDS: a chunk shorter than that ends before anyone sees it
    next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
    timed = [0.0, 0]  # seconds and count of the variants this delivery ran
    known = _means.get(chunk.run_id)  # this sweep's earlier chunks here: no first batch of one
    done = 0  # variants of the queue this delivery passed
    at = 0
    try:
        while at < len(queue):
            part = queue[at][0]
            if part in taken_from:
                at += 1
                continue
            mean = timed[0] / timed[1] if timed[1] else known
            batch = next_batch(queue, at, batch_size(mean), suspects)
            statuses = turn(batch, part, (mean or 0.0) * len(batch))
            if statuses == ["stopped"]:
                reason = "walker stopped before this variant started"
                emit(
                    *(
                        result_record(v, "stopped", error=reason, worker=worker)
                        for v in unclaimed(queue.own_from(at))
                    )
                )
                break
            if statuses == ["orphaned"]:
                break  # nobody collects this attempt (its orchestrator died, or a resume took over)
            at += len(batch)
            if len(statuses) < len(batch) or "taken" in statuses:
                taken_from.add(part)  # another chunk ran or runs it, and the rest of its list
            going = []
            for variant, status in zip(batch, statuses, strict=False):
                if status == "go":
                    going.append(variant)
                elif status == "dead":
                    emit(
                        result_record(
                            variant,
                            "failed",
                            error=crash_reason(deaths[index_of(variant)]),
                            worker=worker,
                        )
                    )
            for k, variant in enumerate(going):
                if k and poller.stopped():  # claimed by this chunk, not started: stopped, unrun
                    emit(
                        *(
                            result_record(
                                v,
                                "stopped",
                                error="walker stopped before this variant started",
                                worker=worker,
                            )
                            for v in going[k:]
                        )
                    )
                    break
                done += 1
                if self.request.id and time.monotonic() >= next_progress:
                    # a result-backend write per variant would cost more than a fast variant itself
                    next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
                    self.update_state(
                        state="PROGRESS",
                        meta={
                            "walker_name": chunk.walker_name,
                            "symbol": chunk.symbol,
                            "done": done,
                            "total": len(queue),
                            "variant": variant.strategy_name,
                            "hostname": self.request.hostname,
                        },
                    )
                try:
                    started = time.monotonic()
                    record = run_variant(chunk, variant, poller.stopped, worker)
                except SoftTimeLimitExceeded:
                    reason = (
                        f"task soft time limit ({get_settings().task_soft_time_limit:g} s) reached; "
                        "raise BTFARM_TASK_SOFT_TIME_LIMIT or lower BTFARM_CHUNK_SIZE"
                    )
                    rest = queue.own_from(at)
                    emit(
                        *(
                            result_record(v, "failed", error=reason, worker=worker)
                            for v in [*going[k:], *unclaimed(rest)]
                        )
                    )
                    at = len(queue)
                    break
                timed[0] += time.monotonic() - started
                timed[1] += 1
                emit(record)
    finally:
        if unsent or ring_by is not None or first_turn:
            turn([])  # the last block, the last ring, and the running marks cleared
        if timed[1]:
            _means.pop(chunk.run_id, None)
            _means[chunk.run_id] = timed[0] / timed[1]
            while len(_means) > KEPT_MEANS:
                del _means[next(iter(_means))]
    # the records already went to the inbox; the task result only says what happened (Flower
    # shows it), and a chunk none of whose variants ran is a FAILURE Flower's filter finds
    summary = chunk_summary(chunk, results)
    if results and summary["failed"] == len(results):
        reasons = sorted({str(r.get("error"))[:300] for r in results})
        raise ChunkFailed(
            f"all {len(results)} variants of chunk {chunk.chunk_id} of sweep {chunk.run_id} "
            f"failed: {'; '.join(reasons[:3])}" + (" ..." if len(reasons) > 3 else "")
        )
    return summary


def index_of(variant: Variant) -> int:
    """``variant``'s place in its sweep: every variant a chunk runs has one (make_chunks and the
    stored plan number them)."""
    if variant.index is None:  # a malformed chunk: it fails, as a chunk none of whose variants ran
        raise ChunkFailed(
            f"variant {variant.strategy_name!r} of a chunk has no index in its sweep: build "
            "chunks with fanout.make_chunks, which numbers them"
        )
    return variant.index


def batch_size(mean_seconds: float | None) -> int:
    """Variants claimed in one turn: about ``BATCH_SECONDS`` of work at the measured mean
    (1 before any was measured), at most ``MAX_BATCH``."""
    if not mean_seconds:
        return 1
    return max(1, min(MAX_BATCH, int(BATCH_SECONDS / mean_seconds)))


class ChunkQueue(Sequence[tuple[int, Variant]]):
    """A chunk's own variants, then those it may steal, as (list, variant); a variant is read
    from its list when the chunk reaches it (plan_variants.SpaceVariants builds it then)."""

    def __init__(self, own: Sequence[Variant], stolen: Sequence[Variant]) -> None:
        self._own, self._stolen = own, stolen

    def __len__(self) -> int:
        return len(self._own) + len(self._stolen)

    def __getitem__(self, at):
        if isinstance(at, slice):
            return [self[k] for k in range(*at.indices(len(self)))]
        if at < 0:
            at += len(self)
        if at < len(self._own):
            return OWN, self._own[at]
        return STOLEN, self._stolen[at - len(self._own)]

    def own_from(self, at: int) -> list[Variant]:
        """The chunk's own variants from place ``at`` of the queue on (none of the others)."""
        return list(self._own[at:]) if at < len(self._own) else []


def next_batch(
    queue: Sequence[tuple[int, Variant]], at: int, size: int, suspects: set[int]
) -> list[Variant]:
    """Up to ``size`` variants of ``queue`` from ``at``, all of one list; a suspect (a variant
    of a batch its worker died in) goes alone, so a second death names it."""
    part, first = queue[at]
    batch = [first]
    if first.index in suspects:
        return batch
    for other_part, variant in queue[at + 1 : at + size]:
        if other_part != part or variant.index in suspects:
            break
        batch.append(variant)
    return batch


def chunk_refusal(chunk: Chunk, worker: str, bases: Sequence[str]) -> str | None:
    """Why this worker must run none of ``chunk``: its btfarm, or the source of a strategy
    the chunk names, differs from the orchestrator's (a strategy not registered here is
    no refusal: its variants fail saying how to start the worker); None when it may."""
    other_version = version_mismatch(chunk, worker)
    if other_version:
        return other_version
    needed_by = f"btfarm.backtest_chunk of walker {chunk.walker_name!r}"
    for base in dict.fromkeys(bases):
        try:
            strategy = get_strategy(base, needed_by)
        except NotRegisteredError:
            continue
        mismatch = code_mismatch(chunk, base, strategy, worker)
        if mismatch:
            return mismatch
    return None


def hand_back(
    task: Any, r: redis.Redis, chunk: Chunk, payload: dict[str, Any], reason: str
) -> dict[str, Any]:
    """Refuse ``chunk`` untouched: record the refusal for the orchestrator, put the chunk back at
    the end of the queue (the same task id) for a worker that runs the orchestrator's code, rest,
    and end with no task state (Celery's ``Ignore``: the copy's worker writes it). A chunk whose
    attempt lost the lease (the sweep ended) is dropped instead. A direct call (no message)
    returns a summary with nothing run."""
    node = task.request.hostname or socket.gethostname()
    if task.request.id and r.get(keys.walker_lease(chunk.run_id)) != str(chunk.attempt):
        raise Ignore()  # nobody collects this attempt: the turn script would say "orphaned"
    worker_registry.refuse(r, node, chunk.run_id, chunk.attempt, reason)
    if not task.request.id:
        return {**chunk_summary(chunk, []), "refused": reason}
    task.app.send_task(
        CHUNK_TASK,
        kwargs=payload,
        task_id=task.request.id,
        queue=TASK_QUEUE,
        time_limit=None,
        soft_time_limit=None,
        argsrepr="()",  # (fanout.submit's reasons)
        shadow=chunk_title(chunk),
        kwargsrepr=f"walker={chunk.walker_name} symbol={chunk.symbol} variants={chunk.own_count()} "
        f"(handed back by {node}: its code differs)",
    )
    log.warning("chunk %s of sweep %s handed back: %s", chunk.chunk_id, chunk.run_id, reason)
    time.sleep(REFUSED_PAUSE_SECONDS)  # holding no message: its copy is already queued
    raise Ignore()


def chunk_summary(chunk: Chunk, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The task's result (Flower shows it): how its variants ended, the indices it reported in
    the order it did, and the first ``SUMMARY_NOT_DONE`` that did not finish, by name."""
    counts = {"ok": 0, "failed": 0, "rejected_only": 0, "stopped": 0}
    for r in results:
        if r["status"] == "done":
            stats = r.get("stats") or {}
            only_rejected = not stats.get("total_signals") and stats.get("rejected_signals")
            counts["rejected_only" if only_rejected else "ok"] += 1
        else:
            counts[r["status"]] += 1
    # indices, not names: a chunk's result stays in Redis a day, and a million names would be 50 MB
    others = [
        {
            "strategy_name": r["strategy_name"],
            "status": r["status"],
            "error": str(r.get("error"))[:200],
        }
        for r in results
        if r["status"] != "done"
    ]
    return {
        "run_id": chunk.run_id,
        "symbol": chunk.symbol,
        "walker_name": chunk.walker_name,
        **counts,
        "ran": [r["index"] for r in results],
        "not_done": others[:SUMMARY_NOT_DONE],
        "not_done_more": max(len(others) - SUMMARY_NOT_DONE, 0),
    }

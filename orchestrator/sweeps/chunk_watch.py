"""Watching a sweep's chunk tasks when results stop arriving.

Celery redelivers a chunk whose pool child died (``acks_late``,
``task_reject_on_worker_lost``), but not one whose whole worker died: that
message waits in the broker for the visibility timeout (an hour). Nor does it
redeliver a chunk killed by the hard time limit (Celery records a failure).
So when no result arrived for ``STALL_SECONDS`` the walker asks, for each
chunk that still owes variants:

- FAILURE (hard time limit, retries exhausted): its missing variants fail,
  with the task's error as the reason;
- STARTED / PROGRESS on a worker that no longer answers a ping: its missing
  variants are submitted again as a new task (the old one, if it is ever
  restored, finds its results collected, or its attempt's lease gone);
- SUCCESS with variants missing (a chunk that lost the lease while Redis was
  away): submitted again too;
- anything else (queued, running on a live worker): wait.

A chunk owes the variants it claimed (``keys.walker_claims``) and those of
its own that no chunk claimed; a variant another chunk stole is that
chunk's. A resubmitted chunk keeps its ``chunk_id``, so it may run what the
dead one claimed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import redis
from celery import Celery

from btfarm.orchestrator.sweeps import fanout
from btfarm.orchestrator.sweeps.pending import Pending
from btfarm.shared.payloads import Chunk, Variant, result_record
from btfarm.shared.store import variant_marks
from btfarm.workers.tasks import index_of

STALL_SECONDS = 3.0  # no result this long: look at the chunks that still owe variants
PING_TIMEOUT_SECONDS = 1.0  # for a worker named by a started chunk to answer


class ChunkWatch:
    """The chunks of one attempt of a sweep and what each still owes."""

    def __init__(
        self,
        app: Celery,
        r: redis.Redis,
        chunks: Sequence[Chunk],
        ids: Sequence[str],
        space: Sequence[Variant] | None = None,
    ) -> None:
        self.app = app
        self._r = r
        self._space = (
            space  # the sweep's variants by index: a chunk sent by index names its own by it
        )
        self.chunks: dict[str, Chunk] = dict(zip(ids, chunks, strict=True))
        self.resubmitted = 0

    def replace(self, chunks: Sequence[Chunk], ids: Sequence[str]) -> None:
        """Watch these chunks instead (a sweep resubmitted after Redis lost it)."""
        self.chunks = dict(zip(ids, chunks, strict=True))

    def add(self, chunks: Sequence[Chunk], ids: Sequence[str]) -> None:
        """Watch these too (just submitted by the window)."""
        self.chunks.update(zip(ids, chunks, strict=True))

    def forget_done(self, pending: Pending) -> None:
        """Stop watching chunks none of whose variants is pending (what a long sweep
        would otherwise hold until its first stall)."""
        for tid, chunk in list(self.chunks.items()):
            if not pending.any_of(chunk.all_indices()):
                del self.chunks[tid]

    def check(
        self,
        pending: Pending,
        ping: Callable[[str], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Resubmit orphaned chunks; failure records for the variants of failed ones."""
        ping = ping or self._ping
        failed: list[dict[str, Any]] = []
        for tid, chunk in list(self.chunks.items()):
            if not pending.any_of(chunk.all_indices()):
                del self.chunks[tid]
                continue
            own_list, steal_list = self._lists(chunk)
            waiting = [v for v in (*own_list, *steal_list) if v.index in pending]
            if not waiting:
                del self.chunks[tid]
                continue
            own, stolen = self._owed(chunk, waiting)
            owed = own + stolen
            if not owed:  # another chunk runs them; this one stays watched: it may steal one yet
                continue
            state, info = task_state(self.app, tid)
            if state == "FAILURE":
                del self.chunks[tid]
                reason = f"task {tid} failed: {failure_text(info)}"
                failed += [result_record(v, "failed", error=reason) for v in owed]
            elif state == "SUCCESS" or (
                state in ("STARTED", "PROGRESS")
                and isinstance(info, dict)
                and isinstance(info.get("hostname"), str)
                and info["hostname"]
                and not ping(info["hostname"])
            ):
                del self.chunks[tid]
                self._resubmit(tid, chunk, own, stolen)
        return failed

    def _lists(self, chunk: Chunk) -> tuple[list[Variant], list[Variant]]:
        """The chunk's own variants and those it may steal, as Variants."""
        if not chunk.by_index:
            return chunk.variants, chunk.steal
        if self._space is None:  # protocol: run.py gives the watch its sweep's space
            raise ValueError(
                f"chunk {chunk.chunk_id} of sweep {chunk.run_id} names its variants by index "
                "and the watch was given no variant space"
            )
        return [self._space[i] for i in chunk.indices], [
            self._space[i] for i in chunk.steal_indices
        ]

    def _owed(self, chunk: Chunk, waiting: list[Variant]) -> tuple[list[Variant], list[Variant]]:
        """Of ``waiting``, what ``chunk`` owes: (its own unclaimed or claimed by it,
        the stolen ones claimed by it)."""
        mine = set(chunk.indices) if chunk.by_index else {v.index for v in chunk.variants}
        owners = variant_marks.owners(
            self._r, chunk.run_id, chunk.attempt, [index_of(v) for v in waiting]
        )
        owed = [
            v
            for v, owner in zip(waiting, owners, strict=True)
            if owner == chunk.chunk_id or (owner is None and v.index in mine)
        ]
        return [v for v in owed if v.index in mine], [v for v in owed if v.index not in mine]

    def _resubmit(self, tid: str, chunk: Chunk, own: list[Variant], stolen: list[Variant]) -> None:
        self.resubmitted += 1
        # the same chunk_id (it may run what the dead one claimed), lists kept apart: the
        # task reads a variant found taken as "the rest of its list is taken too"
        if chunk.by_index:
            again = chunk.model_copy(
                update={
                    "indices": [v.index for v in own],
                    "steal_indices": [v.index for v in stolen],
                }
            )
        else:
            again = chunk.model_copy(update={"variants": own, "steal": stolen})
        new_id = f"{tid}-r{self.resubmitted}"
        # on the broker of the store this watch reads (not whatever state() last connected to)
        fanout.submit(self.app, [again], [new_id], client=fanout.broker_client(self._r))
        self.chunks[new_id] = again

    def _ping(self, hostname: str) -> bool:
        return bool(self.app.control.ping(destination=[hostname], timeout=PING_TIMEOUT_SECONDS))


def task_state(app: Celery, tid: str) -> tuple[str, Any]:
    """(state, what the task stored with it) of task ``tid``, read as plain JSON from the
    result backend's Redis: Celery's ``AsyncResult`` would rebuild a stored exception from the
    class the record names (whatever wrote to Redis chose it) and call it. A task with
    nothing stored is PENDING; a record that is not JSON reads as UNREADABLE."""
    backend = app.backend
    raw = backend.client.get(backend.get_key_for_task(tid))
    if raw is None:
        return "PENDING", None
    try:
        meta = json.loads(raw)
    except ValueError:
        return "UNREADABLE", None
    if not isinstance(meta, dict) or not isinstance(meta.get("status"), str):
        return "UNREADABLE", None
    return meta["status"], meta.get("result")


def failure_text(info: Any) -> str:
    """A FAILURE record's exception as ``Type: message``, read from its fields as text."""
    if not isinstance(info, dict):
        return str(info)
    message = info.get("exc_message", "")
    if isinstance(message, list):
        message = message[0] if len(message) == 1 else tuple(message)
    return f"{info.get('exc_type', 'Exception')}: {message}"

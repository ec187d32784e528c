"""Collecting a sweep's variant results as workers finish them: the ``Collector``
(each result accepted once), the collect loop (stop, idle and outage rules),
and the kept BLPOP clients.

Workers store the results of each batch of variants they ran as one
columnar block (shared/result_block.py) in the sweep's results list, with a
bit per variant (shared/store/result_blocks.py), in the same round trip
that claims their next batch, when none of its variants is collected yet;
any other block (a redelivered chunk's copy, a stopped walker's) goes to the
sweep's inbox list. They ring the sweep's doorbell list at most every 50 ms;
the orchestrator BLPOPs the doorbell, reads the results list from where it
stopped and drains the inbox, so results are seen within that time
(Celery's ``ResultSet`` would poll every 0.5 s) without a wake per variant,
and counts them with numpy. An inbox block is stored here without the rows
already collected: a chunk redelivered after a worker died may push a
variant again, and the second copy is dropped, so no variant is ever
reported twice. A "stopped" row (the walker was stopped before the variant
ran) ends the variant for this run but is not stored: it is no result, and
a resume runs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import redis
from kombu.exceptions import OperationalError as BrokerError
from redis.client import NEVER_DECODE

from btfarm.orchestrator.instances import Instance
from btfarm.orchestrator.run_thread import RunThread
from btfarm.orchestrator.state_client import state
from btfarm.orchestrator.sweeps import fanout
from btfarm.orchestrator.sweeps.chunk_watch import STALL_SECONDS, ChunkWatch
from btfarm.orchestrator.sweeps.local_pool import LocalPool
from btfarm.orchestrator.sweeps.next_commands import resume_command
from btfarm.orchestrator.sweeps.pending import Pending
from btfarm.orchestrator.sweeps.submit_window import SubmitWindow
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.orchestrator.sweeps.worker_watch import WorkerWatch
from btfarm.shared import events
from btfarm.shared.errors import ConfigError, StoreUnavailable
from btfarm.shared.result_block import STATUS_CODES, ResultBlock, pack_records, unpack
from btfarm.shared.settings import get_settings, redact_url
from btfarm.shared.store import keys, result_blocks, sweep_plan
from btfarm.shared.store.connection import connect, out_of_memory
from btfarm.shared.store.stop_flags import StopPoller
from btfarm.workers.variant_run import CODE_MISMATCH

DRAIN_BATCH = 100  # records taken per round trip once one has arrived
# While more than PACED_ABOVE variants are owed, a drain that found results is followed by the
# next one DRAIN_EVERY_SECONDS later at the earliest: a drain has a cost of its own (a round
# trip, the window's top-up, the readers woken), and results that keep coming are cheaper
# taken together. Progress is seen this much later at most; a small sweep (a search's batch)
# and a sweep's last results are taken as they come.
DRAIN_EVERY_SECONDS = 0.05
PACED_ABOVE = 1000
WAIT_SECONDS = 0.5  # longest BLPOP between stop checks (results wake it at once)
STOP_GRACE_SECONDS = 3.0  # after a stop, how long to wait for running variants to report
STATUS_EVERY_SECONDS = 0.5  # how often progress is written to the instance status
LEASE_RENEW_SECONDS = 1.0  # how often the collecting walker renews keys.walker_lease
IDLE_MARGIN_SECONDS = 60.0  # default idle timeout: the task time limit plus this

log = logging.getLogger("btfarm.walker")


Accepted = tuple[ResultBlock, np.ndarray]  # a block of results, and its rows that count


class Collector:
    """The results of one sweep, each accepted once, in arrival order. ``total`` variants,
    ``name_of(index)`` their names (for messages); results come as blocks whose rows
    carry their variant's index."""

    def __init__(
        self, r: redis.Redis, run_id: str, total: int, name_of: Callable[[int], str]
    ) -> None:
        self._r = r
        self.run_id = run_id
        self._inbox = keys.walker_inbox(run_id)
        self._doorbell = keys.walker_doorbell(run_id)
        self._results = keys.walker_results(run_id)
        self._read = 0  # blocks of the results list read so far (workers store most blocks there)
        self._next_drain = 0.0  # monotonic time before which no drain starts (DRAIN_EVERY_SECONDS)
        self.pending = Pending(total, name_of)
        self.duplicates = 0

    def restart_reading(self) -> None:
        """Read the results list from its start again (Redis lost it, and it is being stored anew)."""
        self._read = 0

    @property
    def finished(self) -> bool:
        return not self.pending

    def stored(self) -> list[Accepted]:
        """Results a previous attempt of this sweep already stored (resume), now
        no longer pending; blocks still in the inbox are taken first.

        A variant an older btfarm failed because its worker ran other code ("code
        differs") has no result of this code: it stays pending and its collected bit
        is cleared, so it runs again; its new record, stored later, is the one read."""
        found: list[Accepted] = []
        while True:
            raw = self._r.execute_command("LPOP", self._inbox, DRAIN_BATCH, **{NEVER_DECODE: []})
            if not raw:
                break
            found.extend(self._accept([unpack(blob) for blob in raw], keep_stopped=False))
        total = self.pending.total
        last = np.full(
            total, -1, dtype=np.int64
        )  # the block holding each pending variant's latest row
        last_row = np.zeros(total, dtype=np.int64)
        kept: list[ResultBlock] = []
        for block in result_blocks.blocks(self._r, self.run_id):
            self._read += 1
            rows = np.flatnonzero(self.pending.owed(block.index))
            if len(rows):  # a rerun's record comes in a later block than the one it replaces
                last[block.index[rows]] = len(kept)
                last_row[block.index[rows]] = rows
                kept.append(block)
        rerun: list[int] = []
        for number, block in enumerate(kept):
            rows = np.flatnonzero(
                (last[np.clip(block.index, 0, total - 1)] == number)
                & (last_row[np.clip(block.index, 0, total - 1)] == np.arange(len(block)))
                & self.pending.owed(block.index)
            )
            other_code = [row for row in rows if ran_other_code(block, int(row))]
            if other_code:
                rerun += [int(block.index[row]) for row in other_code]
                rows = rows[~np.isin(rows, other_code)]
            if len(rows):
                self.pending.discard_many(block.index[rows])
                found.append((block, rows))
        if rerun:
            pipe = self._r.pipeline(transaction=False)
            for index in rerun:
                pipe.setbit(keys.walker_collected(self.run_id), index, 0)
            pipe.execute()
            log.warning(
                "sweep %s: %d variants failed as %r on a worker that ran other code; they run "
                "again",
                self.run_id,
                len(rerun),
                CODE_MISMATCH,
            )
        return found

    def wait(self, timeout_seconds: float) -> list[Accepted]:
        """New results: blocks until a worker rings or the timeout passes, then reads the
        blocks workers stored since the last read and drains the inbox (also after a
        timeout: a worker that died may have stored blocks it never rang for).

        One round trip: the BLPOP and the drain go in one pipeline, and Redis runs the
        drain's commands once the BLPOP returns (a connection's commands run in order);
        a drain that filled a page takes further round trips. A drain follows the last
        one that found results by ``DRAIN_EVERY_SECONDS`` at least while more than
        ``PACED_ABOVE`` variants are owed."""
        pause = self._next_drain - time.monotonic()
        if pause > 0 and len(self.pending) > PACED_ABOVE:
            time.sleep(min(pause, timeout_seconds))
        stored: list[bytes] = []
        raw: list[bytes] = []
        wait: float | None = timeout_seconds
        while True:
            pipe = self._r.pipeline(transaction=False)
            if wait is not None:
                pipe.blpop([self._doorbell], timeout=wait)
            pipe.delete(self._doorbell)  # rings before this drain are answered by it
            pipe.execute_command(
                "LRANGE",
                self._results,
                self._read + len(stored),
                self._read + len(stored) + DRAIN_BATCH - 1,
                **{NEVER_DECODE: []},
            )
            pipe.execute_command("LPOP", self._inbox, DRAIN_BATCH, **{NEVER_DECODE: []})
            more, batch = pipe.execute()[-2:]
            wait = None
            stored.extend(more or ())
            raw.extend(batch or ())
            if len(more or ()) < DRAIN_BATCH and (not batch or len(batch) < DRAIN_BATCH):
                break
        self._read += len(stored)
        if stored or raw:
            self._next_drain = time.monotonic() + DRAIN_EVERY_SECONDS
        accepted = self._accept_stored([unpack(blob) for blob in stored]) if stored else []
        return accepted + (self._accept([unpack(blob) for blob in raw]) if raw else [])

    def _accept_stored(self, blocks: list[ResultBlock]) -> list[Accepted]:
        """The rows of blocks already stored (a worker's turn stored them, each variant once)
        whose variant is pending; the others were accepted already (this collector stored
        them itself: the chunk watch's failures, the inbox's blocks, a restore)."""
        accepted = []
        for block in blocks:
            rows = np.flatnonzero(self.pending.owed(block.index))
            if len(rows):
                self.pending.discard_many(block.index[rows])
                accepted.append((block, rows))
        return accepted

    def accept_all(self, records: list[dict[str, Any]]) -> list[Accepted]:
        """The records that count (the orchestrator's own: failures the chunk watch names),
        stored as one block like a worker's; a copy already stored, or a second one,
        counts as a duplicate."""
        return self._accept([pack_records(records)]) if records else []

    def _accept(self, blocks: list[ResultBlock], keep_stopped: bool = True) -> list[Accepted]:
        """The rows of ``blocks`` that count, in arrival order: the first copy of each
        pending variant, each block's stored once (as it came when every row counts; one
        round trip for the lot). "stopped" rows end their variant for this run but are not
        stored (see the module docstring); with ``keep_stopped`` False they are not taken."""
        fresh: list[Accepted] = []
        for block in blocks:
            rows = np.flatnonzero(self.pending.owed(block.index))
            if not keep_stopped:
                rows = rows[block.status[rows] != STATUS_CODES["stopped"]]
            self.duplicates += len(block) - len(rows)
            if len(rows):
                self.pending.discard_many(
                    block.index[rows]
                )  # a later copy in this drain is a duplicate
                fresh.append((block, rows))
        stored = [
            (block, rows[block.status[rows] != STATUS_CODES["stopped"]]) for block, rows in fresh
        ]
        dropped = result_blocks.store_many(self._r, self.run_id, stored) if stored else []
        accepted = []
        for (block, rows), again in zip(fresh, dropped, strict=True):
            if again:  # collected already (a second copy): not accepted after all
                self.pending.restore(sorted(again))
                self.duplicates += len(again)
                rows = rows[~np.isin(block.index[rows], list(again))]
            if len(rows):
                accepted.append((block, rows))
        return accepted


def ran_other_code(block: ResultBlock, row: int) -> bool:
    """Whether ``row`` of ``block`` is a variant failed because its worker ran other code than the
    sweep's (a worker of an older btfarm failed such variants; today's hands them back)."""
    return int(block.status[row]) == STATUS_CODES["failed"] and str(
        block.error(row) or ""
    ).startswith(CODE_MISMATCH)


def collect(
    inst: Instance,
    task: RunThread,
    sweep: SweepTally,
    collector: Collector,
    pool: LocalPool | None,
    watch: ChunkWatch,
    attempt: int,
    restore: Callable[[int], int] | None = None,
    window: SubmitWindow | None = None,
    workers: WorkerWatch | None = None,
    imports: Sequence[str] = (),
) -> None:
    """Take results until every variant has one, the walker is stopped (then a grace
    period), nothing arrives for the idle timeout, no worker can run the sweep for
    ``BTFARM_WORKER_WAIT_SECONDS`` (``workers``, a farm's: sweeps/worker_watch.py), or Redis
    stays away too long. An interrupted end names the reason and the resume command
    (with ``imports``, what the sweep's workers import).

    Crash-only: when Redis comes back without the sweep's plan (restarted with no
    persistence), ``restore(attempt)`` stores it again with the results held here and
    resubmits what is missing; it returns the new attempt. ``window`` submits the next
    chunks as results come in (sweeps/submit_window.py)."""
    settings = get_settings()
    idle_timeout = settings.sweep_idle_timeout or settings.task_time_limit + IDLE_MARGIN_SECONDS
    resume = resume_command(sweep.run_id, imports)
    poller = StopPoller(state(), "walker", inst.symbol, inst.name)
    stop_seen: float | None = None
    next_status = next_lease = 0.0
    last_result = last_check = time.monotonic()
    outage: Outage | None = None
    while not collector.finished:
        if stop_seen is None and (inst.stop_event.is_set() or poller.stopped()):
            stop_seen = time.monotonic()
            sweep.stopped = True
        if stop_seen is not None and time.monotonic() - stop_seen > STOP_GRACE_SECONDS:
            break
        try:
            now = time.monotonic()
            if now >= next_lease:
                sweep_plan.hold_lease(
                    state(), sweep.run_id, attempt, sweep.walker_name, sweep.symbol
                )
                next_lease = now + LEASE_RENEW_SECONDS
            if window is not None:
                if window.top_up(len(sweep.variants) - len(collector.pending)):
                    watch.forget_done(collector.pending)
            records = collector.wait(WAIT_SECONDS)
            if not records and now - max(last_result, last_check) > STALL_SECONDS:
                last_check = time.monotonic()
                if restore is not None and not sweep_plan.plan_exists(state(), sweep.run_id):
                    attempt = restore(attempt)
                    next_lease = 0.0
                    continue
                records = collector.accept_all(watch.check(collector.pending))
            no_worker = (
                workers.check(attempt) if workers is not None and stop_seen is None else None
            )
        except (redis.ConnectionError, redis.TimeoutError, StoreUnavailable, BrokerError) as exc:
            if out_of_memory(exc):
                raise  # not an outage: the sweep ends (sweep_run.refuse_full) until memory is freed
            outage = outage or Outage(settings.store_outage_seconds)
            if outage.expired():
                raise StoreUnavailable(
                    f"Redis at {redact_url(settings.state_url or settings.redis_url)} stayed away "
                    f"for {settings.store_outage_seconds:g} s (BTFARM_STORE_OUTAGE_SECONDS) "
                    f"during sweep {sweep.run_id} of walker {sweep.walker_name!r} on "
                    f"{sweep.symbol}; {len(collector.pending)} variants have no result "
                    f"({collector.pending.names()}); once Redis is back, `{resume}` "
                    "(or Walker.resume) runs only those"
                ) from exc
            log.warning(
                "walker %s: Redis unreachable (%s); retrying", sweep.run_id, type(exc).__name__
            )
            outage.pause()
            continue
        if outage is not None:
            log.warning("walker %s: Redis is back after %.1f s", sweep.run_id, outage.elapsed())
            outage = None
            last_result = time.monotonic()
            if restore is not None and not sweep_plan.plan_exists(state(), sweep.run_id):
                attempt = restore(
                    attempt
                )  # it came back empty: the plan, the results, the chunks again
                next_lease = 0.0
        if records:
            last_result = time.monotonic()
        elif no_worker is not None:
            sweep.interrupted = no_worker
            withdrawn = _withdraw(sweep.run_id)
            log.error(
                "walker %s on %s: sweep %s interrupted with %d of %d variants missing%s: %s",
                sweep.walker_name,
                sweep.symbol,
                sweep.run_id,
                len(collector.pending),
                len(sweep.variants),
                f" ({withdrawn} queued chunks withdrawn)" if withdrawn else "",
                no_worker,
            )
            break
        elif time.monotonic() - last_result > idle_timeout and stop_seen is None:
            sweep.interrupted = (
                f"no result within {idle_timeout:g} s (BTFARM_SWEEP_IDLE_TIMEOUT); "
                f"`{resume}` runs it"
            )
            log.error(
                "walker %s on %s: no result for %g s; %d variants missing (%s); "
                "finish them with `%s`",
                sweep.walker_name,
                sweep.symbol,
                idle_timeout,
                len(collector.pending),
                collector.pending.names(),
                resume,
            )
            break
        sweep.duplicates = collector.duplicates
        if pool is not None and not pool.announced:
            pool.check_started(state())  # a worker that never becomes ready fails the run in time
        if not records and pool is not None and not pool.alive():
            raise ConfigError(
                f"the local worker pool exited; its log ({pool.logfile}) ends "
                f"with:\n{pool.log_tail()}"
            )
        counted = [sweep.add_block(block, rows) for block, rows in records]
        fresh = [entries for entries in counted if entries is not None and len(entries.index)]
        if fresh:
            # kept as three numbers each (sweeps/progress_log.py), built when read; one push per
            # drain: each wakes the readers, who build a drain's items together
            task.push_many(fresh)
            if events.has_listeners("walker"):
                end = len(task.items)
                for at in range(end - sum(len(entries.index) for entries in fresh), end):
                    events.emit("walker", task.items.item(at))
        now = time.monotonic()
        if records and now >= next_status and not collector.finished:  # the end writes the last
            next_status = now + STATUS_EVERY_SECONDS
            pipe = state().pipeline(transaction=True)
            sweep.queue_status(pipe, inst)
            advisory(pipe.execute)
    if sweep.any_stopped():
        sweep.stopped = True  # the workers saw the stop before this loop's next check did


def _withdraw(run_id: str) -> int:
    """The sweep's chunks still queued, taken back: a worker started later would only drop
    them (their lease ends with the sweep), and the resume submits its own."""
    try:
        return fanout.withdraw_queued(state(), run_id)
    except (redis.RedisError, StoreUnavailable) as exc:
        log.warning("walker %s: could not withdraw its queued chunks: %s", run_id, exc)
        return 0


_idle_blocking: dict[str, list[redis.Redis]] = {}  # URL -> BLPOP clients between sweeps
_idle_lock = threading.Lock()
IDLE_BLOCKING_CLIENTS = 4  # kept per URL; more concurrent sweeps connect their own


def _kept_url(settings) -> str | None:
    """The URL whose BLPOP clients are kept; None for the embedded server, which
    may stop between sweeps."""
    return None if settings.embedded else settings.state_url or settings.redis_url


def blocking_client(settings) -> redis.Redis:
    """A client for one sweep's BLPOP: a kept one (a new connection costs a few
    round trips, a good share of a 0.1 s sweep), else a new one."""
    url = _kept_url(settings)
    if url:
        with _idle_lock:
            idle = _idle_blocking.get(url)
            if idle:
                return idle.pop()
    return connect(settings)


def release_blocking(settings, client: redis.Redis) -> None:
    url = _kept_url(settings)
    with _idle_lock:
        idle = _idle_blocking.setdefault(url, []) if url else None
        if idle is not None and len(idle) < IDLE_BLOCKING_CLIENTS:
            idle.append(client)
            return
    client.close()


def advisory(write, *args: Any, **kwargs: Any) -> None:
    """A status write that a Redis outage may skip (the next one catches up)."""
    try:
        write(*args, **kwargs)
    except (redis.ConnectionError, redis.TimeoutError):
        pass


class Outage:
    """A Redis outage as the collect loop sees it: backing off until a deadline."""

    FIRST_PAUSE_SECONDS = 0.1  # doubled after each failed try
    MAX_PAUSE_SECONDS = 2.0

    def __init__(self, limit_seconds: float) -> None:
        self.started = time.monotonic()
        self.limit = limit_seconds
        self._pause = self.FIRST_PAUSE_SECONDS

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def expired(self) -> bool:
        return self.elapsed() > self.limit

    def pause(self) -> None:
        time.sleep(min(self._pause, max(self.limit - self.elapsed(), 0.0)))
        self._pause = min(self._pause * 2, self.MAX_PAUSE_SECONDS)

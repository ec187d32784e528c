"""One sweep from plan to end: the checks before anything runs, then the run itself.

``walker.py`` is the public surface; this module plans a sweep (``new_plan``,
``resumable_plan``) and runs it in the instance's thread (``run_sweep``): the
local pool when embedded, the attempt and its lease (``sweep_plan``), the
chunks out (``fanout``), the results in (``collect``), the end written in
one round trip.
"""

from __future__ import annotations

import logging
import time
import uuid

import redis
from kombu.exceptions import OperationalError as BrokerError

from btfarm.orchestrator.instances import Instance
from btfarm.orchestrator.results.ranked_data import ranked_data
from btfarm.orchestrator.results.status import VariantStatus
from btfarm.orchestrator.run_thread import RunThread
from btfarm.orchestrator.state_client import state
from btfarm.orchestrator.sweeps import fanout, local_pool
from btfarm.orchestrator.sweeps.chunk_watch import ChunkWatch
from btfarm.orchestrator.sweeps.collect import Collector, blocking_client, collect, release_blocking
from btfarm.orchestrator.sweeps.local_pool import LocalPool, local_slots, pool_imports
from btfarm.orchestrator.sweeps.next_commands import resume_command
from btfarm.orchestrator.sweeps.progress_log import ProgressLog
from btfarm.orchestrator.sweeps.submit_window import SubmitWindow
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.orchestrator.sweeps.user_script import check_main_guard
from btfarm.orchestrator.sweeps.variants import expand
from btfarm.orchestrator.sweeps.worker_watch import WorkerWatch
from btfarm.shared import events
from btfarm.shared.coverage import Coverage, check_coverage, check_timestamps
from btfarm.shared.engine.backtest_run import frame_load_range
from btfarm.shared.errors import ConfigError, NotRegisteredError, StoreFull, StoreUnavailable
from btfarm.shared.fingerprint import source_hash
from btfarm.shared.registry import get_exchange, get_frame, get_strategy, get_walker
from btfarm.shared.settings import get_settings, redact_url
from btfarm.shared.store import keys, result_blocks, sweep_plan
from btfarm.shared.store.connection import out_of_memory
from btfarm.shared.store.embedded_redis import embedded_server
from btfarm.shared.store.sweep_plan import SweepPlan
from btfarm.workers import app as celery_app
from btfarm.workers import candle_cache
from btfarm.workers.app import configure

log = logging.getLogger("btfarm.walker")
RESTORE_BLOCK = 512  # held results stored again per block when Redis lost a sweep


def new_plan(symbol: str, walker_name: str, chunk_size: int | None, needed_by: str) -> SweepPlan:
    """A new sweep's plan, after every check (names, grids, the data's coverage, the
    script's guard): nothing is stored or submitted yet."""
    walker = get_walker(walker_name, needed_by)
    exchange = get_exchange(walker.exchange_name, needed_by)
    frame = get_frame(walker.frame_name, needed_by)
    variants = expand(walker, needed_by)
    coverage = check_data(
        exchange, frame, symbol
    )  # a frame past the data is refused before submitting
    bases = variants.bases()  # the cheapest strategy sets the floor
    seconds = min(fanout.estimate_variant_seconds(frame, get_strategy(b, needed_by)) for b in bases)
    measured = sweep_plan.measured_seconds(state(), walker_name, symbol)
    if measured:  # the last run's real cost, when lower: bigger chunks, overhead still < 3 %
        seconds = min(seconds, measured)
    settings = get_settings()
    # the embedded pool starts with the sweep, so its size is known, not announced yet
    slots = local_slots(settings) if settings.embedded else fanout.live_slots(state())
    size = fanout.chunk_size_for(seconds, chunk_size, variants=len(variants), slots=slots)
    imports = pool_imports(walker.walker_name, walker.exchange_name, walker.frame_name, list(bases))
    check_main_guard(imports, needed_by)
    return SweepPlan(
        run_id=uuid.uuid4().hex[:16],
        walker_name=walker.walker_name,
        symbol=symbol,
        exchange_name=walker.exchange_name,
        frame_name=walker.frame_name,
        metric=walker.metric,
        chunk_size=size,
        variants=variants,
        imports=list(imports),
        code=_code_of(bases, needed_by),
        min_trades=walker.min_trades,
        min_dsr=walker.min_dsr,
        max_pbo=walker.max_pbo,
        coverage=coverage.describe(),
    )


def resumable_plan(run_id: str) -> SweepPlan:
    """The stored plan of ``run_id``, checked before a resume runs anything: its walker
    and strategies registered here (by what the user imported, never by the plan), the
    same code as the sweep ranked, and the data still covering its frame."""
    plan = sweep_plan.read_plan(state(), run_id)
    needed_by = "Walker.resume"
    # Only what the user imported is run: the plan's own list is a hint, never executed
    # (anyone who can write to Redis could otherwise run code here).
    try:
        get_walker(plan.walker_name, needed_by)
        for base in plan.variants.bases():
            get_strategy(base, needed_by)
    except NotRegisteredError as exc:
        named = " ".join(f"--import {spec}" for spec in plan.imports) or "--import MODULE"
        raise NotRegisteredError(
            f"{exc} Sweep {run_id} was started with {', '.join(plan.imports) or 'no module'} "
            f"imported; resume imports only what you name: btfarm walker resume {run_id} "
            f"{named} (or BTFARM_IMPORTS, or import it before Walker.resume)"
        ) from None
    now = _code_of(plan.variants.bases(), needed_by)
    changed = sorted(b for b, h in plan.code.items() if now.get(b, h) != h)
    if changed:
        raise ConfigError(
            f"sweep {run_id} ranked {', '.join(f'{b} at {plan.code[b]}' for b in changed)}; this "
            f"process has {', '.join(f'{b} at {now[b]}' for b in changed)}: resuming would rank two "
            "code versions together. Restore the code the sweep started with, or run the walker "
            "again (a new sweep)"
        )
    coverage = check_data(
        get_exchange(plan.exchange_name, needed_by),
        get_frame(plan.frame_name, needed_by),
        plan.symbol,
    )
    return plan.model_copy(
        update={
            "coverage": coverage.describe(),
            "imports": list(
                pool_imports(
                    plan.walker_name, plan.exchange_name, plan.frame_name, plan.variants.bases()
                )
            ),
        }
    )


def run_sweep(inst: Instance, task: RunThread, plan: SweepPlan, resume: bool) -> None:
    """Run the sweep of ``plan`` in the instance's thread: the local pool when embedded, the
    attempt and its lease, the chunks out, the results in, the end written in one round trip."""
    settings = get_settings()
    r = state()
    pool: LocalPool | None = None
    blocking = None
    clean = False
    run_id, variants = plan.run_id, plan.variants
    sweep = SweepTally(
        plan.walker_name,
        inst.symbol,
        plan.exchange_name,
        plan.frame_name,
        plan.metric,
        variants,
        run_id,
        plan.chunk_size,
        plan.min_trades,
        min_dsr=plan.min_dsr,
        max_pbo=plan.max_pbo,
    )
    inst.data = sweep
    task.keep_items_in(ProgressLog(sweep))  # a million progress items: 12 bytes each, not 5 KB
    inst.id = run_id  # `btfarm list` shows the id the sweep printed
    sweep.coverage = plan.coverage  # checked when the plan was made
    try:
        if settings.embedded:
            pool = local_pool.acquire(
                embedded_server(settings.state_dir).url, tuple(plan.imports), settings
            )
        blocking = blocking_client(settings)  # BLPOP holds its connection; a client of its own
        configure(settings)
        try:
            pipe = r.pipeline()  # MULTI: the plan, the attempt and the status appear together
            sweep_plan.queue_attempt(pipe, plan, resume)
            sweep.queue_status(pipe, inst)
            attempt = sweep_plan.attempt_of(pipe.execute(), resume)
            sweep_plan.hold_lease(r, run_id, attempt, plan.walker_name, inst.symbol)
            collector = Collector(blocking, run_id, len(variants), variants.name)
            if resume:
                for block, rows in collector.stored():
                    sweep.resumed += len(rows)
                    entries = sweep.add_block(block, rows)
                    if entries is not None and len(entries.index):
                        task.push(entries)

            # a farm's workers are watched (none alive, or none running this code, ends the sweep)
            workers = (
                None
                if pool is not None
                else WorkerWatch(
                    r,
                    run_id,
                    plan.imports,
                    redact_url(settings.broker_url or settings.redis_url or settings.state_url),
                    settings.worker_wait_seconds,
                )
            )

            def slots() -> int:  # the embedded pool's size is known; a farm's is announced
                if pool is not None:
                    return pool.processes
                if workers is not None and workers.checked:
                    return workers.slots
                return fanout.live_slots(r)

            watch = ChunkWatch(celery_app, r, [], [], space=variants)
            window = SubmitWindow(celery_app, watch, slots)

            def queue_missing(attempt: int) -> int:
                """Every variant still without a result, cut into chunks of ``attempt`` and handed to
                the window, which submits the first ones now; returns how many variants."""
                missing = fanout.Subset(variants, collector.pending.indices())
                chunks = fanout.make_chunks(
                    run_id,
                    plan.walker_name,
                    inst.symbol,
                    plan.exchange_name,
                    plan.frame_name,
                    missing,
                    plan.chunk_size,
                    attempt,
                    plan.code,
                )
                collected = len(variants) - len(collector.pending)
                window.replace(chunks, collected)
                window.top_up(collected)
                return len(missing)

            to_run = len(collector.pending)
            events.emit(
                "walker_start",
                {
                    "run_id": run_id,
                    "walker_name": plan.walker_name,
                    "symbol": inst.symbol,
                    "total_strategies": len(variants),
                    "resumed": sweep.resumed,
                    "to_run": to_run,
                },
            )
            log.info(
                "walker %s on %s: run %s attempt %d, %d of %d variants to run",
                plan.walker_name,
                inst.symbol,
                run_id,
                attempt,
                to_run,
                len(variants),
            )
            queue_missing(attempt)

            def restore(lost_attempt: int) -> int:
                again = lost_attempt + 1
                pipe = r.pipeline()
                sweep_plan.queue_restore(pipe, plan, again)
                pipe.execute()
                collector.restart_reading()  # the results list is stored anew: read again from its start
                held = 0
                for (
                    block,
                    rows,
                ) in sweep.held.current():  # the plan first: a crash here loses no work
                    rows = rows[
                        sweep.status[block.index[rows]] != VariantStatus.STOPPED
                    ]  # no result
                    for start in range(0, len(rows), RESTORE_BLOCK):
                        result_blocks.store(r, run_id, block, rows[start : start + RESTORE_BLOCK])
                    held += len(rows)
                sweep_plan.hold_lease(r, run_id, again, plan.walker_name, inst.symbol)
                resubmitted = queue_missing(again)
                log.warning(
                    "walker %s on %s: Redis came back without sweep %s; stored it again with %d "
                    "results (attempt %d) and resubmitted %d variants",
                    plan.walker_name,
                    inst.symbol,
                    run_id,
                    held,
                    again,
                    resubmitted,
                )
                return again

            collect(
                inst,
                task,
                sweep,
                collector,
                pool,
                watch,
                attempt,
                restore,
                window,
                workers,
                imports=plan.imports,
            )
            clean = True
        except (redis.RedisError, BrokerError) as exc:
            if not out_of_memory(exc):
                raise
            raise refuse_full(r, plan, len(variants) - sweep.received) from exc
    finally:
        sweep.seconds = time.monotonic() - sweep.started
        try:  # one round trip: the sweep's end is on the path of every caller waiting for it
            pipe = r.pipeline(transaction=False)
            inst.outcome = (
                "stopped"
                if sweep.stopped
                else "interrupted"
                if sweep.interrupted or sweep.received < len(variants)
                else "done"
            )
            sweep_plan.queue_end(
                pipe,
                plan,
                inst.symbol,
                inst.outcome,
                sweep.tested,
                sweep.seconds_per_variant() if clean else None,
            )
            sweep.queue_status(pipe, inst)
            pipe.execute()
        except redis.RedisError:
            pass  # Redis is away: the lease expires by itself and the state says "running"
        finally:
            if blocking is not None:  # after an error it may hold half a reply: never reused
                release_blocking(settings, blocking) if clean else blocking.close()
            if pool is not None:
                local_pool.release(pool)
    if sweep.stopped:
        inst.stop_event.set()
    if events.has_listeners("walker_complete"):
        # a large sweep's best rows and its columns, never a row per variant (results/ranked_data)
        events.emit("walker_complete", ranked_data(sweep))
    events.emit(
        "done.walker",
        {
            "mode": "walker",
            "symbol": inst.symbol,
            "walker_name": plan.walker_name,
            "stopped": sweep.stopped,
            "strategies_tested": sweep.tested,
            "best_strategy": sweep.best[0] if sweep.best else None,
        },
    )


def refuse_full(r: redis.Redis, plan: SweepPlan, missing: int) -> StoreFull:
    """Redis reached ``maxmemory``: this sweep's queued chunks are withdrawn and its lease
    and claim dropped (deleting is allowed to a full Redis), so nothing it queued is left
    behind and its running chunks stop at their next variant; the error says how to go on."""
    withdrawn = 0
    try:
        withdrawn = fanout.withdraw_queued(r, plan.run_id)
        r.delete(keys.walker_lease(plan.run_id), keys.walker_owner(plan.walker_name, plan.symbol))
    except (redis.RedisError, StoreUnavailable) as exc:
        log.warning(
            "walker %s: could not withdraw its chunks from a full Redis: %s", plan.run_id, exc
        )
    settings = get_settings()
    try:
        memory = r.info("memory")
        used = (
            f"{memory.get('used_memory_human')} used of maxmemory {memory.get('maxmemory_human')}"
        )
    except redis.RedisError:
        used = "maxmemory reached"
    return StoreFull(
        f"Redis at {redact_url(settings.state_url or settings.redis_url)} is out of memory ({used}, "
        f"noeviction) during sweep {plan.run_id} of walker {plan.walker_name!r} on {plan.symbol}: "
        f"{missing} variants have no result; {withdrawn} queued chunks were withdrawn and the running "
        "ones stop at their next variant. Free memory or raise it (redis-cli CONFIG SET maxmemory ...), "
        f"then `{resume_command(plan.run_id, plan.imports)}` (or Walker.resume) runs only those"
    )


def check_data(exchange, frame, symbol: str) -> Coverage:
    """The frame's candles as the workers will load them, checked (coverage.py): from the
    open times alone where the exchange can give them (a year of candles is read and
    validated once per worker, not again here), else from the candles."""
    max_gap = get_settings().max_gap_minutes
    source = exchange.source
    if source is not None and hasattr(source, "timestamps"):
        ts = source.timestamps(symbol, *frame_load_range(frame))
        return check_timestamps(ts, exchange.exchange_name, symbol, frame, max_gap)
    candles = candle_cache.candles_for(exchange, frame, symbol)
    return check_coverage(candles, exchange.exchange_name, symbol, frame, max_gap)


def _code_of(bases, needed_by: str) -> dict[str, str]:
    """Each strategy's source hash as this process has it (what the workers must run)."""
    return {b: source_hash(get_strategy(b, needed_by)) for b in bases}

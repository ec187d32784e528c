"""``Walker``: compare a walker's strategies (and sweep variants) on one symbol,
fanned out as Celery tasks over the farm's workers (SEMANTICS.md 5 and 7).

``run`` validates every schema here first (walker, exchange, frame, each
strategy and grid), expands the variants, submits them in chunks and yields
the progress contract each time a variant completes, in whatever order the
workers finish; best-so-far is exact at every step because ties go to the
variant listed first. ``stop`` sets the walker's Redis stop flag: running
chunks stop at their next check, queued ones report their variants unrun
without running them, and after ``STOP_GRACE_SECONDS`` the run ends with the
rest listed as unfinished. Nothing is ever revoked or terminated.

With no ``BTFARM_REDIS_URL`` the run starts the embedded Redis and a local
worker pool (``local_pool.LocalPool``) and stops both at the end.

Crash-only (STYLE 12): a sweep stores what it is (``keys.walker_run``: walker,
symbol, variants, chunk size, metric) before it submits anything, holds a
lease while it collects, and writes each result once. ``resume(run_id)``
(``btfarm walker resume RUN_ID``) reads that back, takes the stored results
as they are and submits only the variants without one; a fresh run is a
resume with nothing done. A lost Redis is retried for
``BTFARM_STORE_OUTAGE_SECONDS``; a sweep that receives nothing for
``BTFARM_SWEEP_IDLE_TIMEOUT`` ends as interrupted, naming what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict

from btfarm.shared import events
from btfarm.shared.coverage import Coverage, check_coverage
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.errors import (
    ConfigError,
    NotFoundError,
    NotRegisteredError,
    PersistenceError,
    StoreUnavailable,
)
from btfarm.shared.fingerprint import source_hash
from btfarm.shared.payloads import Variant
from btfarm.shared.ranking import metric_value, rank
from btfarm.shared.registry import get_exchange, get_frame, get_risk, get_strategy, get_walker
from btfarm.shared.settings import get_settings, redact_url
from btfarm.shared.stats import BacktestStatistics
from btfarm.shared.store import keys, run_status
from btfarm.shared.store.connection import connect
from btfarm.shared.store.embedded_redis import embedded_server
from btfarm.shared.store.stop_flags import StopPoller
from btfarm.workers import app as celery_app
from btfarm.workers import candle_cache
from btfarm.workers.app import configure
from btfarm.workers.tasks import RUN_STATE_RUNNING

from . import fanout
from .chunk_watch import STALL_SECONDS, ChunkWatch
from .collect import Collector
from .grid import expand
from .instances import Instance, InstanceUtils
from .local_pool import LocalPool, pool_imports
from .reports.dump import dump_report
from .reports.render import render_walker
from .run_thread import RunThread
from .state_client import state
from .user_script import check_main_guard

WAIT_SECONDS = 0.5  # longest BLPOP between stop checks (results wake it at once)
STOP_GRACE_SECONDS = 3.0  # after a stop, how long to wait for running variants to report
STATUS_EVERY_SECONDS = 0.5  # how often progress is written to the instance status
PNL_TABLES = 10  # strategies whose closed signals the report lists (the best, by the metric)
LEASE_RENEW_SECONDS = 1.0  # how often the collecting walker renews keys.walker_lease
IDLE_MARGIN_SECONDS = 60.0  # default idle timeout: the task time limit plus this

log = logging.getLogger("btfarm.walker")


class SweepPlan(BaseModel):
    """What a sweep is, stored under ``keys.walker_run`` so a resume can finish it."""

    run_id: str
    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    chunk_size: int
    variants: list[Variant]
    imports: list[str] = []  # what the pool imports; stored as a hint only, a resume never runs it
    code: dict[str, str] = {}  # strategy -> source hash the sweep ranks (one code version per ranking)
    min_trades: int = 0  # variants with fewer closed signals are listed, not ranked

    def to_redis(self) -> dict[str, str | int]:
        return {"walker_name": self.walker_name, "symbol": self.symbol, "imports": json.dumps(self.imports),
                "code": json.dumps(self.code), "min_trades": self.min_trades,
                "exchange_name": self.exchange_name, "frame_name": self.frame_name,
                "metric": self.metric, "chunk_size": self.chunk_size, "total": len(self.variants),
                "variants": json.dumps([v.model_dump(mode="json") for v in self.variants])}

    @classmethod
    def from_redis(cls, run_id: str, fields: dict[str, str]) -> SweepPlan:
        return cls(run_id=run_id, walker_name=fields["walker_name"], symbol=fields["symbol"],
                   exchange_name=fields["exchange_name"], frame_name=fields["frame_name"],
                   metric=fields["metric"], chunk_size=int(fields["chunk_size"]),
                   variants=json.loads(fields["variants"]), imports=json.loads(fields.get("imports", "[]")),
                   code=json.loads(fields.get("code", "{}")), min_trades=int(fields.get("min_trades", 0)))


class WalkerProgress(BaseModel):
    """Yielded by ``Walker.run`` after each variant completes (SEMANTICS 5)."""

    walker_name: str
    symbol: str
    strategy_name: str
    strategies_tested: int
    total_strategies: int
    best_strategy: str | None
    best_metric: float | None
    metric: str
    metric_value: float | None
    stats: BacktestStatistics | None
    status: str = "done"  # done | failed (then ``error`` says why)
    error: str | None = None


class RankedStrategy(BaseModel):
    rank: int
    strategy_name: str
    metric_value: float | None
    stats: BacktestStatistics
    params: dict[str, Any] | None = None


class WalkerData(BaseModel):
    """What ``Walker.get_data`` returns: every finished strategy ranked, and what did not finish."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    total_strategies: int
    strategies_tested: int
    best_strategy: str | None
    best_metric: float | None
    strategies: list[RankedStrategy]
    unfinished: dict[str, str]  # variant name -> why it did not finish
    stopped: bool
    run_id: str
    chunk_size: int
    seconds: float
    duplicates_dropped: int = 0  # results of redelivered chunks already received, not counted again
    resumed: int = 0  # results read back from an earlier attempt of this run (not recomputed)
    interrupted: bool = False  # ended without every result: `btfarm walker resume RUN_ID` finishes it
    fingerprints: dict[str, dict[str, Any]] = {}  # variant name -> fingerprint of its result
    # finished but not comparable (fewer than min_trades closed signals, 1 by default):
    # variant name -> (why, its statistics); never ranked, never best
    unranked: dict[str, tuple[str, BacktestStatistics]] = {}
    rejections: dict[str, tuple[int, list[str]]] = {}  # variant -> (signals rejected, first reasons)
    min_trades: int = 0
    coverage: str = ""  # the candles the sweep ran on: range and gaps (coverage.Coverage.describe)


_idle_blocking: dict[str, list[redis.Redis]] = {}  # URL -> BLPOP clients between sweeps
_idle_lock = threading.Lock()
IDLE_BLOCKING_CLIENTS = 4  # kept per URL; more concurrent sweeps connect their own


def _kept_url(settings) -> str | None:
    """The URL whose BLPOP clients are kept; None for the embedded server, which
    may stop between sweeps."""
    return None if settings.embedded else settings.state_url or settings.redis_url


def _blocking_client(settings) -> redis.Redis:
    """A client for one sweep's BLPOP: a kept one (a new connection costs a few
    round trips, a good share of a 0.1 s sweep), else a new one."""
    url = _kept_url(settings)
    if url:
        with _idle_lock:
            idle = _idle_blocking.get(url)
            if idle:
                return idle.pop()
    return connect(settings)


def _release_blocking(settings, client: redis.Redis) -> None:
    url = _kept_url(settings)
    with _idle_lock:
        idle = _idle_blocking.setdefault(url, []) if url else None
        if idle is not None and len(idle) < IDLE_BLOCKING_CLIENTS:
            idle.append(client)
            return
    client.close()


class _Sweep:
    """The results of one run as they arrive, ranked on demand in walker order."""

    def __init__(self, walker_name: str, symbol: str, exchange_name: str, frame_name: str,
                 metric: str, variants: Sequence[Variant], run_id: str, chunk_size: int,
                 min_trades: int = 0) -> None:
        self.min_trades = min_trades
        self.coverage = ""
        self.walker_name, self.symbol, self.metric = walker_name, symbol, metric
        self.exchange_name, self.frame_name = exchange_name, frame_name
        self.variants = list(variants)
        self.order = {v.strategy_name: i for i, v in enumerate(self.variants)}
        self.records: dict[str, dict[str, Any]] = {}
        self.best: tuple[str, float, int] | None = None  # name, metric, walker order
        self.run_id, self.chunk_size = run_id, chunk_size
        self.started = time.monotonic()
        self.seconds = 0.0
        self.stopped = False
        self.duplicates = 0
        self.resumed = 0
        self.interrupted: str | None = None  # why the sweep ended without every result
        self._done = 0  # records with status "done" (counted as they come: a sweep asks per result)

    @property
    def tested(self) -> int:
        return self._done

    def add(self, record: dict[str, Any]) -> WalkerProgress | None:
        name = record["strategy_name"]
        previous = self.records.get(name)
        self._done += (record["status"] == "done") - (previous is not None and previous["status"] == "done")
        self.records[name] = record
        if record["status"] == "stopped":
            return None
        value = metric_value(record["stats"], self.metric) if record["status"] == "done" else None
        if value is not None and self.unranked_reason(record) is None:
            index = self.order[name]
            if (self.best is None or value > self.best[1]
                    or (value == self.best[1] and index < self.best[2])):
                self.best = (name, value, index)
        return WalkerProgress(
            walker_name=self.walker_name, symbol=self.symbol, strategy_name=name,
            strategies_tested=self.tested, total_strategies=len(self.variants),
            best_strategy=self.best[0] if self.best else None,
            best_metric=self.best[1] if self.best else None, metric=self.metric,
            metric_value=value, stats=record["stats"], status=record["status"],
            error=record.get("error"))

    def unfinished(self) -> dict[str, str]:
        out = {}
        for v in self.variants:
            record = self.records.get(v.strategy_name)
            if record is None:
                out[v.strategy_name] = "not run: the walker was stopped" if self.stopped \
                    else self.interrupted or "no result received"
            elif record["status"] != "done":
                out[v.strategy_name] = f"{record['status']}: {record.get('error') or ''}".rstrip(": ")
        return out

    def unranked_reason(self, record: dict[str, Any]) -> str | None:
        """Why a finished variant is listed but not ranked (not comparable), or None."""
        stats = record["stats"] or {}
        trades = stats.get("total_signals", 0)
        if trades < self.min_trades:
            rejected = stats.get("rejected_signals", 0)
            return (f"{trades} closed signals, fewer than min_trades={self.min_trades}"
                    + (f" ({rejected} signals rejected)" if rejected else ""))
        return None

    def rejections(self) -> dict[str, tuple[int, list[str]]]:
        """Variant -> (rejected-signal count, first distinct messages), where any were."""
        out = {}
        for v in self.variants:
            record = self.records.get(v.strategy_name)
            if record and record["status"] == "done" and (record["stats"] or {}).get("rejected_signals"):
                out[v.strategy_name] = (record["stats"]["rejected_signals"], record.get("rejections") or [])
        return out

    def data(self) -> WalkerData:
        finished = [(v.strategy_name, self.records[v.strategy_name]) for v in self.variants
                    if self.records.get(v.strategy_name, {}).get("status") == "done"]
        unranked = {name: why for name, rec in finished if (why := self.unranked_reason(rec))}
        done = [(name, rec) for name, rec in finished if name not in unranked]
        ranked = rank([(name, rec["stats"]) for name, rec in done], self.metric)
        params = {name: rec.get("params") for name, rec in done}
        return WalkerData(
            walker_name=self.walker_name, symbol=self.symbol, exchange_name=self.exchange_name,
            frame_name=self.frame_name, metric=self.metric, total_strategies=len(self.variants),
            strategies_tested=len(finished), best_strategy=self.best[0] if self.best else None,
            best_metric=self.best[1] if self.best else None,
            strategies=[RankedStrategy(rank=i, strategy_name=name, stats=stats,
                                       metric_value=metric_value(stats, self.metric),
                                       params=params[name])
                        for i, (name, stats) in enumerate(ranked, start=1)],
            unfinished=self.unfinished(), stopped=self.stopped, run_id=self.run_id,
            chunk_size=self.chunk_size, seconds=self.seconds, duplicates_dropped=self.duplicates,
            resumed=self.resumed, interrupted=self.interrupted is not None,
            fingerprints={name: rec["fingerprint"] for name, rec in finished if rec.get("fingerprint")},
            unranked={name: (why, self.records[name]["stats"]) for name, why in unranked.items()},
            rejections=self.rejections(), min_trades=self.min_trades, coverage=self.coverage)

    def closed_for(self, names: Sequence[str]) -> tuple[dict[str, list[dict[str, Any]]],
                                                        dict[str, BacktestStatistics]]:
        """The closed signals of ``names``, recomputed here (results never carry them, see
        shared/payloads.py; a backtest is deterministic), and their statistics, which
        the report checks against the ranked ones."""
        needed_by = "Walker.get_report"
        exchange = get_exchange(self.exchange_name, needed_by)
        frame = get_frame(self.frame_name, needed_by)
        by_name = {v.strategy_name: v for v in self.variants}
        candles = candle_cache.candles_for(exchange, frame, self.symbol) if names else None
        out, stats = {}, {}
        for name in names:
            variant = by_name[name]
            strategy = get_strategy(variant.base, needed_by)
            risk = get_risk(strategy.risk_name, needed_by) if strategy.risk_name else None
            run = BacktestRun(strategy, exchange, frame, self.symbol, candles, params=variant.params,
                              strategy_name=name, risk=risk)
            out[name] = run.run()
            stats[name] = run.statistics()
        return out, stats


class WalkerUtils(InstanceUtils):
    mode = "walker"

    def run(self, symbol: str, walker_name: str, chunk_size: int | None = None) -> Iterator[WalkerProgress]:
        """Progress after each variant; a second concurrent call joins the running one.

        Everything is checked (names, grids, the data's coverage) and the sweep
        started before this returns, so a mistake fails here, not at the first ``next``."""
        _, task = self._launch(symbol, walker_name, chunk_size, "Walker.run")
        return task.follow()

    def background(self, symbol: str, walker_name: str, chunk_size: int | None = None) -> Callable[[], None]:
        """Run without blocking; errors go to ``listen_exit``. Returns a cancel function."""
        inst, task = self._launch(symbol, walker_name, chunk_size, "Walker.background")
        return self._background(task, inst)

    def resume(self, run_id: str) -> Iterator[WalkerProgress]:
        """Finish the sweep ``run_id`` (an interrupted one, or one whose orchestrator
        died): stored results are read back, only variants without one run.
        Progress covers every variant, the read-back ones first."""
        _, task = self._launch_resume(run_id)
        return task.follow()

    def plan_of(self, run_id: str) -> SweepPlan:
        """The stored plan of sweep ``run_id`` (LookupError when Redis has none)."""
        fields = state().hgetall(keys.walker_run(run_id))
        if not fields.get("variants"):
            raise NotFoundError(
                f"no sweep {run_id!r} is stored in Redis at "
                f"{redact_url(get_settings().state_url or get_settings().redis_url)} "
                f"(needed by Walker.resume); sweeps are kept "
                f"{keys.WALKER_RESULT_TTL_SECONDS // 86_400} days, on the Redis the sweep used")
        try:
            return SweepPlan.from_redis(run_id, fields)
        except (KeyError, ValueError) as exc:  # ValueError covers JSON and pydantic errors
            raise PersistenceError(
                f"sweep {run_id!r} is stored in Redis ({keys.walker_run(run_id)}) but its plan is "
                f"unreadable ({type(exc).__name__}: {str(exc)[:200]}); it was left untouched; "
                "run the walker again (a new sweep) instead of resuming it") from exc

    def _launch_resume(self, run_id: str) -> tuple[Instance, RunThread]:
        plan = self.plan_of(run_id)
        needed_by = "Walker.resume"
        # Only what the user imported is run: the plan's own list is a hint, never executed
        # (anyone who can write to Redis could otherwise run code here).
        try:
            get_walker(plan.walker_name, needed_by)
            for base in dict.fromkeys(v.base for v in plan.variants):
                get_strategy(base, needed_by)
        except NotRegisteredError as exc:
            named = " ".join(f"--import {spec}" for spec in plan.imports) or "--import MODULE"
            raise NotRegisteredError(
                f"{exc} Sweep {run_id} was started with {', '.join(plan.imports) or 'no module'} "
                f"imported; resume imports only what you name: btfarm walker resume {run_id} "
                f"{named} (or BTFARM_IMPORTS, or import it before Walker.resume)") from None
        now = _code_of(dict.fromkeys(v.base for v in plan.variants), needed_by)
        changed = sorted(b for b, h in plan.code.items() if now.get(b, h) != h)
        if changed:
            raise ConfigError(
                f"sweep {run_id} ranked {', '.join(f'{b} at {plan.code[b]}' for b in changed)}; this "
                f"process has {', '.join(f'{b} at {now[b]}' for b in changed)}: resuming would rank two "
                "code versions together. Restore the code the sweep started with, or run the walker "
                "again (a new sweep)")
        _check_data(get_exchange(plan.exchange_name, needed_by), get_frame(plan.frame_name, needed_by),
                    plan.symbol)
        plan = plan.model_copy(update={"imports": list(pool_imports(
            plan.walker_name, plan.exchange_name, plan.frame_name,
            [v.base for v in plan.variants]))})
        inst = self._instance(plan.symbol, plan.walker_name)
        context = {"exchange_name": plan.exchange_name, "frame_name": plan.frame_name}

        def produce(inst: Instance, task: RunThread) -> None:
            self._produce(inst, task, plan, resume=True)

        return inst, self._start_or_join(inst, context, produce)

    def wait(self, symbol: str, walker_name: str, timeout: float | None = None) -> bool:
        """Block until the instance's run ends; True when it has."""
        inst = self._instance(symbol, walker_name)
        return inst.task is None or inst.task.wait(timeout)

    def _launch(self, symbol: str, walker_name: str, chunk_size: int | None,
                needed_by: str) -> tuple[Instance, RunThread]:
        walker = get_walker(walker_name, needed_by)
        exchange = get_exchange(walker.exchange_name, needed_by)
        frame = get_frame(walker.frame_name, needed_by)
        variants = expand(walker, needed_by)
        _check_data(exchange, frame, symbol)  # a frame past the data is refused before submitting
        bases = dict.fromkeys(v.base for v in variants)  # the cheapest strategy sets the floor
        seconds = min(fanout.estimate_variant_seconds(frame, get_strategy(b, needed_by)) for b in bases)
        measured = state().get(keys.walker_timing(walker_name, symbol))
        if measured:  # the last run's real cost, when lower: bigger chunks, overhead still < 3 %
            seconds = min(seconds, float(measured))
        settings = get_settings()
        # the embedded pool starts with the sweep, so its size is known, not announced yet
        slots = (settings.local_workers or os.cpu_count() or 1) if settings.embedded else fanout.live_slots(state())
        size = fanout.chunk_size_for(seconds, chunk_size, variants=len(variants), slots=slots)
        inst = self._instance(symbol, walker_name)
        context = {"exchange_name": exchange.exchange_name, "frame_name": frame.frame_name}

        imports = pool_imports(walker.walker_name, walker.exchange_name, walker.frame_name, list(bases))
        check_main_guard(imports, needed_by)
        plan = SweepPlan(run_id=uuid.uuid4().hex[:16], walker_name=walker.walker_name, symbol=symbol,
                         exchange_name=walker.exchange_name, frame_name=walker.frame_name,
                         metric=walker.metric, chunk_size=size, variants=variants, imports=list(imports),
                         code=_code_of(bases, needed_by), min_trades=walker.min_trades)

        def produce(inst: Instance, task: RunThread) -> None:
            self._produce(inst, task, plan, resume=False)

        return inst, self._start_or_join(inst, context, produce)

    def _produce(self, inst: Instance, task: RunThread, plan: SweepPlan, resume: bool) -> None:
        settings = get_settings()
        r = state()
        pool: LocalPool | None = None
        blocking = None
        clean = False
        run_id, variants = plan.run_id, plan.variants
        sweep = _Sweep(plan.walker_name, inst.symbol, plan.exchange_name, plan.frame_name,
                       plan.metric, variants, run_id, plan.chunk_size, plan.min_trades)
        inst.data = sweep
        inst.id = run_id  # `btfarm list` shows the id the sweep printed
        sweep.coverage = _check_data(get_exchange(plan.exchange_name), get_frame(plan.frame_name),
                                     inst.symbol).describe()  # memoised on the cached candles
        run_key = keys.walker_run(run_id)
        try:
            if settings.embedded:
                pool = LocalPool(embedded_server(settings.state_dir).url,
                                 tuple(plan.imports), settings=settings).start()
            blocking = _blocking_client(settings)  # BLPOP holds its connection; a client of its own
            configure(settings)
            pipe = r.pipeline()  # MULTI: the plan, the attempt and its lease appear together
            if not resume:
                pipe.hset(run_key, mapping={**plan.to_redis(), "started_at": int(time.time() * 1000)})
            pipe.hincrby(run_key, "attempt", 1)
            pipe.hset(run_key, "state", RUN_STATE_RUNNING)
            pipe.expire(run_key, keys.WALKER_RESULT_TTL_SECONDS)
            self._queue_progress(pipe, inst, sweep)
            attempt = pipe.execute()[-4]
            r.set(keys.walker_lease(run_id), attempt, ex=keys.WALKER_LEASE_SECONDS)
            collector = Collector(blocking, run_id, [v.strategy_name for v in variants])
            if resume:
                for record in collector.stored():
                    sweep.resumed += 1
                    progress = sweep.add(record)
                    if progress is not None:
                        task.push(progress)
            missing = [v for v in variants if v.strategy_name in collector.pending]
            events.emit("walker_start", {"run_id": run_id, "walker_name": plan.walker_name,
                                         "symbol": inst.symbol, "total_strategies": len(variants),
                                         "resumed": sweep.resumed, "to_run": len(missing)})
            log.info("walker %s on %s: run %s attempt %d, %d of %d variants to run",
                     plan.walker_name, inst.symbol, run_id, attempt, len(missing), len(variants))
            chunks = fanout.make_chunks(run_id, plan.walker_name, inst.symbol, plan.exchange_name,
                                        plan.frame_name, missing, plan.chunk_size, attempt, plan.code)
            ids = fanout.submit(celery_app, chunks)
            watch = ChunkWatch(celery_app, r, chunks, ids)
            self._collect(inst, task, sweep, collector, pool, watch, attempt)
            clean = True
        finally:
            sweep.seconds = time.monotonic() - sweep.started
            try:  # one round trip: the sweep's end is on the path of every caller waiting for it
                pipe = r.pipeline(transaction=False)
                inst.outcome = ("stopped" if sweep.stopped else "interrupted"
                                if sweep.interrupted or len(sweep.records) < len(variants) else "done")
                pipe.hset(run_key, mapping={"state": inst.outcome, "tested": sweep.tested})
                pipe.delete(keys.walker_lease(run_id))
                self._queue_progress(pipe, inst, sweep)
                timings = [rec["seconds"] for rec in sweep.records.values()
                           if rec["status"] == "done" and rec.get("seconds")]
                if clean and timings:
                    pipe.set(keys.walker_timing(plan.walker_name, inst.symbol), sum(timings) / len(timings),
                             ex=keys.WALKER_RESULT_TTL_SECONDS)
                pipe.execute()
            except redis.RedisError:
                pass  # Redis is away: the lease expires by itself and the state says "running"
            finally:
                if blocking is not None:  # after an error it may hold half a reply: never reused
                    _release_blocking(settings, blocking) if clean else blocking.close()
                if pool is not None:
                    pool.stop()
        if sweep.stopped:
            inst.stop_event.set()
        if events.has_listeners("walker_complete"):
            events.emit("walker_complete", sweep.data())
        events.emit("done.walker", {"mode": "walker", "symbol": inst.symbol,
                                    "walker_name": plan.walker_name, "stopped": sweep.stopped,
                                    "strategies_tested": sweep.tested,
                                    "best_strategy": sweep.best[0] if sweep.best else None})

    def _queue_progress(self, pipe: redis.client.Pipeline, inst: Instance, sweep: _Sweep) -> None:
        run_status.queue_status(
            pipe, self.mode, inst.symbol, inst.name, "running", id=inst.id,
            progress=len(sweep.records) / max(len(sweep.variants), 1),
            strategies_tested=sweep.tested, total_strategies=len(sweep.variants),
            best_strategy=sweep.best[0] if sweep.best else "")

    def _collect(self, inst: Instance, task: RunThread, sweep: _Sweep, collector: Collector,
                 pool: LocalPool | None, watch: ChunkWatch, attempt: int) -> None:
        settings = get_settings()
        idle_timeout = settings.sweep_idle_timeout or settings.task_time_limit + IDLE_MARGIN_SECONDS
        poller = StopPoller(state(), self.mode, inst.symbol, inst.name)
        stop_seen: float | None = None
        next_status = next_lease = 0.0
        last_result = last_check = time.monotonic()
        outage: _Outage | None = None
        while not collector.finished:
            if stop_seen is None and (inst.stop_event.is_set() or poller.stopped()):
                stop_seen = time.monotonic()
                sweep.stopped = True
            if stop_seen is not None and time.monotonic() - stop_seen > STOP_GRACE_SECONDS:
                break
            try:
                now = time.monotonic()
                if now >= next_lease:
                    state().set(keys.walker_lease(sweep.run_id), attempt, ex=keys.WALKER_LEASE_SECONDS)
                    next_lease = now + LEASE_RENEW_SECONDS
                records = collector.wait(WAIT_SECONDS)
                if not records and now - max(last_result, last_check) > STALL_SECONDS:
                    last_check = time.monotonic()
                    records = collector.accept_all(watch.check(collector.pending))
            except (redis.ConnectionError, redis.TimeoutError, StoreUnavailable) as exc:
                outage = outage or _Outage(settings.store_outage_seconds)
                if outage.expired():
                    missing = sorted(collector.pending)
                    raise StoreUnavailable(
                        f"Redis at {redact_url(settings.state_url or settings.redis_url)} stayed away "
                        f"for {settings.store_outage_seconds:g} s (BTFARM_STORE_OUTAGE_SECONDS) "
                        f"during sweep {sweep.run_id} of walker {sweep.walker_name!r} on "
                        f"{sweep.symbol}; {len(missing)} variants have no result "
                        f"({_names(missing)}); once Redis is back, `btfarm walker resume "
                        f"{sweep.run_id}` (or Walker.resume) runs only those") from exc
                log.warning("walker %s: Redis unreachable (%s); retrying", sweep.run_id,
                            type(exc).__name__)
                outage.pause()
                continue
            if outage is not None:
                log.warning("walker %s: Redis is back after %.1f s", sweep.run_id, outage.elapsed())
                outage = None
                last_result = time.monotonic()
            if records:
                last_result = time.monotonic()
            elif time.monotonic() - last_result > idle_timeout and stop_seen is None:
                missing = sorted(collector.pending)
                sweep.interrupted = (f"no result within {idle_timeout:g} s (BTFARM_SWEEP_IDLE_TIMEOUT); "
                                     f"`btfarm walker resume {sweep.run_id}` runs it")
                log.error("walker %s on %s: no result for %g s; %d variants missing (%s); "
                          "finish them with `btfarm walker resume %s`", sweep.walker_name,
                          sweep.symbol, idle_timeout, len(missing), _names(missing), sweep.run_id)
                break
            sweep.duplicates = collector.duplicates
            if not records and pool is not None and not pool.alive():
                raise ConfigError(f"the local worker pool exited; its log ({pool.logfile}) ends "
                                  f"with:\n{pool.log_tail()}")
            for record in records:
                progress = sweep.add(record)
                if progress is None:
                    continue
                task.push(progress)
                if events.has_listeners("walker"):
                    events.emit("walker", progress)
            now = time.monotonic()
            if records and now >= next_status and not collector.finished:  # the end writes the last
                next_status = now + STATUS_EVERY_SECONDS
                pipe = state().pipeline(transaction=True)
                self._queue_progress(pipe, inst, sweep)
                _advisory(pipe.execute)
        if any(rec["status"] == "stopped" for rec in sweep.records.values()):
            sweep.stopped = True  # the workers saw the stop before this loop's next check did

    # ---- results ---------------------------------------------------------

    def _sweep_of(self, symbol: str, walker_name: str, needed_by: str) -> _Sweep:
        inst = self._instance(symbol, walker_name)
        if inst.data is None:
            raise NotFoundError(f"no walker {symbol}:{walker_name} has run in this process "
                              f"(needed by {needed_by}); call Walker.run or Walker.background first")
        return inst.data

    def get_data(self, symbol: str, walker_name: str) -> WalkerData:
        return self._sweep_of(symbol, walker_name, "Walker.get_data").data()

    def get_report(self, symbol: str, walker_name: str, columns: Sequence[Any] | None = None,
                   pnl_columns: Sequence[Any] | None = None, top_n: int | None = None) -> str:
        sweep = self._sweep_of(symbol, walker_name, "Walker.get_report")
        data = sweep.data()
        shown = data.strategies[:min(top_n or PNL_TABLES, PNL_TABLES)]
        closed, recomputed = sweep.closed_for([s.strategy_name for s in shown])
        return render_walker(
            {**data.model_dump(), "strategies": [{"strategy_name": s.strategy_name, "stats": s.stats}
                                                 for s in data.strategies]},
            closed, strategy_columns=columns,
            pnl_columns=pnl_columns, top_n=top_n, unfinished=data.unfinished,
            fingerprints=data.fingerprints, run_id=data.run_id, unranked=data.unranked,
            rejections=data.rejections, recomputed=recomputed, min_trades=data.min_trades,
            coverage=data.coverage)

    def dump(self, symbol: str, walker_name: str, path: str | Path | None = None,
             columns: Sequence[Any] | None = None, pnl_columns: Sequence[Any] | None = None,
             top_n: int | None = None) -> Path:
        """Write the report; default ``./dump/walker/{walker_name}.md``."""
        text = self.get_report(symbol, walker_name, columns, pnl_columns, top_n)
        return dump_report(text, "walker", walker_name, path)


def _advisory(write, *args: Any, **kwargs: Any) -> None:
    """A status write that a Redis outage may skip (the next one catches up)."""
    try:
        write(*args, **kwargs)
    except (redis.ConnectionError, redis.TimeoutError):
        pass


class _Outage:
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


def _check_data(exchange, frame, symbol: str) -> Coverage:
    """The frame's candles as the workers will load them, checked (coverage.py)."""
    candles = candle_cache.candles_for(exchange, frame, symbol)
    return check_coverage(candles, exchange.exchange_name, symbol, frame, get_settings().max_gap_minutes)


def _code_of(bases, needed_by: str) -> dict[str, str]:
    """Each strategy's source hash as this process has it (what the workers must run)."""
    return {b: source_hash(get_strategy(b, needed_by)) for b in bases}


def _names(names: Sequence[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


Walker = WalkerUtils()

"""The farm's tasks: ``btfarm.backtest_chunk`` (and the scheduled walker run).

A chunk task backtests its variants one after another on this worker's
cached candles. After each variant it RPUSHes the variant's JSON result to
the sweep's inbox list (the orchestrator BLPOPs it at once), and it returns
all of them as the task result too. It stops cooperatively (DESIGN: never
``terminate``): a chunk taken from the queue after the walker was stopped, or
after its sweep ended, reports its variants "stopped" without running them;
a running one checks the walker's stop flag between engine steps.

Failures are per variant (STYLE 9): a strategy missing from this worker's
registry, an exception inside it, or the soft time limit make that variant
"failed" with the reason, and the chunk goes on (or, for the time limit,
reports the rest as failed). Only a lost Redis connection fails the task,
which Celery retries.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Any

import redis
from celery.exceptions import SoftTimeLimitExceeded

from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.errors import BtfarmError, NotRegisteredError
from btfarm.shared.registry import get_exchange, get_frame, get_risk, get_strategy
from btfarm.shared.settings import get_settings
from btfarm.shared.stats import compute_statistics
from btfarm.shared.store import keys
from btfarm.shared.store.stop_flags import StopPoller

from . import candle_cache
from .app import app
from .payloads import Chunk, Variant, dumps, result_record
from .startup import worker_client

RUN_STATE_RUNNING = "running"  # the walker_run hash's state while the orchestrator collects


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sweep_is_live(r: redis.Redis, run_id: str) -> bool:
    """True while the sweep's orchestrator still collects results."""
    return r.hget(keys.walker_run(run_id), "state") == RUN_STATE_RUNNING


@app.task(name="btfarm.backtest_chunk", bind=True, autoretry_for=(redis.ConnectionError,),
          retry_backoff=True, max_retries=get_settings().task_max_retries)
def backtest_chunk(self, **payload: Any) -> dict[str, Any]:
    chunk = Chunk.model_validate(payload)
    r = worker_client()
    inbox = keys.walker_inbox(chunk.run_id)
    worker = _worker_name()
    results: list[dict[str, Any]] = []

    def report(record: dict[str, Any]) -> None:
        results.append(record)
        pipe = r.pipeline(transaction=False)
        pipe.rpush(inbox, dumps(record))
        pipe.expire(inbox, keys.WALKER_RESULT_TTL_SECONDS)
        pipe.execute()

    poller = StopPoller(r, "walker", chunk.symbol, chunk.walker_name)
    total = len(chunk.variants)
    for index, variant in enumerate(chunk.variants):
        if poller.stopped() or not sweep_is_live(r, chunk.run_id):
            reason = "walker stopped before this variant started"
            for rest in chunk.variants[index:]:
                report(result_record(rest, "stopped", error=reason, worker=worker))
            break
        if self.request.id:
            self.update_state(state="PROGRESS", meta={
                "walker_name": chunk.walker_name, "symbol": chunk.symbol, "done": index,
                "total": total, "variant": variant.strategy_name})
        try:
            report(run_variant(chunk, variant, poller.stopped, worker))
        except SoftTimeLimitExceeded:
            reason = (f"task soft time limit ({get_settings().task_soft_time_limit:g} s) reached; "
                      "raise BTFARM_TASK_SOFT_TIME_LIMIT or lower BTFARM_CHUNK_SIZE")
            for rest in chunk.variants[index:]:
                report(result_record(rest, "failed", error=reason, worker=worker))
            break
    # the records already went to the inbox; the task result only says what happened (Flower shows it)
    return {"run_id": chunk.run_id, "symbol": chunk.symbol, "walker_name": chunk.walker_name,
            "variants": [{"strategy_name": r["strategy_name"], "status": r["status"]} for r in results]}


def run_variant(chunk: Chunk, variant: Variant, should_stop, worker: str) -> dict[str, Any]:
    """Backtest one variant here; its result record (never raises for the variant's own faults)."""
    started = time.perf_counter()
    needed_by = f"btfarm.backtest_chunk of walker {chunk.walker_name!r}"
    try:
        strategy = get_strategy(variant.base, needed_by)
        exchange = get_exchange(chunk.exchange_name, needed_by)
        frame = get_frame(chunk.frame_name, needed_by)
        risk = get_risk(strategy.risk_name, needed_by) if strategy.risk_name else None
    except NotRegisteredError as exc:
        where = f"`btfarm worker --import {variant.module}` (or BTFARM_IMPORTS={variant.module})" \
            if variant.module else "`btfarm worker --import MODULE` (or BTFARM_IMPORTS)"
        return result_record(variant, "failed", worker=worker, error=(
            f"not registered on worker {worker}: {exc}; start the worker with {where} "
            "so it registers the same strategies, exchanges and frames as the orchestrator"))
    try:
        candles = candle_cache.candles_for(exchange, frame, chunk.symbol)
        run = BacktestRun(strategy, exchange, frame, chunk.symbol, candles, params=variant.params,
                          strategy_name=variant.strategy_name, risk=risk)
        for _ in run.steps(should_stop):
            pass
    except SoftTimeLimitExceeded:
        raise
    except BtfarmError as exc:
        return result_record(variant, "failed", worker=worker, error=f"{type(exc).__name__}: {exc}",
                             seconds=time.perf_counter() - started)
    except Exception as exc:  # a bug in user code fails its variant, not the sweep
        tail = traceback.format_exception(exc)[-3:]
        return result_record(variant, "failed", worker=worker, seconds=time.perf_counter() - started,
                             error=f"{type(exc).__name__}: {exc} ({''.join(tail).strip()[-400:]})")
    if run.stopped:
        return result_record(variant, "stopped", worker=worker, error="walker stopped while it ran",
                             seconds=time.perf_counter() - started)
    stats = compute_statistics(run.closed).model_dump(mode="json")
    return result_record(variant, "done", stats=stats, fingerprint=run.fingerprint(), worker=worker,
                         seconds=time.perf_counter() - started)

"""One variant of a chunk, run on this worker: ``run_variant`` backtests it (a portfolio
variant: runs the portfolio, ``run_portfolio_variant``) and returns its result record,
never raising for the variant's own faults (a strategy missing from this worker's
registry, its exception, a MemoryError): those fail the variant, not the chunk.
The chunk's loop (claims, batches, blocks) is tasks.py's.

``code_mismatch`` is the check that this worker runs the orchestrator's code: its btfarm
version and the strategy's source (``Chunk.code``).
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine.lifecycle import REJECTION_SAMPLES
from btfarm.shared.engine.portfolio_run import PortfolioRun
from btfarm.shared.errors import BtfarmError, NotRegisteredError, StrategyError
from btfarm.shared.fingerprint import btfarm_version, source_hash
from btfarm.shared.payloads import Chunk, Variant, result_record
from btfarm.shared.registry import (
    get_exchange,
    get_frame,
    get_portfolio,
    get_risk,
    get_strategy,
)
from btfarm.shared.settings import get_settings

from . import candle_cache

CODE_MISMATCH = "code differs"  # starts a refusal (and an older btfarm's variant error) when a worker runs other code


def _fail_on_strategy_error(kind: str, record: dict[str, Any]) -> None:
    """In a sweep, the first exception raised by a strategy's own code fails its
    variant (a plain backtest reports it and goes on): a ranking of code that
    crashed means nothing. The soft time limit and ``MemoryError`` surface as
    themselves, whatever the strategy was doing when they hit."""
    error = record.get("error")
    if kind != "error" or not isinstance(error, StrategyError):
        return
    if isinstance(error.__cause__, SoftTimeLimitExceeded | MemoryError):
        raise error.__cause__
    raise error


def run_variant(chunk: Chunk, variant: Variant, should_stop, worker: str) -> dict[str, Any]:
    """Backtest one variant here; its result record (never raises for the variant's own faults)."""
    if variant.kind == "portfolio":
        return run_portfolio_variant(chunk, variant, should_stop, worker)
    started = time.perf_counter()
    needed_by = f"btfarm.backtest_chunk of walker {chunk.walker_name!r}"
    try:
        strategy = get_strategy(variant.base, needed_by)
        exchange = get_exchange(chunk.exchange_name, needed_by)
        frame = get_frame(chunk.frame_name, needed_by)
        risk = get_risk(strategy.risk_name, needed_by) if strategy.risk_name else None
    except NotRegisteredError as exc:
        return _not_registered(variant, worker, exc)
    mismatch = code_mismatch(chunk, variant.base, strategy, worker)
    if mismatch:
        return result_record(variant, "failed", worker=worker, error=mismatch)
    try:
        candles = candle_cache.candles_for(exchange, frame, chunk.symbol)
        # a variant's result is its statistics (shared/payloads.py): skip building per-signal records
        run = BacktestRun(
            strategy,
            exchange,
            frame,
            chunk.symbol,
            candles,
            params=variant.params,
            strategy_name=variant.strategy_name,
            risk=risk,
            stats_only=True,
        )
        if not run.uses_vector_form:  # (a listener would take a vectorised run off its fast lane)
            run.listener = _fail_on_strategy_error
        for _ in run.steps(should_stop):
            pass
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # the variant's own fault fails it, not the chunk
        return _failed(variant, worker, started, exc)
    if run.stopped:
        return _stopped(variant, worker, started)
    stats = run.statistics().model_dump(mode="json")
    return result_record(
        variant,
        "done",
        stats=stats,
        fingerprint=run.fingerprint(),
        worker=worker,
        seconds=time.perf_counter() - started,
        rejections=run.core.rejections,
        daily=run.daily_pnl(),
        lane=run.lane,  # the walk that ran it: the report says which strategies left the C loop
    )


def run_portfolio_variant(
    chunk: Chunk, variant: Variant, should_stop, worker: str
) -> dict[str, Any]:
    """Run one portfolio variant here (``PortfolioRun`` with the variant's params, every member
    on its own symbol: the chunk's symbol is not read); its record is a strategy variant's,
    over every member's closed trades, so the tally ranks it beside them."""
    started = time.perf_counter()
    needed_by = f"btfarm.backtest_chunk of walker {chunk.walker_name!r}"
    try:
        portfolio = get_portfolio(variant.base, needed_by)
        exchange = get_exchange(portfolio.exchange_name, needed_by)
        frame = get_frame(portfolio.frame_name, needed_by)
        strategies = {
            m.strategy_name: get_strategy(m.strategy_name, needed_by) for m in portfolio.members
        }
    except NotRegisteredError as exc:
        return _not_registered(variant, worker, exc)
    for name, strategy in strategies.items():
        mismatch = code_mismatch(chunk, name, strategy, worker)
        if mismatch:
            return result_record(variant, "failed", worker=worker, error=mismatch)
    try:
        candles = {
            m.symbol: candle_cache.candles_for(exchange, frame, m.symbol) for m in portfolio.members
        }
        run = PortfolioRun(
            portfolio,
            variant.params,
            listener=_fail_on_strategy_error,
            candles=candles,
            needed_by=needed_by,
        )
        for _ in run.steps(should_stop):
            pass
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # the variant's own fault fails it, not the chunk
        return _failed(variant, worker, started, exc)
    if run.stopped:
        return _stopped(variant, worker, started)
    rejections = list(dict.fromkeys(r for m in run.members for r in m.core.rejections))
    return result_record(
        variant,
        "done",
        stats=run.statistics().model_dump(mode="json"),
        fingerprint=run.fingerprint(variant.strategy_name),
        worker=worker,
        seconds=time.perf_counter() - started,
        rejections=rejections[:REJECTION_SAMPLES],
        daily=run.daily_pnl(),
        lane="portfolio",
    )


def _not_registered(variant: Variant, worker: str, exc: NotRegisteredError) -> dict[str, Any]:
    where = (
        f"`btfarm worker --import {variant.module}` (or BTFARM_IMPORTS={variant.module})"
        if variant.module
        else "`btfarm worker --import MODULE` (or BTFARM_IMPORTS)"
    )
    return result_record(
        variant,
        "failed",
        worker=worker,
        error=(
            f"not registered on worker {worker}: {exc}; start the worker with {where} "
            "so it registers the same strategies, exchanges and frames as the orchestrator"
        ),
    )


def _stopped(variant: Variant, worker: str, started: float) -> dict[str, Any]:
    return result_record(
        variant,
        "stopped",
        worker=worker,
        error="walker stopped while it ran",
        seconds=time.perf_counter() - started,
    )


def _failed(variant: Variant, worker: str, started: float, exc: Exception) -> dict[str, Any]:
    """The record of a variant whose run raised ``exc``: out of memory, a btfarm error (its
    message says what and where), or a bug in user code (the last lines of its traceback)."""
    seconds = time.perf_counter() - started
    if isinstance(exc, MemoryError):
        limit = get_settings().worker_max_memory_mb
        error = (
            f"MemoryError: the variant allocated past the worker's memory cap "
            f"({limit} MB, BTFARM_WORKER_MAX_MEMORY_MB)"
        )
    elif isinstance(exc, BtfarmError):
        error = f"{type(exc).__name__}: {exc}"
    else:
        tail = traceback.format_exception(exc)[-3:]
        error = f"{type(exc).__name__}: {exc} ({''.join(tail).strip()[-400:]})"
    return result_record(variant, "failed", worker=worker, seconds=seconds, error=error)


def code_mismatch(chunk: Chunk, base: str, strategy: Any, worker: str) -> str | None:
    """Why this worker must not run ``base`` for ``chunk``: it runs other code than the
    orchestrator (its btfarm, or the strategy's source), or None. (A chunk is refused
    whole before it runs, ``chunk_refusal``; this stays as the last check per variant.)"""
    other_version = version_mismatch(chunk, worker)
    if other_version:
        return other_version
    wanted = chunk.code.get(base)
    if wanted and wanted != source_hash(strategy):
        return (
            f"{CODE_MISMATCH}: worker {worker} runs strategy {base} at {source_hash(strategy)}, "
            f"the orchestrator at {wanted}: restart it with the same code"
        )
    return None


def version_mismatch(chunk: Chunk, worker: str) -> str | None:
    if chunk.btfarm_version and chunk.btfarm_version != btfarm_version():
        return (
            f"{CODE_MISMATCH}: worker {worker} runs btfarm {btfarm_version()}, the orchestrator "
            f"{chunk.btfarm_version}: restart it with the same code"
        )
    return None

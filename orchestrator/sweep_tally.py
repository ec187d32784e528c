"""A sweep's results as they arrive: counted, best-so-far kept, ranked on demand."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis

from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.payloads import Variant
from btfarm.shared.ranking import metric_value, rank
from btfarm.shared.registry import get_exchange, get_frame, get_risk, get_strategy
from btfarm.shared.stats import BacktestStatistics
from btfarm.shared.store import run_status
from btfarm.workers import candle_cache

from .walker_data import RankedStrategy, WalkerData, WalkerProgress


class SweepTally:
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
            rejections=self.rejections(), min_trades=self.min_trades, coverage=self.coverage,
            variants={v.strategy_name: (v.base, v.params) for v in self.variants})

    def queue_status(self, pipe: redis.client.Pipeline, inst: Any) -> None:
        """The instance status (progress, tested, best) as commands on ``pipe``."""
        run_status.queue_status(
            pipe, "walker", inst.symbol, inst.name, "running", id=inst.id,
            progress=len(self.records) / max(len(self.variants), 1),
            strategies_tested=self.tested, total_strategies=len(self.variants),
            best_strategy=self.best[0] if self.best else "")

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

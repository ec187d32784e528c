"""A sweep's results as they arrive: counted, best-so-far kept, ranked on demand."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import redis

from btfarm.orchestrator.results.status import NOT_RUN_STOPPED, VariantStatus
from btfarm.orchestrator.results.trust import TrustFigures, trust_figures
from btfarm.orchestrator.results.walker_data import RankedStrategy, WalkerData
from btfarm.orchestrator.sweeps.held_records import HeldRecords
from btfarm.orchestrator.sweeps.progress_log import Entries, Entry
from btfarm.shared import daily_pnl
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine.portfolio_run import PortfolioRun
from btfarm.shared.ranking import metric_value, rank
from btfarm.shared.registry import get_exchange, get_frame, get_portfolio, get_risk, get_strategy
from btfarm.shared.result_block import ResultBlock, pack_records
from btfarm.shared.stats import BacktestStatistics
from btfarm.shared.store import run_status
from btfarm.shared.variant_space import VariantSpace
from btfarm.workers import candle_cache


class SweepTally:
    """The results of one run as they arrive, ranked on demand in walker order.

    Results arrive as columnar blocks (shared/result_block.py) and are counted with numpy:
    per variant a status byte, its metric and its count of closed signals in arrays, and
    its record in the block it came in (sweeps/held_records.py), decoded when read. A sweep
    of a million variants is held in a few tens of MB, and no result costs a JSON decode
    or a Python object as it arrives."""

    def __init__(
        self,
        walker_name: str,
        symbol: str,
        exchange_name: str,
        frame_name: str,
        metric: str,
        variants: VariantSpace,
        run_id: str,
        chunk_size: int,
        min_trades: int = 0,
        min_dsr: float | None = None,
        max_pbo: float | None = None,
    ) -> None:
        self.min_trades, self.min_dsr, self.max_pbo = min_trades, min_dsr, max_pbo
        self._figures: tuple[int, tuple] | None = None  # (adds, trust_figures) of the last data()
        self.coverage = ""
        self.walker_name, self.symbol, self.metric = walker_name, symbol, metric
        self.exchange_name, self.frame_name = exchange_name, frame_name
        self.variants = variants
        total = len(variants)
        self.held = HeldRecords(total)
        self.status = np.zeros(total, dtype=np.int8)  # VariantStatus per variant
        self.metric_values = np.full(total, np.nan)  # a done variant's metric (NaN: none)
        self.signals = np.zeros(total)  # a done variant's closed signals
        self.best: tuple[str, float, int] | None = None  # name, metric, walker order
        self.run_id, self.chunk_size = run_id, chunk_size
        self.started = time.monotonic()
        self.seconds = 0.0
        self.stopped = False
        self.duplicates = 0
        self.resumed = 0
        self.interrupted: str | None = None  # why the sweep ended without every result
        self._done = 0  # records with status "done" (counted as they come: a sweep asks per result)
        self._adds = 0  # blocks added: the figures are computed again only after one
        self.search_trials: list[
            tuple[int, str]
        ] = []  # a search's (trial number, variant), in order
        self.search_spec = ""  # a search's sampler, space and study (searches/run.py)
        self.search_note = ""  # why a search ended before n_trials ran
        self._timed = [0.0, 0]  # seconds and count of the done variants' run times

    @property
    def tested(self) -> int:
        return self._done

    @property
    def received(self) -> int:
        """Variants with a record (done, failed or stopped)."""
        return len(self.held)

    @property
    def records(self) -> RecordsView:
        """Every record held, by variant name, in walker order (decoded when read)."""
        return RecordsView(self)

    def name_of(self, index: int) -> str:
        return self.variants.name(index)

    def seconds_per_variant(self) -> float | None:
        return self._timed[0] / self._timed[1] if self._timed[1] else None

    def add(self, record: dict[str, Any], raw: str | None = None) -> Entry | None:
        """Count one ``record`` (``raw``: its JSON, unused; kept for callers that have it); the
        progress entry it makes (sweeps/progress_log.py), or None for a "stopped" record."""
        entries = self.add_block(pack_records([record]), np.zeros(1, dtype=np.int64))
        if entries is None or not len(entries.index):
            return None
        return int(entries.index[0]), int(entries.tested[0]), int(entries.best[0])

    def add_block(self, block: ResultBlock, rows: np.ndarray) -> Entries | None:
        """Count ``rows`` of ``block`` (each a variant not counted in this call before); the
        progress entries they make, in their order ("stopped" rows make none: no progress)."""
        if not len(rows):
            return None
        self._adds += 1
        indices = block.index[rows]
        codes = block.status[rows].astype(np.int8)
        done = codes == VariantStatus.DONE
        tested = self._done + np.cumsum(
            done.astype(np.int64) - (self.status[indices] == VariantStatus.DONE)
        )
        self._done = int(tested[-1])
        self.status[indices] = codes
        self.held.put(block, rows)
        seconds = block.seconds[rows]
        timed = done & (seconds > 0)
        self._timed[0] += float(seconds[timed].sum())
        self._timed[1] += int(timed.sum())
        metric = np.where(done, block.stat(self.metric)[rows], np.nan)
        signals = np.nan_to_num(block.stat("total_signals")[rows], nan=0.0)
        self.metric_values[indices] = metric
        self.signals[indices] = signals
        best_after = np.full(len(rows), self.best[2] if self.best else -1, dtype=np.int64)
        # the best changes only at a ranked row: the loop runs over those alone
        for k in np.flatnonzero(done & ~np.isnan(metric) & (signals >= self.min_trades)):
            value, index = float(metric[k]), int(indices[k])
            if (
                self.best is None
                or value > self.best[1]
                or (value == self.best[1] and index < self.best[2])
            ):
                self.best = (self.name_of(index), value, index)
            best_after[k:] = self.best[2]
        shown = codes != VariantStatus.STOPPED
        return Entries(indices[shown], tested[shown], best_after[shown])

    def any_stopped(self) -> bool:
        return bool((self.status == VariantStatus.STOPPED).any())

    def unfinished(self) -> dict[str, str]:
        out = {}
        for found in np.flatnonzero(self.status != VariantStatus.DONE):
            index = int(found)
            record = self.held.get(index)
            if self.status[index] == VariantStatus.PENDING or record is None:
                out[self.name_of(index)] = (
                    NOT_RUN_STOPPED if self.stopped else self.interrupted or "no result received"
                )
            else:
                out[record["strategy_name"]] = (
                    f"{record['status']}: {record.get('error') or ''}".rstrip(": ")
                )
        return out

    def unranked_reason(self, record: dict[str, Any]) -> str | None:
        """Why a finished variant is listed but not ranked (not comparable), or None."""
        stats = record["stats"] or {}
        trades = stats.get("total_signals", 0)
        if trades < self.min_trades:
            rejected = stats.get("rejected_signals", 0)
            return f"{trades} closed signals, fewer than min_trades={self.min_trades}" + (
                f" ({rejected} signals rejected)" if rejected else ""
            )
        return None

    def finished(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, record) of every done variant, in walker order, without its PnL per day
        (``dailies`` streams those: 10,000 years of them were ~45 MB held beside the rest)."""
        found = {}
        for index, rec in self._done_records():
            rec.pop("daily", None)
            for key in (
                "stats",
                "fingerprint",
            ):  # the same keys (and mostly values) in every record
                if isinstance(rec.get(key), dict):
                    rec[key] = _shared_strings(rec[key])
            found[index] = rec
        return [(found[i]["strategy_name"], found[i]) for i in sorted(found)]

    def dailies(self) -> Iterator[tuple[str, daily_pnl.Daily | None]]:
        """(name, PnL per day) of every done variant, in the order its result came."""
        for block, rows in self._done_rows():
            for row in rows:
                yield self.name_of(int(block.index[row])), block.daily(int(row))

    def _done_rows(self) -> Iterator[tuple[ResultBlock, np.ndarray]]:
        """(block, its current rows of done variants), in the order the blocks came."""
        for block, rows in self.held.current():
            done = rows[self.status[block.index[rows]] == VariantStatus.DONE]
            if len(done):
                yield block, done

    def _done_records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, record) of every done variant, in the order its result came."""
        for block, rows in self._done_rows():
            for row in rows:
                yield int(block.index[row]), block.record(int(row))

    def data(self) -> WalkerData:
        finished = self.finished()
        unranked = {name: why for name, rec in finished if (why := self.unranked_reason(rec))}
        done = [(name, rec) for name, rec in finished if name not in unranked]
        ranked = rank([(name, rec["stats"]) for name, rec in done], self.metric)
        by_name = dict(finished)
        figures, per_variant = self._trust_figures([(name, by_name[name]) for name, _ in ranked])
        refused = self.refusal(figures)
        best = self.best if self.best and refused is None else None
        return WalkerData(
            walker_name=self.walker_name,
            symbol=self.symbol,
            exchange_name=self.exchange_name,
            frame_name=self.frame_name,
            metric=self.metric,
            total_strategies=len(self.variants),
            strategies_tested=len(finished),
            best_strategy=best[0] if best else None,
            best_metric=best[1] if best else None,
            trust=figures,
            refused=refused,
            min_dsr=self.min_dsr,
            max_pbo=self.max_pbo,
            search_trials=list(self.search_trials),
            search_spec=self.search_spec,
            search_note=self.search_note,
            strategies=[
                RankedStrategy(
                    rank=i,
                    strategy_name=name,
                    stats=stats,
                    metric_value=metric_value(stats, self.metric),
                    params=by_name[name].get("params"),
                    daily_sharpe=per_variant.get(name, (None, None))[0],
                    deflated_sharpe=per_variant.get(name, (None, None))[1],
                )
                for i, (name, stats) in enumerate(ranked, start=1)
            ],
            unfinished=self.unfinished(),
            stopped=self.stopped,
            run_id=self.run_id,
            chunk_size=self.chunk_size,
            seconds=self.seconds,
            duplicates_dropped=self.duplicates,
            resumed=self.resumed,
            interrupted=self.interrupted is not None,
            fingerprints={
                name: rec["fingerprint"] for name, rec in finished if rec.get("fingerprint")
            },
            lanes={name: rec["lane"] for name, rec in finished if rec.get("lane")},
            unranked={name: (why, by_name[name]["stats"]) for name, why in unranked.items()},
            rejections={
                name: (rec["stats"]["rejected_signals"], rec.get("rejections") or [])
                for name, rec in finished
                if (rec["stats"] or {}).get("rejected_signals")
            },
            min_trades=self.min_trades,
            coverage=self.coverage,
            variants={name: (base, params) for name, base, params in self.variants.named_params()},
        )

    def _trust_figures(self, ranked: list[tuple[str, dict[str, Any]]]):
        """trust_figures of the ranked records, computed again only after a new result."""
        if self._figures is None or self._figures[0] != self._adds:
            winner = self.best[0] if self.best else None
            self._figures = (self._adds, trust_figures(ranked, winner, self.dailies()))
        return self._figures[1]

    def refusal(self, figures: TrustFigures) -> str | None:
        """Why the walker's thresholds refuse its winner (min_dsr, max_pbo), or None."""
        if self.best is None:
            return None
        why = []
        if self.min_dsr is not None:
            dsr = figures.deflated_sharpe
            if dsr is None:
                why.append(
                    f"its deflated Sharpe ratio could not be computed "
                    f"({figures.missing.get('deflated_sharpe', '')}) and the walker asks min_dsr={self.min_dsr:g}"
                )
            elif dsr < self.min_dsr:
                why.append(
                    f"its deflated Sharpe ratio is {dsr:.3f}, below the walker's min_dsr={self.min_dsr:g}"
                )
        if self.max_pbo is not None:
            pbo = figures.pbo
            if pbo is None:
                why.append(
                    f"the probability of backtest overfitting could not be computed "
                    f"({figures.missing.get('pbo', '')}) and the walker asks max_pbo={self.max_pbo:g}"
                )
            elif pbo > self.max_pbo:
                why.append(
                    f"the probability of backtest overfitting is {pbo:.3f}, above the walker's "
                    f"max_pbo={self.max_pbo:g}"
                )
        return f"{self.best[0]} is not named the winner: " + "; ".join(why) if why else None

    def queue_status(self, pipe: redis.client.Pipeline, inst: Any) -> None:
        """The instance status (progress, tested, best) as commands on ``pipe``; progress is the
        share of variants that ran (a "stopped" record is a variant a stop left unrun)."""
        ran = self.received - int(np.count_nonzero(self.status == VariantStatus.STOPPED))
        run_status.queue_status(
            pipe,
            "walker",
            inst.symbol,
            inst.name,
            "running",
            id=inst.id,
            progress=ran / max(len(self.variants), 1),
            strategies_tested=self.tested,
            total_strategies=len(self.variants),
            best_strategy=self.best[0] if self.best else "",
        )

    def closed_for(
        self, names: Sequence[str]
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, BacktestStatistics]]:
        """The closed signals of ``names``, recomputed here (results never carry them, see
        shared/payloads.py; a backtest is deterministic), and their statistics, which
        the report checks against the ranked ones."""
        needed_by = "Walker.get_report"
        out: dict[str, list[dict[str, Any]]] = {}
        stats: dict[str, BacktestStatistics] = {}
        if not names:
            return out, stats
        exchange = get_exchange(self.exchange_name, needed_by)
        frame = get_frame(self.frame_name, needed_by)
        wanted = set(names)
        by_name = {v.strategy_name: v for v in self.variants if v.strategy_name in wanted}
        candles = candle_cache.candles_for(exchange, frame, self.symbol)
        for name in names:
            variant = by_name[name]
            if variant.kind == "portfolio":  # every member on its own symbol (PortfolioRun)
                portfolio = PortfolioRun(
                    get_portfolio(variant.base, needed_by), variant.params, needed_by=needed_by
                ).run()
                out[name], stats[name] = list(portfolio.closed), portfolio.statistics()
                continue
            strategy = get_strategy(variant.base, needed_by)
            risk = get_risk(strategy.risk_name, needed_by) if strategy.risk_name else None
            run = BacktestRun(
                strategy,
                exchange,
                frame,
                self.symbol,
                candles,
                params=variant.params,
                strategy_name=name,
                risk=risk,
            )
            out[name] = run.run()
            stats[name] = run.statistics()
        return out, stats


class RecordsView(Mapping[str, dict[str, Any]]):
    """A tally's records by variant name, in walker order, decoded as read."""

    def __init__(self, tally: SweepTally) -> None:
        self._tally = tally

    def __len__(self) -> int:
        return self._tally.received

    def __iter__(self) -> Iterator[str]:
        return (self._tally.name_of(int(i)) for i in self._tally.held.indices())

    def __getitem__(self, name: str) -> dict[str, Any]:
        for index in self._tally.held.indices():
            record = self._tally.held.get(int(index))
            if record is not None and self._tally.name_of(int(index)) == name:
                return record
        # protocol: a Mapping raises KeyError for a missing key
        raise KeyError(name)

    def items(self):
        return [(rec["strategy_name"], rec) for _, rec in self._tally.held.items()]

    def values(self):
        return [rec for _, rec in self._tally.held.items()]


def _shared_strings(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with its keys and text values interned: each parsed record had its own
    copies of the 30 statistics' names and the fingerprint's hashes (~25 MB per 10,000)."""
    return {sys.intern(k): sys.intern(v) if isinstance(v, str) else v for k, v in values.items()}

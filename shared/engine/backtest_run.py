"""One backtest of one strategy variant: load candles, walk the frame, collect results.

The unit of work both ``Backtest`` (in process) and a worker task run, so
a variant gives the same closed signals wherever it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..candles import Candles
from ..coverage import Coverage, check_coverage
from ..daily_pnl import daily_record
from ..engine_config import EngineConfig, get_config
from ..errors import ConfigError
from ..exchanges.loading import load_candles
from ..fingerprint import fingerprint
from ..frames import frame_bounds, frame_ticks
from ..intervals import MINUTE_MS
from ..schemas import ExchangeSchema, FrameSchema, RiskSchema, StrategySchema
from ..settings import get_settings
from ..stats import BacktestStatistics, compute_statistics, statistics_from_arrays
from .batch_walk import COLUMNS, Columns, eligible, walk_batch
from .event_walk import walk_events
from .intents import compute_intents
from .lifecycle import StrategyCore
from .vector_walk import walk_vector

Listener = Callable[[str, dict[str, Any]], None]


def frame_load_range(frame: FrameSchema, cfg: EngineConfig | None = None) -> tuple[int, int]:
    """[first, last] open times (ms) of the 1m candles a backtest of ``frame`` reads:
    the warm-up before it, and the minute after it, where an open position expires
    (SEMANTICS.md 2)."""
    cfg = cfg or get_config()
    start, end = frame_bounds(frame)
    return start - cfg.CC_WARMUP_MINUTES * MINUTE_MS, end + MINUTE_MS


def load_frame_candles(
    exchange: ExchangeSchema, frame: FrameSchema, symbol: str, cfg: EngineConfig | None = None
) -> Candles:
    """The 1m candles a backtest of ``frame`` needs (``frame_load_range``)."""
    return load_candles(exchange, symbol, *frame_load_range(frame, cfg))


def _ticks_of(candles: Candles, frame: FrameSchema) -> np.ndarray:
    """The frame's ticks, kept on the candles: every variant of a sweep walks the same ones
    (a year of 1m ticks is 4 MB, a fresh allocation per variant cost ~1-3 ms in page faults)."""
    key = ("frame_ticks", *frame_bounds(frame), frame.interval)
    ticks = candles.memo.get(key)
    if ticks is None:
        ticks = frame_ticks(frame)
        ticks.flags.writeable = False  # shared by every run on these candles
        candles.memo[key] = ticks
    return ticks


@dataclass
class BacktestRun:
    """A configured run; iterate ``steps()`` to drive it, read ``closed`` as it goes."""

    strategy: StrategySchema
    exchange: ExchangeSchema
    frame: FrameSchema
    symbol: str
    candles: Candles
    params: dict[str, Any] | None = None
    strategy_name: str | None = None  # a sweep variant's name, e.g. sma-cross[fast=5,slow=20]
    risk: RiskSchema | None = None
    cfg: EngineConfig = field(default_factory=get_config)
    listener: Listener | None = None
    closed: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # non-closed events, when kept
    keep_events: bool = False
    form: str = "auto"  # "event" (get_signal), "vector" (get_signals), "auto": vector when given
    batch_lane: bool = True  # quiet vectorised runs take the batch lane
    stats_only: bool = (
        False  # the batch lane keeps only what statistics need; ``closed`` stays empty
    )
    stopped: bool = False
    lane: str = (
        ""  # which walk ran: "event", "vector" or "batch" (see the map in engine/__init__.py)
    )
    columns: Columns | None = None  # what a stats-only batch run kept per trade

    def __post_init__(self) -> None:
        # refused here, before any tick: a walk past the data would invent trades
        self.coverage: Coverage = check_coverage(
            self.candles,
            self.exchange.exchange_name,
            self.symbol,
            self.frame,
            get_settings().max_gap_minutes,
        )
        self.ticks: np.ndarray = _ticks_of(self.candles, self.frame)
        self.core = StrategyCore(
            self.strategy,
            self.symbol,
            self.exchange.exchange_name,
            self.cfg,
            self._emit,
            frame_name=self.frame.frame_name,
            frame_end_ms=frame_bounds(self.frame)[1],
            params=self.params,
            risk=self.risk,
            strategy_name=self.strategy_name,
        )
        self.core.use_candles(self.candles)  # (a hook's context reads them, in every lane)

    def _emit(self, kind: str, record: dict[str, Any]) -> None:
        if kind == "closed":
            self.closed.append(record)
        elif self.keep_events:
            self.events.append(record)
        if self.listener is not None:
            self.listener(kind, record)

    def statistics(self) -> BacktestStatistics:
        """Statistics of the closed signals (from the columns of a stats-only run)."""
        if self.columns is not None:
            pnl, pending_at, close_at, peak, fall = (
                np.asarray(self.columns[k], dtype=float) for k in COLUMNS
            )
            return statistics_from_arrays(
                pnl, pending_at, close_at, peak, fall, rejected=self.core.rejected
            )
        return compute_statistics(self.closed, rejected=self.core.rejected)

    def daily_pnl(self) -> dict[str, Any]:
        """The closed signals' PnL per day of the frame, sparse (daily_pnl.py)."""
        if self.columns is not None:
            pnl, close_at = self.columns["pnl"], self.columns["close_timestamp"]
        else:
            pnl = [c["pnl"]["pnl_percentage"] for c in self.closed]
            close_at = [c["close_timestamp"] for c in self.closed]
        return daily_record(
            np.asarray(pnl, dtype=float),
            np.asarray(close_at, dtype=np.int64),
            *frame_bounds(self.frame),
        )

    def fingerprint(self) -> dict[str, Any]:
        """What produced this run's results (see fingerprint.py)."""
        return fingerprint(self.strategy, self.core.params, self.candles, self.cfg, self.core.name)

    @property
    def uses_vector_form(self) -> bool:
        if self.form == "vector" or (self.form == "auto" and self.strategy.get_signals is not None):
            if self.strategy.get_signals is None:
                raise ConfigError(
                    f'strategy "{self.strategy.strategy_name}" has no get_signals (vectorised form)'
                )
            return True
        if self.strategy.get_signal is None:
            raise ConfigError(
                f'strategy "{self.strategy.strategy_name}" has no get_signal (event-driven form)'
            )
        return False

    @property
    def total_ticks(self) -> int:
        return len(self.ticks)

    def steps(self, should_stop: Callable[[], bool] | None = None) -> Iterator[int]:
        """Drive the walk; yields ticks done. Sets ``stopped`` if ``should_stop`` ended it."""
        done = 0
        if self.uses_vector_form:
            intents = compute_intents(
                self.strategy.get_signals,
                self.candles,
                self.core.params,
                self.cfg.CC_AVG_PRICE_CANDLES_COUNT,
                f'strategy "{self.core.name}" on {self.symbol}',
            )
            if (
                self.listener is None
                and not self.keep_events
                and self.batch_lane
                and eligible(self.core, intents)
            ):
                self.lane = "batch"
                if self.stats_only:
                    self.columns = {k: [] for k in COLUMNS}
                steps = walk_batch(
                    self.core,
                    self.candles,
                    self.ticks,
                    intents,
                    frame_bounds(self.frame)[1],
                    should_stop,
                    self.columns,
                )
            else:
                self.lane = "vector"
                steps = walk_vector(self.core, self.candles, self.ticks, intents, should_stop)
        else:
            self.lane = "event"
            steps = walk_events(self.core, self.candles, self.ticks, should_stop)
        for done in steps:
            yield done
        if done < len(self.ticks) and should_stop is not None and should_stop():
            self.stopped = True
        yield len(self.ticks) if not self.stopped else done

    def run(self) -> list[dict[str, Any]]:
        for _ in self.steps():
            pass
        return self.closed

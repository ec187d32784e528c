"""Hand-made candles and a recording strategy for lifecycle tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from btfarm.shared.candles import Candles
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.schemas import FrameSchema, StrategySchema

T0 = 1_735_689_600_000  # 2025-01-01T00:00Z


def flat(n: int, price: float = 100.0) -> dict[str, np.ndarray]:
    """n quiet candles at ``price`` with unit volume (VWAP = price)."""
    return {
        "timestamp": T0 + np.arange(n, dtype=np.int64) * MINUTE_MS,
        "open": np.full(n, price),
        "high": np.full(n, price),
        "low": np.full(n, price),
        "close": np.full(n, price),
        "volume": np.ones(n),
    }


def candles(columns: dict[str, np.ndarray]) -> Candles:
    return Candles(
        *(np.asarray(columns[k]) for k in ("timestamp", "open", "high", "low", "close", "volume"))
    )


def minute(i: int) -> int:
    return T0 + i * MINUTE_MS


class Script:
    """get_signal returning scripted signals at given minutes; records every call."""

    def __init__(self, signals: dict[int, Any]) -> None:
        self.signals = signals
        self.calls: list[int] = []

    def __call__(self, symbol, when):
        i = (int(when.timestamp() * 1000) - T0) // MINUTE_MS
        self.calls.append(i)
        value = self.signals.get(i)
        if isinstance(value, BaseException):
            raise value
        return value


def run(columns, script, *, interval="1m", end_minute=None, start_minute=0, cfg=None, params=None):
    """Backtest ``script`` over ``columns``; returns (run, events by kind)."""
    c = candles(columns)
    n = len(c)
    end = minute(n - 2 if end_minute is None else end_minute)
    frame = FrameSchema(
        frame_name="f", interval="1m", start_date=minute(start_minute), end_date=end
    )
    strategy = StrategySchema(strategy_name="s", interval=interval, get_signal=script)
    events: dict[str, list] = {}
    r = BacktestRun(
        strategy,
        dataframe_exchange("x", {}),
        frame,
        "SYM",
        c,
        cfg=cfg or EngineConfig(),
        params=params,
        listener=lambda kind, rec: events.setdefault(kind, []).append(rec),
    )
    r.run()
    return r, events

"""Hand-made candles for the position tests: one price per minute, and a run with hooks.

With ``CC_AVG_PRICE_CANDLES_COUNT = 1`` and candles whose high = low =
close = the minute's price, VWAP_u is exactly that price: the hook of
candle u sees ``current_price`` = P[u], and a partial, breakeven or
average buy committed in it is taken at P[u-1] (the one-candle lag).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, StrategySchema

from .market import Script, candles, flat, minute

CFG = EngineConfig(CC_AVG_PRICE_CANDLES_COUNT=1)
LONG = {
    "position": "long",
    "price_take_profit": 102.0,
    "price_stop_loss": 98.0,
    "minute_estimated_time": 60,
}
SHORT = {
    "position": "short",
    "price_take_profit": 98.0,
    "price_stop_loss": 102.0,
    "minute_estimated_time": 60,
}


def prices(
    n: int, at: dict[int, float] | None = None, base: float = 100.0
) -> dict[str, np.ndarray]:
    """n candles at ``base``; ``at`` sets minute k's price (high = low = close) from k on,
    until the next minute given."""
    m = flat(n, base)
    level = base
    for k in range(n):
        if at and k in at:
            level = at[k]
        m["high"][k] = m["low"][k] = m["close"][k] = level
        m["open"][k] = m["close"][k - 1] if k else level
    return m


def when_ms(when) -> int:
    return int(when.timestamp() * 1000)


def drive(
    m: dict[str, np.ndarray],
    signals: dict[int, Any],
    callbacks: dict[str, Callable] | None = None,
    cfg: EngineConfig = CFG,
    end_minute: int | None = None,
) -> tuple[BacktestRun, dict[str, list]]:
    """Backtest scripted signals (minute -> signal) with ``callbacks`` on 1m ticks; returns
    the run and the engine's events by kind."""
    c = candles(m)
    end = minute(len(c) - 2 if end_minute is None else end_minute)
    frame = FrameSchema(frame_name="f", interval="1m", start_date=minute(0), end_date=end)
    strategy = StrategySchema(
        strategy_name="s", interval="1m", get_signal=Script(signals), callbacks=callbacks or {}
    )
    by_kind: dict[str, list] = {}
    run = BacktestRun(
        strategy,
        dataframe_exchange("x", {}),
        frame,
        "SYM",
        c,
        cfg=cfg,
        listener=lambda kind, record: by_kind.setdefault(kind, []).append(record),
    )
    run.run()
    return run, by_kind


def only_closed(by_kind: dict[str, list]) -> dict[str, Any]:
    closed = by_kind.get("closed", [])
    assert len(closed) == 1, closed
    return closed[0]

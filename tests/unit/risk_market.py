"""A flat market and a strategy under a risk, for the tests of risk (tests/unit/test_risk_*.py).

On flat candles at 100 (VWAP 100) a long with TP 101, SL 99 never reaches
either: it closes by its lifetime, so every trade's times follow by hand from
SEMANTICS 2 (opened at the tick t, closed "time_expired" at candle
t + minute_estimated_time, the walk resumes at the next minute).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, RiskSchema, StrategySchema

from .market import Script, candles, flat, minute

LIFETIME = 5  # minutes a long lives on the flat market
START = 15  # the frame's first minute (candles from minute 0: the first ticks have a price), a 15m bucket


def long_signal(**extra: Any) -> dict[str, Any]:
    return {
        "position": "long",
        "price_take_profit": 101.0,
        "price_stop_loss": 99.0,
        "minute_estimated_time": LIFETIME,
        **extra,
    }


def every_minute(n: int = 100, **extra: Any) -> dict[int, dict[str, Any]]:
    """A long offered at every minute 0 .. n-1."""
    return {i: long_signal(**extra) for i in range(n)}


def backtest(
    script,
    *,
    risk: RiskSchema | list[RiskSchema] | None = None,
    interval: str = "1m",
    minutes: int = 30,
    risk_name: str | None = None,
    risk_list: list[str] | None = None,
    get_signals=None,
    form: str = "auto",
    batch_lane: bool = True,
    listen: bool = True,
    callbacks: dict | None = None,
    stats_only: bool = False,
) -> tuple[BacktestRun, dict[str, list]]:
    """Backtest a strategy on flat candles from minute 0, over the frame of minutes START ..
    START + minutes - 1; returns the run and its events by kind (none with ``listen`` False)."""
    c = candles(flat(START + minutes + 2))
    frame = FrameSchema(
        frame_name="f",
        interval="1m",
        start_date=minute(START),
        end_date=minute(START + minutes - 1),
    )
    fields: dict[str, Any] = {
        "strategy_name": "s",
        "interval": interval,
        "risk_name": risk_name,
        "risk_list": risk_list or [],
        "callbacks": callbacks or {},
    }
    if script is not None:
        fields["get_signal"] = script
    if get_signals is not None:
        fields["get_signals"] = get_signals
    strategy = StrategySchema(**fields)
    events: dict[str, list] = {}
    run = BacktestRun(
        strategy,
        dataframe_exchange("x", {}),
        frame,
        "SYM",
        c,
        cfg=EngineConfig(),
        risk=risk,
        form=form,
        batch_lane=batch_lane,
        stats_only=stats_only,
        listener=(lambda kind, rec: events.setdefault(kind, []).append(rec)) if listen else None,
    )
    run.run()
    return run, events


def minutes_of(values) -> list[int]:
    """Epoch ms as minutes after minute 0."""
    return [int((v - minute(0)) // 60_000) for v in values]


def offer_longs(n: int):
    """``get_signals`` offering a long at every candle (the vector form of ``every_minute``)."""

    def get_signals(candles, price, params):
        k = len(candles)
        return {
            "position": np.ones(k),
            "price_take_profit": np.full(k, 101.0),
            "price_stop_loss": np.full(k, 99.0),
            "minute_estimated_time": LIFETIME,
        }

    return get_signals


__all__ = [
    "LIFETIME",
    "START",
    "Script",
    "backtest",
    "every_minute",
    "long_signal",
    "minute",
    "minutes_of",
    "offer_longs",
]

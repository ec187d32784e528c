"""Registrations that test subprocesses (CLI runs, workers) import by module name."""

from __future__ import annotations

import time

from btfarm.shared.demo import register_demo, sma_cross_signal
from btfarm.shared.registry import add_frame, add_strategy

SLOW_CALL_SECONDS = 0.002  # makes a one-month 1m backtest last over a minute, so it can be stopped


def slow_sma(symbol, when):
    time.sleep(SLOW_CALL_SECONDS)
    return sma_cross_signal(symbol, when)


register_demo()
add_frame(
    frame_name="month-1m",
    interval="1m",
    start_date="2024-03-01T00:00:00Z",
    end_date="2024-03-31T23:59:00Z",
    override=True,
)
add_strategy(
    strategy_name="slow-sma",
    interval="1m",
    get_signal=slow_sma,
    params={"fast": 10, "slow": 30},
    override=True,
)

"""A strategy module to copy: the benchmark strategy "sma-cross-5m" on the reference data.

Run it:
    btfarm backtest examples/sma_cross_5m.py --symbol SIMUSDT --strategy sma-cross-5m \
        --exchange sim --frame sim-30d

A module like this only registers things; btfarm imports it (the CLI here,
workers with ``btfarm worker --import``), so keep side effects to
registration and keep it importable from any working directory.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from btfarm.orchestrator import (
    add_exchange,
    add_frame,
    add_strategy,
    csv_exchange,
    get_average_price,
    get_indicator,
    get_params,
)

# The reference data ships with the examples: examples/data/sim-30d-1m.csv (examples/data/README.md)
DATA = Path(__file__).resolve().parent / "data" / "sim-30d-1m.csv"


def get_signal(symbol: str, when: datetime) -> dict | None:
    """Called at most once per 5-minute bucket while no signal is open.

    ``when`` is the tick being decided; ``get_candles`` and ``get_indicator`` only see
    candles that closed before it, so nothing here can peek at the future.
    """
    params = get_params()  # a sweep variant's values override the defaults below
    fast, slow = int(params.get("fast", 10)), int(params.get("slow", 30))
    # means of the last `fast` / `slow` closes, now and 5 candles earlier; each series is computed
    # once per run and every call reads one value (what get_candles(symbol, "1m", slow).close.mean()
    # gives, up to rounding in the last digit, without summing the window at every call)
    fast_now, slow_now = get_indicator(symbol, "sma", fast), get_indicator(symbol, "sma", slow)
    fast_then, slow_then = (
        get_indicator(symbol, "sma", fast, ago=5),
        get_indicator(symbol, "sma", slow, ago=5),
    )
    if math.isnan(slow_then):
        return None  # not enough history yet
    if fast_then <= slow_then and fast_now > slow_now:
        side = 1  # fast crossed above slow: go long
    elif fast_then >= slow_then and fast_now < slow_now:
        side = -1  # fast crossed below slow: go short
    else:
        return None
    price = get_average_price(symbol)  # the 5-candle VWAP the entry will fill at
    return {
        "position": "long" if side > 0 else "short",
        "price_take_profit": price * (1 + side * 0.01),  # +1 % (a short's is below)
        "price_stop_loss": price * (1 - side * 0.01),  # -1 %
        "minute_estimated_time": 120,  # expire after two hours
        "note": f"sma {fast}/{slow}",
    }


add_exchange(csv_exchange("sim", files={"SIMUSDT": DATA}), override=True)
add_frame(
    frame_name="sim-30d",
    interval="1m",
    start_date="2025-01-01T00:00:00Z",
    end_date="2025-01-30T23:59:00Z",
    override=True,
)
add_strategy(
    strategy_name="sma-cross-5m",
    interval="5m",
    get_signal=get_signal,
    params={"fast": 10, "slow": 30},
    override=True,
)

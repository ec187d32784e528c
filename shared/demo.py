"""The strategies behind ``btfarm demo`` and the benchmarks.

"sma-cross" is the benchmark strategy of the reference data ("sma-cross-5m":
a 5-minute throttle, fast/slow simple moving averages of closes, +-1 %
take profit and stop loss, 120-minute expiry). "pullback" shows a scheduled
entry: it asks to buy a little below the price after a strong hour.
Importing this module registers nothing; ``register_demo()`` does.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from . import indicators
from .context import get_average_price, get_candles, get_params
from .exchanges.synthetic import synthetic_exchange
from .registry import add_exchange, add_frame, add_strategy, add_walker
from .schemas import sweep

TAKE_PROFIT_PERCENT = 1.0  # sma-cross: take profit this far from entry
STOP_LOSS_PERCENT = 1.0  # sma-cross: stop loss this far from entry
EXPIRY_MINUTES = 120  # sma-cross: the position expires after this long
SHIFT = 5  # sma-cross: "5 minutes earlier", in 1m candles
DEMO_SYMBOL = (
    "BTCUSDT"  # the symbol `btfarm demo` and `btfarm walker` trade on the synthetic market
)


def sma_cross_signal(symbol: str, when: datetime) -> dict | None:
    """Long when the fast SMA crosses above the slow one, short when it crosses below."""
    params = get_params()
    fast, slow = int(params.get("fast", 10)), int(params.get("slow", 30))
    closes = get_candles(symbol, "1m", slow + SHIFT).close
    if len(closes) < slow + SHIFT:
        return None
    # one running sum gives all four windows (cheaper than four numpy reductions per call)
    total = closes.cumsum()
    n = len(total)

    def mean(back: int, length: int) -> float:  # mean of closes[n - back - length : n - back]
        start = n - back - length
        return (total[n - back - 1] - (total[start - 1] if start > 0 else 0.0)) / length

    fast_now, fast_before = mean(0, fast), mean(SHIFT, fast)
    slow_now, slow_before = mean(0, slow), mean(SHIFT, slow)
    if fast_before <= slow_before and fast_now > slow_now:
        side = 1
    elif fast_before >= slow_before and fast_now < slow_now:
        side = -1
    else:
        return None
    price = get_average_price(symbol)
    return {
        "position": "long" if side > 0 else "short",
        "price_take_profit": price * (1 + side * TAKE_PROFIT_PERCENT / 100),
        "price_stop_loss": price * (1 - side * STOP_LOSS_PERCENT / 100),
        "minute_estimated_time": EXPIRY_MINUTES,
        "note": f"sma {fast}/{slow} cross",
    }


def pullback_signal(symbol: str, when: datetime) -> dict | None:
    """After an hour that rose more than ``rise`` %, bid ``dip`` % below the price."""
    params = get_params()
    rise, dip = float(params.get("rise", 1.0)), float(params.get("dip", 0.3))
    closes = get_candles(symbol, "1m", 60).close
    if len(closes) < 60 or closes[-1] / closes[0] - 1 < rise / 100:
        return None
    price = get_average_price(symbol)
    entry = price * (1 - dip / 100)
    return {
        "position": "long",
        "price_open": entry,
        "price_take_profit": entry * 1.012,
        "price_stop_loss": entry * 0.99,
        "minute_estimated_time": 240,
        "note": f"pullback {dip}% after +{np.round(rise, 2)}%",
    }


def register_demo() -> None:
    """Register the synthetic market, a 30-day frame, the two strategies and a sweep."""
    add_exchange(synthetic_exchange("synthetic"), override=True)
    add_frame(
        frame_name="demo-30d",
        interval="1m",
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-03-30T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name="sma-cross",
        interval="5m",
        get_signal=sma_cross_signal,
        get_signals=sma_cross_signals,
        params={"fast": 10, "slow": 30},
        override=True,
    )
    add_strategy(
        strategy_name="pullback",
        interval="15m",
        get_signal=pullback_signal,
        params={"rise": 1.0, "dip": 0.3},
        override=True,
    )
    add_walker(
        walker_name="demo-sweep",
        exchange_name="synthetic",
        frame_name="demo-30d",
        strategies=[
            "pullback",
            sweep("sma-cross", fast=[5, 8, 10, 12, 15, 20], slow=[20, 30, 40, 60]),
        ],
        override=True,
    )


def sma_cross_signals(candles, price: np.ndarray, params: dict) -> dict:
    """``sma_cross_signal`` for a whole frame at once (the vectorised form).

    Row k decides at the open of candle k from the closes of candles < k,
    exactly as the event-driven function does with ``get_candles``.
    """
    fast, slow = int(params.get("fast", 10)), int(params.get("slow", 30))
    # the means read from prefix sums computed once per candle set and shared by every variant
    # (indicators.py); a crossing needs the gap 5 minutes earlier, so no row before slow + SHIFT
    # has one. The sparse form (intents.py): the rows that take a position and their levels,
    # nothing per other candle (a year's per-candle arrays were 8 MB to fill per variant)
    rows, taken = indicators.sma_crossings(candles, fast, slow, SHIFT)
    at, up = price[rows], taken > 0
    return {
        "rows": rows,
        "position": taken,
        # the factors sma_cross_signal computes for side +1 / -1 (the same doubles), picked per row
        "price_take_profit": at
        * np.where(up, 1 + TAKE_PROFIT_PERCENT / 100, 1 - TAKE_PROFIT_PERCENT / 100),
        "price_stop_loss": at
        * np.where(up, 1 - STOP_LOSS_PERCENT / 100, 1 + STOP_LOSS_PERCENT / 100),
        "minute_estimated_time": EXPIRY_MINUTES,
    }

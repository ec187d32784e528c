"""The reference strategy written the plain way: "sma-cross-5m-plain" (issue 33 section 3).

What a user writes first: the four means of the README's example read as
``.mean()``s of the last closes that ``get_candles`` returns, no
``get_indicator``. Same rules, data, exchange and frame as
examples/sma_cross_5m.py (imported here, which registers them); the two
take the same trades up to the last digit of a mean (a rolling mean and a
window's ``.mean()`` may round differently).

    btfarm backtest bench/plain_strategy.py --symbol SIMUSDT --strategy sma-cross-5m-plain \
        --exchange sim --frame sim-30d
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for examples/

import examples.sma_cross_5m  # noqa: E402,F401 (registers "sim", "sim-30d", "sma-cross-5m")
from btfarm.orchestrator import add_strategy, get_average_price, get_candles, get_params  # noqa: E402


def get_signal(symbol: str, when: datetime) -> dict | None:
    params = get_params()
    fast, slow = int(params.get("fast", 10)), int(params.get("slow", 30))
    closes = get_candles(symbol, "1m", slow + 5).close
    if len(closes) < slow + 5:
        return None  # not enough history yet
    fast_now, slow_now = closes[-fast:].mean(), closes[-slow:].mean()
    fast_then, slow_then = closes[-fast - 5 : -5].mean(), closes[-slow - 5 : -5].mean()
    if fast_then <= slow_then and fast_now > slow_now:
        side = 1
    elif fast_then >= slow_then and fast_now < slow_now:
        side = -1
    else:
        return None
    price = get_average_price(symbol)
    return {
        "position": "long" if side > 0 else "short",
        "price_take_profit": price * (1 + side * 0.01),
        "price_stop_loss": price * (1 - side * 0.01),
        "minute_estimated_time": 120,
        "note": f"sma {fast}/{slow}",
    }


add_strategy(
    strategy_name="sma-cross-5m-plain",
    interval="5m",
    get_signal=get_signal,
    params={"fast": 10, "slow": 30},
    override=True,
)

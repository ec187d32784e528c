"""A ccxt exchange on the fake Binance, for farm tests: the test and its workers import it.

``FAKE_BINANCE_CONFIG`` (ccxt's settings as JSON, from ``FakeBinance.ccxt_config``)
says where the fake listens; ``BTFARM_CANDLE_CACHE_DIR`` is the folder they share;
``FAKE_BINANCE_CLOCK`` (a ``--clock`` spec, anchored) is the clock of a live run, so the
exchange's "closed" is the live run's.
"""

from __future__ import annotations

import json
import os

from btfarm.shared.clock import Clock, clock_from_spec
from btfarm.shared.context import get_average_price
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.exchanges.ccxt_market import ccxt_exchange
from btfarm.shared.registry import add_exchange, add_frame, add_strategy, add_walker
from btfarm.shared.schemas import sweep

CONFIG_VARIABLE = "FAKE_BINANCE_CONFIG"
CLOCK_VARIABLE = "FAKE_BINANCE_CLOCK"
EXCHANGE, FRAME, STRATEGY, WALKER = "fake-binance", "ccxt-3d", "ccxt-sma", "ccxt-sweep"
FAST, SLOW = [5, 10], [20, 30]
BRIEF, BRIEF_MINUTES = "ccxt-brief", 5  # a live test's strategy: closes every 15 minutes


def register(config: dict, clock: Clock | None = None) -> None:
    add_exchange(ccxt_exchange(EXCHANGE, config=config, clock=clock), override=True)
    add_frame(
        frame_name=FRAME,
        interval="1m",
        start_date="2025-01-03T00:00:00Z",
        end_date="2025-01-05T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name=STRATEGY,
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        override=True,
    )
    add_walker(
        walker_name=WALKER,
        exchange_name=EXCHANGE,
        frame_name=FRAME,
        strategies=[sweep(STRATEGY, fast=FAST, slow=SLOW)],
        override=True,
    )


def brief_signal(symbol: str, when) -> dict:
    """A long every 15 minutes that expires after ``BRIEF_MINUTES`` unless a wide band is hit."""
    price = get_average_price(symbol)
    return {
        "position": "long",
        "price_take_profit": price * 1.04,
        "price_stop_loss": price * 0.96,
        "minute_estimated_time": BRIEF_MINUTES,
    }


add_strategy(strategy_name=BRIEF, interval="15m", get_signal=brief_signal, override=True)
if os.environ.get(CONFIG_VARIABLE):
    register(
        json.loads(os.environ[CONFIG_VARIABLE]),
        clock_from_spec(os.environ[CLOCK_VARIABLE]) if os.environ.get(CLOCK_VARIABLE) else None,
    )

"""A ccxt exchange on the fake Binance, for farm tests: the test and its workers import it.

``FAKE_BINANCE_CONFIG`` (ccxt's settings as JSON, from ``FakeBinance.ccxt_config``)
says where the fake listens; ``BTFARM_CANDLE_CACHE_DIR`` is the folder they share.
"""

from __future__ import annotations

import json
import os

from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.exchanges.ccxt_market import ccxt_exchange
from btfarm.shared.registry import add_exchange, add_frame, add_strategy, add_walker
from btfarm.shared.schemas import sweep

CONFIG_VARIABLE = "FAKE_BINANCE_CONFIG"
EXCHANGE, FRAME, STRATEGY, WALKER = "fake-binance", "ccxt-3d", "ccxt-sma", "ccxt-sweep"
FAST, SLOW = [5, 10], [20, 30]


def register(config: dict) -> None:
    add_exchange(ccxt_exchange(EXCHANGE, config=config), override=True)
    add_frame(frame_name=FRAME, interval="1m", start_date="2025-01-03T00:00:00Z",
              end_date="2025-01-05T23:59:00Z", override=True)
    add_strategy(strategy_name=STRATEGY, interval="5m", get_signal=sma_cross_signal,
                 params={"fast": 10, "slow": 30}, override=True)
    add_walker(walker_name=WALKER, exchange_name=EXCHANGE, frame_name=FRAME,
               strategies=[sweep(STRATEGY, fast=FAST, slow=SLOW)], override=True)


if os.environ.get(CONFIG_VARIABLE):
    register(json.loads(os.environ[CONFIG_VARIABLE]))

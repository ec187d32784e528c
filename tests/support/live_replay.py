"""What ``btfarm live`` subprocesses import in tests: a replay of the sim data and two strategies.

The replay's clock comes from the ``LIVE_REPLAY_CLOCK`` environment variable
(the same spec the test passes to ``btfarm live --clock``), so the exchange
and the live loop read one timeline.

- "sma-cross": the demo's crossover with its 5-minute throttle;
- "hold": one long per hour, closed by expiry after ``HOLD_MINUTES`` unless a
  wide take profit or stop loss is touched first: a signal that stays open
  long enough for a test to catch it open;
- "rejecter": a long whose take profit is below its entry, every 15 minutes
  (every signal refused).
"""

from __future__ import annotations

import os
from datetime import datetime

from btfarm.shared.clock import Clock, ManualClock, clock_from_spec
from btfarm.shared.context import get_average_price
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.exchanges.replay import replay_exchange
from btfarm.shared.registry import add_exchange, add_strategy
from tests.support.reference_data import SIM_CSV

SYMBOL = "SIMUSDT"
EXCHANGE = "replay"
CLOCK_VARIABLE = "LIVE_REPLAY_CLOCK"
HOLD_MINUTES = 20  # "hold": a signal's lifetime
HOLD_BAND_PERCENT = 4.0  # "hold": take profit and stop loss this far from entry


def hold_signal(symbol: str, when: datetime) -> dict:
    price = get_average_price(symbol)
    return {"position": "long", "price_take_profit": price * (1 + HOLD_BAND_PERCENT / 100),
            "price_stop_loss": price * (1 - HOLD_BAND_PERCENT / 100),
            "minute_estimated_time": HOLD_MINUTES, "note": "hold"}


def rejected_signal(symbol: str, when: datetime) -> dict:
    price = get_average_price(symbol)  # a long whose take profit is below the entry: always refused
    return {"position": "long", "price_take_profit": price * 0.99, "price_stop_loss": price * 0.98}


def comparable(closed) -> tuple:
    """A closed result without its id (the id hashes the exchange name, which differs here)."""
    s = closed.signal
    return (s.position, s.scheduled_at, s.pending_at, s.price_open, s.price_take_profit, s.price_stop_loss,
            closed.close_reason, closed.close_timestamp, closed.pnl.price_close, closed.pnl.pnl_percentage,
            closed.peak_price, closed.peak_pnl, closed.fall_price, closed.fall_pnl)


class StopAt(ManualClock):
    """A manual clock that asks ``strategy`` on ``symbol`` to stop once it reads ``stop_ms`` or later."""

    def __init__(self, start_ms: int, stop_ms: int, strategy: str, symbol: str = SYMBOL) -> None:
        super().__init__(start_ms)
        self.stop_ms, self.strategy, self.symbol, self.asked = stop_ms, strategy, symbol, False

    def sleep(self, seconds, wake=None):
        from btfarm.orchestrator import Live

        super().sleep(seconds, wake)
        if not self.asked and self.now_ms() >= self.stop_ms:
            self.asked = True
            Live.stop(self.symbol, self.strategy)


def register(clock: Clock) -> None:
    add_exchange(replay_exchange(EXCHANGE, clock, files={SYMBOL: SIM_CSV}), override=True)
    add_strategy(strategy_name="sma-cross", interval="5m", get_signal=sma_cross_signal,
                 params={"fast": 10, "slow": 30}, override=True)
    add_strategy(strategy_name="hold", interval="1h", get_signal=hold_signal, override=True)
    add_strategy(strategy_name="rejecter", interval="15m", get_signal=rejected_signal, override=True)


if os.environ.get(CLOCK_VARIABLE):
    register(clock_from_spec(os.environ[CLOCK_VARIABLE]))

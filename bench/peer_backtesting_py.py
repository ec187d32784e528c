""" "sma-cross-5m" written for backtesting.py 0.6.6, the peer the bench compares against.

Same rules as examples/data/README.md: evaluated while flat, when the next
bar opens on a 5-minute boundary, from closes of bars already closed; +-1 %
take profit / stop loss, closed after 120 minutes. backtesting.py fills at
the next bar's open (btfarm at the 5-candle VWAP), so counts differ a little.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy

EXPIRY_BARS = 120


def sma(values: np.ndarray, length: int) -> np.ndarray:
    return pd.Series(values).rolling(length).mean().to_numpy()


class SmaCross5m(Strategy):
    fast = 10
    slow = 30

    def init(self) -> None:
        self.sma_fast = self.I(sma, self.data.Close, self.fast)
        self.sma_slow = self.I(sma, self.data.Close, self.slow)
        self.entry_bar = -1

    def next(self) -> None:
        bar = len(self.data) - 1
        if self.position:
            if bar - self.entry_bar >= EXPIRY_BARS:
                self.position.close()
            return
        if (self.data.index[-1].minute + 1) % 5:
            return  # the next bar does not open on a 5-minute boundary
        f, s = self.sma_fast, self.sma_slow
        if len(f) < 6 or np.isnan(s[-6]):
            return
        price = self.data.Close[-1]
        if f[-6] <= s[-6] and f[-1] > s[-1]:
            self.buy(tp=price * 1.01, sl=price * 0.99)
            self.entry_bar = bar
        elif f[-6] >= s[-6] and f[-1] < s[-1]:
            self.sell(tp=price * 0.99, sl=price * 1.01)
            self.entry_bar = bar


def load(path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    frame = raw.rename(
        columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
    )
    frame.index = pd.to_datetime(raw["timestamp_ms"], unit="ms")
    return frame[["Open", "High", "Low", "Close", "Volume"]]


def backtest(data: pd.DataFrame) -> Backtest:
    return Backtest(
        data,
        SmaCross5m,
        cash=10_000_000,
        commission=0.001,
        exclusive_orders=True,
        finalize_trades=True,
    )

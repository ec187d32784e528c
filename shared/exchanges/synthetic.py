"""A deterministic synthetic market for demos and tests.

Each symbol is a seeded random walk of 1-minute candles from ``ORIGIN``;
the same symbol and seed give the same candles on every machine.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..candles import Candles
from ..errors import CandleDataError
from ..intervals import MINUTE_MS
from ..schemas import ExchangeSchema
from .source import PagedSource

ORIGIN_MS = 1_704_067_200_000  # 2024-01-01T00:00Z, the first synthetic candle
STEP_PERCENT = 0.08  # standard deviation of one minute's return, percent


class SyntheticMarket(PagedSource):
    def __init__(self, seed: int = 7, start_price: float = 100.0, name: str = "synthetic") -> None:
        self.seed = seed
        self.start_price = start_price
        self.name = name
        self._cache: dict[str, Candles] = {}

    def _generate(self, symbol: str, minutes: int) -> Candles:
        rng = np.random.default_rng([self.seed, zlib.crc32(symbol.encode())])
        # drift regimes make trends a crossover can catch, so the demo trades
        regime = np.repeat(rng.normal(0, 0.01, minutes // 720 + 1), 720)[:minutes]
        returns = rng.normal(regime, STEP_PERCENT, minutes) / 100
        close = np.round(self.start_price * np.exp(np.cumsum(returns)), 4)
        open_ = np.r_[self.start_price, close[:-1]]
        wiggle = np.abs(rng.normal(0, STEP_PERCENT / 2, (2, minutes))) / 100
        high = np.round(np.maximum(open_, close) * (1 + wiggle[0]), 4)
        low = np.round(np.minimum(open_, close) * (1 - wiggle[1]), 4)
        volume = np.round(rng.gamma(4.0, 10.0, minutes), 3)
        ts = ORIGIN_MS + np.arange(minutes, dtype=np.int64) * MINUTE_MS
        return Candles(ts, open_, high, low, close, volume)

    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:
        if end_ms < ORIGIN_MS:
            raise CandleDataError(
                f'exchange "{self.name}": the synthetic market starts at 2024-01-01T00:00Z; '
                f"asked for {symbol} up to {end_ms}"
            )
        minutes = (end_ms - ORIGIN_MS) // MINUTE_MS + 1
        cached = self._cache.get(symbol)
        if cached is None or len(cached) < minutes:
            # grow in whole years so consecutive requests reuse one walk
            cached = self._cache[symbol] = self._generate(symbol, max(minutes, 366 * 1440))
        return cached.slice_ms(max(start_ms, ORIGIN_MS), end_ms)


def synthetic_exchange(exchange_name: str = "synthetic", seed: int = 7, **extra) -> ExchangeSchema:
    source = SyntheticMarket(seed=seed, name=exchange_name)
    return ExchangeSchema(
        exchange_name=exchange_name, get_candles=source.get_candles, source=source, **extra
    )

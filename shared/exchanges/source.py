"""The protocol built-in candle sources share, and the paging adapter."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..candles import Candles
from ..intervals import MINUTE_MS, interval_ms
from ..schemas import to_ms


class CandleSource(Protocol):
    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:
        """1m candles opening in [start_ms, end_ms], validated."""


class PagedSource:
    """Gives a built-in source the ``get_candles(symbol, interval, since, limit)`` face."""

    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:  # pragma: no cover
        raise NotImplementedError  # protocol: each source defines it

    def get_candles(
        self, symbol: str, interval: str, since: datetime | int, limit: int
    ) -> list[dict]:
        since_ms = since if isinstance(since, int) else to_ms(since)
        step = interval_ms(interval)
        one = self.load_range(symbol, since_ms, since_ms + limit * step - MINUTE_MS)
        agg = one.aggregated(interval)
        return [agg.window(len(agg), len(agg))[i] for i in range(min(limit, len(agg)))]

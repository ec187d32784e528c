"""Candles of a file served as if they were arriving live, paced by a clock.

Only candles that have closed by ``clock.now_ms()`` (open time + 1 minute
<= now) exist for the replay: asking for later ones returns nothing, as a
real exchange would. So a live run over a replay cannot look ahead, and its
signals can be checked against a backtest of the same file.
"""

from __future__ import annotations

from pathlib import Path

from ..candles import Candles
from ..clock import Clock
from ..intervals import MINUTE_MS
from ..schemas import ExchangeSchema
from .csv_directory import CsvDirectory
from .source import PagedSource


class ReplaySource(PagedSource):
    """Wraps a source with a ``load_range``; cuts every answer at the last closed candle."""

    def __init__(self, source: PagedSource, clock: Clock, name: str = "replay") -> None:
        self.source = source
        self.clock = clock
        self.name = name

    def last_closed_ms(self) -> int:
        """Open time of the newest candle closed by now."""
        now = self.clock.now_ms()
        return now - now % MINUTE_MS - MINUTE_MS

    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:
        return self.source.load_range(symbol, start_ms, min(end_ms, self.last_closed_ms()))


def replay_exchange(exchange_name: str, clock: Clock, folder: str | Path | None = None,
                    files: dict[str, str | Path] | None = None, **extra) -> ExchangeSchema:
    """An exchange replaying candle files (as ``csv_exchange`` reads them) on ``clock``."""
    source = ReplaySource(CsvDirectory(folder, files, name=exchange_name), clock, name=exchange_name)
    return ExchangeSchema(exchange_name=exchange_name, get_candles=source.get_candles, source=source, **extra)

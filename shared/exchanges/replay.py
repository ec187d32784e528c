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
from ..coverage import iso
from ..errors import DataCoverageError
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

    def check_coverage(self, symbol: str) -> None:
        """Refuse a clock outside the file: a replay past its last candle would tick on
        forever with nothing new, one before its first would have no price."""
        every = self.source.all(symbol) if hasattr(self.source, "all") else None
        if every is None or not len(every):
            raise DataCoverageError(f'no data: replay "{self.name}" has no candles for {symbol}')
        first, last, now = int(every.timestamp[0]), int(every.timestamp[-1]), self.clock.now_ms()
        if not first + MINUTE_MS <= now <= last + 2 * MINUTE_MS:
            raise DataCoverageError(
                f'replay "{self.name}", symbol {symbol}: the clock reads {iso(now)}, outside the file\'s '
                f"candles ({iso(first)} .. {iso(last)}); start the clock inside that range "
                "(--clock accelerated:start=ISO,...), and give the replay the same clock"
            )


def replay_exchange(
    exchange_name: str,
    clock: Clock,
    folder: str | Path | None = None,
    files: dict[str, str | Path] | None = None,
    **extra,
) -> ExchangeSchema:
    """An exchange replaying candle files (as ``csv_exchange`` reads them) on ``clock``."""
    source = ReplaySource(
        CsvDirectory(folder, files, name=exchange_name), clock, name=exchange_name
    )
    return ExchangeSchema(
        exchange_name=exchange_name, get_candles=source.get_candles, source=source, **extra
    )

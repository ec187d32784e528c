"""Candles from pandas DataFrames held in memory, one per symbol."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: a worker reading Parquet never loads it
    import pandas as pd

from ..candles import Candles, to_candles
from ..errors import CandleDataError
from ..schemas import ExchangeSchema
from .source import PagedSource


class DataFrameSource(PagedSource):
    def __init__(self, frames: dict[str, pd.DataFrame], name: str = "dataframe") -> None:
        self.name = name
        self._candles = {symbol: to_candles(df, name, symbol) for symbol, df in frames.items()}

    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:
        try:
            candles = self._candles[symbol]
        except KeyError:
            raise CandleDataError(
                f'exchange "{self.name}" has no DataFrame for {symbol}; it has {", ".join(self._candles) or "none"}'
            ) from None
        return candles.slice_ms(start_ms, end_ms)


def dataframe_exchange(
    exchange_name: str, frames: dict[str, pd.DataFrame], **extra
) -> ExchangeSchema:
    """An exchange schema over in-memory DataFrames (validated once, here)."""
    source = DataFrameSource(frames, name=exchange_name)
    return ExchangeSchema(
        exchange_name=exchange_name, get_candles=source.get_candles, source=source, **extra
    )

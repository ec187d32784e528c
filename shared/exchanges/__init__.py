"""Built-in exchanges: candle sources users register with ``add_exchange``."""

from .ccxt_market import CcxtSource, ccxt_exchange
from .csv_directory import CsvDirectory, csv_exchange
from .dataframe import DataFrameSource, dataframe_exchange
from .loading import load_candles
from .synthetic import SyntheticMarket, synthetic_exchange

__all__ = [
    "CcxtSource",
    "ccxt_exchange",
    "CsvDirectory",
    "DataFrameSource",
    "SyntheticMarket",
    "csv_exchange",
    "dataframe_exchange",
    "load_candles",
    "synthetic_exchange",
]

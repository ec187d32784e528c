"""Candles from a folder of CSV or Parquet files, one file per symbol."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..candles import Candles, timestamps_of, to_candles
from ..errors import CandleDataError, SchemaError
from ..schemas import ExchangeSchema
from .source import PagedSource

SYMBOL_FILE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")  # what a symbol may be, to name a file


class CsvDirectory(PagedSource):
    """Reads ``{symbol}.csv`` / ``{symbol}.parquet`` under ``folder``, or explicit ``files``.

    Columns: ``timestamp`` (or ``timestamp_ms``; epoch ms or ISO dates),
    open, high, low, close, volume. Each file is read and validated once.
    """

    def __init__(self, folder: str | Path | None = None, files: dict[str, str | Path] | None = None,
                 name: str = "csv") -> None:
        if folder is None and not files:
            raise SchemaError("csv_exchange needs a folder or a files={symbol: path} mapping; "
                              "give folder=... (one {symbol}.csv per symbol) or files=...")
        self.folder = Path(folder) if folder is not None else None
        self.files = {k: Path(v) for k, v in (files or {}).items()}
        self.name = name
        self._cache: dict[str, Candles] = {}
        self._times: dict[str, np.ndarray] = {}  # open times only (timestamps), per symbol

    def path_for(self, symbol: str) -> Path:
        if symbol in self.files:
            return self.files[symbol]
        if self.folder is not None:
            if not SYMBOL_FILE.fullmatch(symbol):  # "../x", "/etc/passwd", "a/b": never outside the folder
                raise CandleDataError(
                    f'exchange "{self.name}": symbol {symbol!r} cannot name a file in {self.folder}; '
                    "a symbol is letters, digits and . _ - (no path separators, not starting with a dot)")
            folder = self.folder.resolve()
            for suffix in (".parquet", ".csv", ".csv.gz"):
                path = (folder / f"{symbol}{suffix}").resolve()
                if path.parent == folder and path.exists():  # a symlink out of the folder does not count
                    return path
        looked = [str(self.files[s]) for s in self.files] if self.files else [f"{self.folder}/{symbol}.csv|.parquet"]
        raise CandleDataError(f'exchange "{self.name}" has no candle file for {symbol} (looked for {", ".join(looked)})')

    def all(self, symbol: str) -> Candles:
        cached = self._cache.get(symbol)
        if cached is None:
            path = self.path_for(symbol)
            try:
                frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
            except (OSError, ValueError, pd.errors.ParserError) as exc:
                raise CandleDataError(f'exchange "{self.name}": cannot read {path}: {exc}') from exc
            cached = self._cache[symbol] = to_candles(frame, f"{self.name}` file `{path}", symbol)
        return cached

    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:
        return self.all(symbol).slice_ms(start_ms, end_ms)

    def timestamps(self, symbol: str, start_ms: int, end_ms: int) -> np.ndarray:
        """Open times in [start_ms, end_ms] from the file's time column alone (a year of
        candles: a few ms instead of reading and validating every price)."""
        cached = self._cache.get(symbol)
        ts = self._times.get(symbol) if cached is None else cached.timestamp
        if ts is None:
            path = self.path_for(symbol)
            try:
                if path.suffix == ".parquet":
                    names = pq.read_schema(path).names
                    column = next((c for c in ("timestamp", "timestamp_ms") if c in names), None)
                    frame = pq.read_table(path, columns=[column]).to_pandas() if column else None
                else:
                    frame = pd.read_csv(path, usecols=lambda c: c in ("timestamp", "timestamp_ms"))
            except (OSError, ValueError, pd.errors.ParserError) as exc:
                raise CandleDataError(f'exchange "{self.name}": cannot read {path}: {exc}') from exc
            ts = timestamps_of(frame[frame.columns[0]].to_numpy()) if frame is not None and len(
                frame.columns) else None
            if ts is None or not len(ts) or not bool(np.all(np.diff(ts) > 0)):
                return self.load_range(symbol, start_ms, end_ms).timestamp  # validation says why
            self._times[symbol] = ts
        return ts[(ts >= start_ms) & (ts <= end_ms)]


def csv_exchange(exchange_name: str, folder: str | Path | None = None,
                 files: dict[str, str | Path] | None = None, **extra) -> ExchangeSchema:
    """An exchange schema over a folder (or a mapping) of candle files."""
    source = CsvDirectory(folder, files, name=exchange_name)
    return ExchangeSchema(exchange_name=exchange_name, get_candles=source.get_candles, source=source, **extra)

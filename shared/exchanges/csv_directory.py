"""Candles from a folder of CSV or Parquet files, one file per symbol."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..candles import Candles, timestamps_of, to_candles
from ..errors import CandleDataError, SchemaError
from ..schemas import ExchangeSchema
from . import parsed_files
from .source import PagedSource

TIME_COLUMNS = ("timestamp", "timestamp_ms")  # what a file's open-time column may be called
SYMBOL_FILE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")  # what a symbol may be, to name a file


class CsvDirectory(PagedSource):
    """Reads ``{symbol}.csv`` / ``{symbol}.parquet`` under ``folder``, or explicit ``files``.

    Columns: ``timestamp`` (or ``timestamp_ms``; epoch ms or ISO dates),
    open, high, low, close, volume. Each file is read and validated once.
    """

    def __init__(
        self,
        folder: str | Path | None = None,
        files: dict[str, str | Path] | None = None,
        name: str = "csv",
    ) -> None:
        if folder is None and not files:
            raise SchemaError(
                "csv_exchange needs a folder or a files={symbol: path} mapping; "
                "give folder=... (one {symbol}.csv per symbol) or files=..."
            )
        self.folder = Path(folder) if folder is not None else None
        self.files = {k: Path(v) for k, v in (files or {}).items()}
        self.name = name
        self._cache: dict[str, Candles] = {}
        self._times: dict[str, np.ndarray] = {}  # open times only (timestamps), per symbol

    def path_for(self, symbol: str) -> Path:
        if symbol in self.files:
            return self.files[symbol]
        if self.folder is not None:
            if not SYMBOL_FILE.fullmatch(
                symbol
            ):  # "../x", "/etc/passwd", "a/b": never outside the folder
                raise CandleDataError(
                    f'exchange "{self.name}": symbol {symbol!r} cannot name a file in {self.folder}; '
                    "a symbol is letters, digits and . _ - (no path separators, not starting with a dot)"
                )
            folder = self.folder.resolve()
            for suffix in (".parquet", ".csv", ".csv.gz"):
                path = (folder / f"{symbol}{suffix}").resolve()
                if (
                    path.parent == folder and path.exists()
                ):  # a symlink out of the folder does not count
                    return path
        looked = (
            [str(self.files[s]) for s in self.files]
            if self.files
            else [f"{self.folder}/{symbol}.csv|.parquet"]
        )
        raise CandleDataError(
            f'exchange "{self.name}" has no candle file for {symbol} (looked for {", ".join(looked)})'
        )

    def all(self, symbol: str) -> Candles:
        cached = self._cache.get(symbol)
        if cached is None:
            path = self.path_for(symbol)
            columns = self._read(path)
            cached = self._cache[symbol] = to_candles(columns, f"{self.name}` file `{path}", symbol)
        return cached

    def _read(self, path: Path, only: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The file's columns (those of ``only`` it has, when given) as arrays, read by pyarrow
        alone: pandas (0.2 s to import) is loaded by neither a worker nor a single backtest."""
        try:
            # .parquet, or .csv / .csv.gz (decompressed by its name)
            read = _read_parquet if path.suffix == ".parquet" else _parse_csv
            if only:  # a few columns: from the kept table, else of the file alone
                table = parsed_files.kept(path)
                table = (
                    table.select([c for c in table.column_names if c in only])
                    if table is not None
                    else read(path, only)
                )
            else:  # the whole file, read once (parsed_files.py)
                table = parsed_files.parsed(path, lambda: read(path))
            columns = {
                name: _numpy(table.column(name))
                for name in table.column_names
                if not (only and pa.types.is_null(table.column(name).type) and table.num_rows)
            }
        except (OSError, ValueError) as exc:  # (pyarrow's ArrowInvalid is a ValueError)
            raise CandleDataError(f'exchange "{self.name}": cannot read {path}: {exc}') from exc
        # pyarrow's allocator keeps the pages of its decoding buffers: ~60 MB of a worker's resident
        # memory after reading a year of 1m candles, for the rest of its life
        pa.default_memory_pool().release_unused()
        return columns

    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:
        return self.all(symbol).slice_ms(start_ms, end_ms)

    def timestamps(self, symbol: str, start_ms: int, end_ms: int) -> np.ndarray:
        """Open times in [start_ms, end_ms] from the file's time column alone (a year of
        candles: a few ms instead of reading and validating every price)."""
        cached = self._cache.get(symbol)
        ts = self._times.get(symbol) if cached is None else cached.timestamp
        if ts is None:
            path = self.path_for(symbol)
            times = self._read(path, TIME_COLUMNS)
            # the column to_candles takes: "timestamp" before "timestamp_ms", whatever the file's order
            column = next((times[name] for name in TIME_COLUMNS if name in times), None)
            ts = timestamps_of(column) if column is not None else None
            if ts is None or not len(ts) or not bool(np.all(np.diff(ts) > 0)):
                return self.load_range(symbol, start_ms, end_ms).timestamp  # validation says why
            self._times[symbol] = ts
        return ts[(ts >= start_ms) & (ts <= end_ms)]


def _read_parquet(path: Path, only: tuple[str, ...] | None = None) -> pa.Table:
    with pq.ParquetFile(path) as file:  # (read_table's dataset layer imports pandas)
        names = file.schema_arrow.names
        return file.read(columns=[c for c in names if only is None or c in only])


def _parse_csv(path: Path, only: tuple[str, ...] | None = None) -> pa.Table:
    import pyarrow.csv as pa_csv  # (here: ~25 ms of every worker's start with pyarrow.compute)

    convert = (
        pa_csv.ConvertOptions(include_columns=list(only), include_missing_columns=True)
        if only
        else None
    )
    return pa_csv.read_csv(path, convert_options=convert)


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A file's column as numpy, without pyarrow's ``to_numpy`` (it imports pandas): numbers
    without nulls viewed in place, times as epoch ms (a time without a zone taken as UTC),
    anything else (text, empty cells) as the Python values to_candles checks cell by cell."""
    # one chunk (a kept table's): its buffer as it is, the mapped file's pages, where
    # combine_chunks would copy it (~1-15 ms a year column at every worker's start)
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    kind = array.type
    if pa.types.is_timestamp(kind):
        import pyarrow.compute as pa_compute

        array = pa_compute.cast(array, pa.timestamp("ms", tz=kind.tz), safe=False).cast(pa.int64())
        kind = array.type
    if (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and array.null_count == 0:
        dtype = np.dtype(kind.to_pandas_dtype())
        return np.frombuffer(
            array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
        )
    return np.array(array.to_pylist(), dtype=object)


def csv_exchange(
    exchange_name: str,
    folder: str | Path | None = None,
    files: dict[str, str | Path] | None = None,
    **extra,
) -> ExchangeSchema:
    """An exchange schema over a folder (or a mapping) of candle files."""
    source = CsvDirectory(folder, files, name=exchange_name)
    return ExchangeSchema(
        exchange_name=exchange_name, get_candles=source.get_candles, source=source, **extra
    )

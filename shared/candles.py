"""Candles as numpy arrays, their validation, and the windows strategies see.

Timestamps are int64 epoch milliseconds (the candle's open time); prices and
volume are float64. Whatever an exchange returns goes through ``to_candles``,
which names the exchange, the symbol and the first bad row on failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import CandleDataError
from .intervals import MINUTE_MS, interval_ms

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class Candles:
    """One symbol's 1-minute candles, validated, with derived arrays cached."""

    __slots__ = (
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "contiguous",
        "_vwap",
        "_agg",
        "_digest",
        "memo",
    )

    def __init__(
        self,
        timestamp: np.ndarray,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
    ) -> None:
        # read-only views: a strategy holding a window must not be able to rewrite history
        self.timestamp, self.open, self.high, self.low, self.close, self.volume = (
            _frozen(a) for a in (timestamp, open, high, low, close, volume)
        )
        n = len(timestamp)
        self.contiguous = n == 0 or int(timestamp[-1] - timestamp[0]) == (n - 1) * MINUTE_MS
        self._vwap: dict[int, np.ndarray] = {}
        self._agg: dict[str, Candles] = {}
        self._digest: str | None = None
        # arrays the engine derives once per candle set (walk grids, keyed by tuple; named
        # slots such as indicators' "indicators" and walk_grid's "minute_grid")
        self.memo: dict[tuple | str, Any] = {}

    def __len__(self) -> int:
        return len(self.timestamp)

    def index_at(self, ms: int) -> int:
        """Index of the first candle opening at or after ``ms`` (len if none)."""
        ts = self.timestamp
        if self.contiguous and len(ts):
            i = -(-(ms - int(ts[0])) // MINUTE_MS)
            return 0 if i < 0 else (len(ts) if i > len(ts) else i)
        return int(np.searchsorted(ts, ms, side="left"))

    def vwap(self, count: int) -> np.ndarray:
        """VWAP over the ``count`` candles ending at each index (fewer at the start).

        Summed oldest to newest, as SEMANTICS.md specifies; the mean of closes
        where the window's volume is 0.
        """
        cached = self._vwap.get(count)
        if cached is not None:
            return cached
        typical_volume = ((self.high + self.low) + self.close) / 3 * self.volume
        weighted = _window_sum(typical_volume, count)
        volume = _window_sum(self.volume, count)
        closes = _window_sum(self.close, count)
        sizes = np.minimum(np.arange(1, len(self) + 1), count).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(volume > 0, weighted / np.where(volume > 0, volume, 1.0), closes / sizes)
        self._vwap[count] = out
        return out

    def window(self, end: int, limit: int) -> CandleWindow:
        """The ``limit`` candles before index ``end``, as zero-copy views."""
        start = end - limit if end > limit else 0
        return CandleWindow(self, start, end)

    def aggregated(self, interval: str) -> Candles:
        """Candles of ``interval`` built from these 1m candles, buckets aligned to the epoch."""
        if interval == "1m":
            return self
        cached = self._agg.get(interval)
        if cached is not None:
            return cached
        step = interval_ms(interval)
        bucket = self.timestamp // step * step
        starts = (
            np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
            if len(self)
            else np.array([], dtype=np.int64)
        )
        ends = np.r_[starts[1:], len(self)] - 1 if len(self) else starts
        agg = Candles(
            bucket[starts].astype(np.int64),
            self.open[starts],
            np.maximum.reduceat(self.high, starts) if len(self) else self.high,
            np.minimum.reduceat(self.low, starts) if len(self) else self.low,
            self.close[ends],
            np.add.reduceat(self.volume, starts) if len(self) else self.volume,
        )
        self._agg[interval] = agg
        return agg

    def slice_ms(self, start_ms: int, end_ms: int) -> Candles:
        """Candles opening in [start_ms, end_ms]."""
        a = int(np.searchsorted(self.timestamp, start_ms, "left"))
        b = int(np.searchsorted(self.timestamp, end_ms, "right"))
        return Candles(*(getattr(self, c)[a:b] for c in COLUMNS))

    def digest(self) -> str:
        """A checksum of the candle values, for run fingerprints (computed once)."""
        if self._digest is None:
            import hashlib

            # SHA-256 (SHA-NI where the CPU has it: 18 against blake2b's 27 ms for a year of 1m
            # candles, per worker start), read in place: tobytes() copied each 4 MB column first
            h = hashlib.sha256()
            for c in COLUMNS:
                h.update(np.ascontiguousarray(getattr(self, c)).data.cast("B"))
            self._digest = h.hexdigest()[:32]
        return self._digest


def _frozen(values: np.ndarray) -> np.ndarray:
    view = np.asarray(values).view()
    view.flags.writeable = False
    return view


def _window_sum(values: np.ndarray, count: int) -> np.ndarray:
    """Sum of each window of ``count`` ending at i, added oldest first."""
    n = len(values)
    out = np.zeros(n, dtype=np.float64)
    for lag in range(count - 1, -1, -1):
        if lag < n:
            out[lag:] += values[: n - lag]
    return out


class CandleWindow:
    """Candles a strategy may see: numpy views, never including the current minute.

    Attribute access (``window.close``) gives arrays; iteration and indexing
    give one candle at a time as a dict, as backtest-kit's lists do.
    """

    __slots__ = ("_source", "_start", "_end", "_close")

    def __init__(self, source: Candles, start: int, end: int) -> None:
        # slices are made on access: a strategy reading only closes pays for one view
        self._source = source
        self._start = start
        self._end = end
        self._close: np.ndarray | None = None

    timestamp = property(lambda self: self._source.timestamp[self._start : self._end])
    open = property(lambda self: self._source.open[self._start : self._end])
    high = property(lambda self: self._source.high[self._start : self._end])
    low = property(lambda self: self._source.low[self._start : self._end])
    volume = property(lambda self: self._source.volume[self._start : self._end])

    @property
    def close(self) -> np.ndarray:
        # made once: the column nearly every strategy reads, often more than once an ask
        view = self._close
        if view is None:
            view = self._close = self._source.close[self._start : self._end]
        return view

    def __len__(self) -> int:
        return self._end - self._start

    def __getitem__(self, i: int) -> dict[str, float]:
        return {c: getattr(self, c)[i].item() for c in COLUMNS}

    def __iter__(self) -> Iterator[dict[str, float]]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        if not len(self):
            return "CandleWindow(empty)"
        return f"CandleWindow({len(self)} candles, {int(self.timestamp[0])}..{int(self.timestamp[-1])})"

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({c: getattr(self, c) for c in COLUMNS})


def to_candles(data: Any, exchange_name: str, symbol: str) -> Candles:
    """Normalise and validate what an exchange returned.

    Accepts a pandas DataFrame, a mapping of column arrays, a sequence of
    dicts, or a ``Candles``. Rows must be sorted by time, unique, finite,
    positive (volume >= 0), with low <= open, close <= high.
    """
    where = f'exchange "{exchange_name}" returned bad candles for {symbol}'
    if isinstance(data, Candles):
        arrays = {c: getattr(data, c) for c in COLUMNS}
    else:
        try:
            arrays = _columns(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise CandleDataError(f"{where}: {exc}") from exc
    ts, o, h, low, c, v = (arrays[k] for k in COLUMNS)
    n = len(ts)
    if any(len(a) != n for a in (o, h, low, c, v)):
        raise CandleDataError(f"{where}: columns have different lengths")
    _check(where, ts, o, h, low, c, v)
    return Candles(ts, o, h, low, c, v)


def _columns(data: Any) -> dict[str, np.ndarray]:
    pd = sys.modules.get(
        "pandas"
    )  # not imported, so data is no DataFrame (a worker may never load it)
    if pd is not None and isinstance(data, pd.DataFrame):
        frame = data.reset_index() if "timestamp" not in data.columns and data.index.name else data
        mapping: Mapping[str, Any] = {c: frame[c].to_numpy() for c in frame.columns}
    elif isinstance(data, Mapping):
        mapping = data
    elif isinstance(data, Sequence):
        if len(data) == 0:
            mapping = {c: [] for c in COLUMNS}
        elif isinstance(data[0], Mapping):
            mapping = {
                c: [row[c] if c in row else row[_ALIASES.get(c, c)] for row in data]
                for c in COLUMNS
            }
        else:
            mapping = {c: [row[i] for row in data] for i, c in enumerate(COLUMNS)}
    else:
        raise CandleDataError(
            f"expected a DataFrame, a mapping of columns or a list of candles, got {type(data).__name__}"
        )
    if "timestamp" not in mapping and "timestamp_ms" in mapping:
        mapping = {**mapping, "timestamp": mapping["timestamp_ms"]}
    missing = [c for c in COLUMNS if c not in mapping]
    if missing:
        raise CandleDataError(
            f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}"
        )
    ts = timestamps_of(mapping["timestamp"])
    return {"timestamp": ts, **{c: _floats(c, mapping[c]) for c in COLUMNS[1:]}}


def _floats(column: str, values: Any) -> np.ndarray:
    """A price or volume column as float64; a cell that is not a number names its row."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    cells = list(values)
    for row, cell in enumerate(cells):
        try:
            float(cell)
        except (TypeError, ValueError):
            raise CandleDataError(
                f"row {row}: column {column} holds {cell!r}, which is not a number"
            ) from None
    return np.asarray(cells, dtype=np.float64)


_ALIASES = {"timestamp": "timestamp_ms"}


def timestamps_of(values: Any) -> np.ndarray:
    """Epoch milliseconds (int64) from ints, floats, datetimes or ISO strings."""
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise CandleDataError(f"row {bad}: timestamp is {arr[bad]}")
        return arr.astype(np.int64)
    import pandas as pd

    return pd.to_datetime(arr, utc=True).as_unit("ms").asi8.astype(np.int64)


def _check(where: str, ts, o, h, low, c, v) -> None:
    n = len(ts)
    if n == 0 or _all_good(ts, o, h, low, c, v):
        return
    row = {"open": o, "high": h, "low": low, "close": c, "volume": v}
    prices = np.vstack([o, h, low, c])
    bad_rows = ~np.all(np.isfinite(prices), axis=0) | ~np.isfinite(v)
    _fail_first(where, bad_rows, ts, row, "a price or the volume is NaN or infinite")
    _fail_first(where, np.any(prices <= 0, axis=0), ts, row, "a price is zero or negative")
    _fail_first(where, v < 0, ts, row, "the volume is negative")
    _fail_first(
        where,
        (low > np.minimum(o, c)) | (h < np.maximum(o, c)) | (low > h),
        ts,
        row,
        "high/low do not contain open and close",
    )
    if n > 1:
        d = np.diff(ts)
        _fail_first(
            where, np.r_[False, d == 0], ts, row, "duplicated timestamp (same as the row before)"
        )
        _fail_first(
            where,
            np.r_[False, d < 0],
            ts,
            row,
            "timestamps are not sorted ascending (earlier than the row before)",
        )


def _all_good(ts, o, h, low, c, v) -> bool:
    """Every row passes every check of ``_check``, tested in one buffer (a year of 1m
    candles: ~4 instead of ~16 ms, at each worker's start); when not, ``_check`` finds
    the first bad row of each kind. A NaN fails every comparison; a finite high and a
    positive low between which open and close lie make all four prices finite and positive."""
    good = np.isfinite(h)
    for test in (
        (np.greater, low, 0),
        (np.less_equal, low, o),
        (np.less_equal, low, c),
        (np.less_equal, o, h),
        (np.less_equal, c, h),
        (np.greater_equal, v, 0),
    ):
        good &= test[0](test[1], test[2])
    good &= np.isfinite(v)
    return bool(good.all()) and bool(np.all(ts[1:] > ts[:-1]))


def _fail_first(
    where: str, mask: np.ndarray, ts: np.ndarray, row: dict[str, np.ndarray], what: str
) -> None:
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(int(ts[i]) / 1000, tz=UTC).isoformat()
        values = " ".join(f"{k}={float(a[i])!r}" for k, a in row.items())
        raise CandleDataError(
            f"{where}: row {i} (timestamp {int(ts[i])} = {when}): {what}: {values}"
        )

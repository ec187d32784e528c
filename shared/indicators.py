"""Indicators a sweep's variants share: computed once per candle set, then reused.

A grid of |F| fast x |S| slow windows needs |F| + |S| moving averages, not
2 |F| |S|. Each function here keeps its result on the candle set it was
given (``Candles.memo``, which lives as long as the worker keeps those
candles), keyed by its arguments, so the next variant of the chunk reads it
instead of computing it again; the least recently used results go once they
pass ``MEMO_BYTES``. Results are read-only (a variant cannot change what the
next one reads) and computed exactly as a strategy would compute them
itself: swapping one in changes no result (the twin tests hold them to it).

Every series is aligned with the candles: element k is the indicator *known
at the open of candle k*, i.e. from candles before k (NaN while the window
is not full). That is what ``get_signals`` decides on at row k, and what
``get_signal`` sees at ``when`` = the open of candle k.

Where pandas computes one exactly (exponential means, rolling extremes), it
does (imported by those alone: a worker whose strategies read means only never loads it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .candles import Candles
from .engine import batch_kernel
from .errors import UsageError

MEMO_BYTES = 128 * 2**20  # indicator arrays kept per candle set, at most
MEMO_KEY = "indicators"  # the slot of Candles.memo they live in
FIELDS = ("open", "high", "low", "close", "volume")


def _pandas():
    import pandas

    return pandas


def _memo(candles: Candles, key: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
    kept: OrderedDict[tuple, np.ndarray] = candles.memo.setdefault(MEMO_KEY, OrderedDict())
    found = kept.get(key)
    if found is not None:
        kept.move_to_end(key)
        return found
    found = np.asarray(compute(), dtype=np.float64)
    found.flags.writeable = False
    kept[key] = found
    total = sum(a.nbytes for a in kept.values())
    while total > MEMO_BYTES and len(kept) > 1:
        _, dropped = kept.popitem(last=False)
        total -= dropped.nbytes
    return found


def _series(candles: Candles, field: str) -> np.ndarray:
    if field not in FIELDS:
        raise UsageError(f"indicator field {field!r} is not one of {', '.join(FIELDS)}")
    return getattr(candles, field)


def _length(length: int, name: str) -> int:
    if int(length) != length or length < 1:
        raise UsageError(f"{name} length must be a whole number >= 1, got {length!r}")
    return int(length)


def prefix_sums(candles: Candles, field: str = "close") -> np.ndarray:
    """``[0, x0, x0 + x1, ...]`` (n + 1 values): any window's sum in two lookups."""
    return _memo(candles, ("sums", field), lambda: np.r_[0.0, np.cumsum(_series(candles, field))])


def sma(candles: Candles, length: int, field: str = "close") -> np.ndarray:
    """Mean of the ``length`` values before each candle (``x[k - length:k]``)."""
    length = _length(length, "sma")

    def compute() -> np.ndarray:
        sums, n = prefix_sums(candles, field), len(candles)
        out = np.full(n, np.nan)
        if n > length:
            out[length:] = (sums[length:n] - sums[0:n - length]) / length
        return out

    return _memo(candles, ("sma", field, length), compute)


def ema(candles: Candles, length: int, field: str = "close") -> np.ndarray:
    """Exponential mean (alpha = 2 / (length + 1), seeded with the first value) of the
    values before each candle; NaN until ``length`` of them exist."""
    length = _length(length, "ema")

    def compute() -> np.ndarray:
        values = _pandas().Series(_series(candles, field)).ewm(span=length, adjust=False).mean().to_numpy()
        return _known_before(values, length)

    return _memo(candles, ("ema", field, length), compute)


def rsi(candles: Candles, length: int = 14) -> np.ndarray:
    """Wilder's RSI (0..100) of the closes before each candle (smoothing alpha = 1 / length)."""
    length = _length(length, "rsi")

    def compute() -> np.ndarray:
        change = np.diff(candles.close, prepend=np.nan)
        gain = _pandas().Series(np.where(change > 0, change, 0.0))
        loss = _pandas().Series(np.where(change < 0, -change, 0.0))
        gain[0] = loss[0] = np.nan  # the first candle has no change
        up = gain.ewm(alpha=1 / length, adjust=False, min_periods=length).mean().to_numpy()
        down = loss.ewm(alpha=1 / length, adjust=False, min_periods=length).mean().to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(down == 0, 100.0, 100.0 - 100.0 / (1.0 + up / down))
        value[np.isnan(up) | np.isnan(down)] = np.nan
        return _known_before(value, 1)

    return _memo(candles, ("rsi", length), compute)


def atr(candles: Candles, length: int = 14) -> np.ndarray:
    """Wilder's average true range of the candles before each candle."""
    length = _length(length, "atr")

    def compute() -> np.ndarray:
        previous = np.r_[np.nan, candles.close[:-1]]
        true_range = np.fmax(candles.high - candles.low,
                             np.fmax(np.abs(candles.high - previous), np.abs(candles.low - previous)))
        value = _pandas().Series(true_range).ewm(alpha=1 / length, adjust=False, min_periods=length).mean()
        return _known_before(value.to_numpy(), 1)

    return _memo(candles, ("atr", length), compute)


def rolling_max(candles: Candles, length: int, field: str = "high") -> np.ndarray:
    """Highest of the ``length`` values before each candle."""
    length = _length(length, "rolling_max")
    return _memo(candles, ("max", field, length), lambda: _known_before(
        _pandas().Series(_series(candles, field)).rolling(length).max().to_numpy(), 1))


def rolling_min(candles: Candles, length: int, field: str = "low") -> np.ndarray:
    """Lowest of the ``length`` values before each candle."""
    length = _length(length, "rolling_min")
    return _memo(candles, ("min", field, length), lambda: _known_before(
        _pandas().Series(_series(candles, field)).rolling(length).min().to_numpy(), 1))


def vwap(candles: Candles, length: int) -> np.ndarray:
    """VWAP of the ``length`` candles before each candle (SEMANTICS.md's formula,
    ``Candles.vwap``: the mean of closes where the window's volume is 0)."""
    length = _length(length, "vwap")
    return _memo(candles, ("vwap", length), lambda: _known_before(candles.vwap(length), length))


def _known_before(values: np.ndarray, first_full: int) -> np.ndarray:
    """``values[k]`` computed through candle k, moved to row k + 1 (known at its open);
    NaN before ``first_full`` values exist."""
    out = np.full(len(values), np.nan)
    out[1:] = values[:-1]
    out[:first_full] = np.nan
    return out


def crossings(a: np.ndarray, b: np.ndarray, shift: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Where ``a`` crosses ``b``: (rows, sides), the rows k (ascending) at which ``a - b`` went
    from <= 0 at row k - shift to > 0 at row k (side +1), or from >= 0 to < 0 (side -1, int8).
    NaN on either side is no crossing. In the batch kernel's C (one pass) where it is built,
    else the same comparisons in numpy; the two give the same rows."""
    shift = _length(shift, "crossings shift")
    a, b = np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise UsageError(f"crossings needs two 1-D arrays of one length, got shapes {a.shape} and {b.shape}")
    if batch_kernel.available():
        rows, sides = batch_kernel.crossings(a, b, shift)
        return rows, sides
    gap = a - b
    before, now = gap[:-shift], gap[shift:]
    side = np.zeros(len(a), dtype=np.int8)
    np.subtract((before <= 0) & (now > 0), (before >= 0) & (now < 0), out=side[shift:], dtype=np.int8,
                casting="unsafe")
    rows = np.flatnonzero(side != 0)
    return rows, side[rows]


def sma_crossings(candles: Candles, fast: int, slow: int, shift: int = 1,
                  field: str = "close") -> tuple[np.ndarray, np.ndarray]:
    """``crossings(sma(candles, fast), sma(candles, slow), shift)``, the same rows and sides,
    without keeping either mean: where the C loop is built it reads the one prefix-sum
    array every window shares (a sweep of |F| x |S| windows kept |F| + |S| year-long means,
    ~300 MB for 70 windows, each variant reading two of them from memory)."""
    fast, slow = _length(fast, "sma_crossings fast"), _length(slow, "sma_crossings slow")
    shift = _length(shift, "sma_crossings shift")
    if batch_kernel.available():
        return batch_kernel.sma_crossings(prefix_sums(candles, field), fast, slow, shift)
    return crossings(sma(candles, fast, field), sma(candles, slow, field), shift)

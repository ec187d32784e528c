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
from typing import NamedTuple

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


def _checked_field(field: str) -> str:
    if field not in FIELDS:
        raise UsageError(f"indicator field {field!r} is not one of {', '.join(FIELDS)}")
    return field


def _series(candles: Candles, field: str) -> np.ndarray:
    return getattr(candles, _checked_field(field))


def _length(length: int, name: str) -> int:
    if int(length) != length or length < 1:
        raise UsageError(f"{name} length must be a whole number >= 1, got {length!r}")
    return int(length)


def prefix_sums(candles: Candles, field: str = "close") -> np.ndarray:
    """``[0, x0, x0 + x1, ...]`` (n + 1 values): any window's sum in two lookups."""
    return _memo(candles, ("sums", field), lambda: np.r_[0.0, np.cumsum(_series(candles, field))])


def _sma_through(candles: Candles, length: int, field: str) -> np.ndarray:
    sums, n = prefix_sums(candles, field), len(candles)
    out = np.full(n, np.nan)
    if n >= length:
        out[length - 1 :] = (sums[length:] - sums[: n + 1 - length]) / length
    return out


def _ema_through(candles: Candles, length: int, field: str) -> np.ndarray:
    return (
        _pandas().Series(_series(candles, field)).ewm(span=length, adjust=False).mean().to_numpy()
    )


def _rsi_through(candles: Candles, length: int, field: str) -> np.ndarray:
    change = np.diff(candles.close, prepend=np.nan)
    gain = _pandas().Series(np.where(change > 0, change, 0.0))
    loss = _pandas().Series(np.where(change < 0, -change, 0.0))
    gain[0] = loss[0] = np.nan  # the first candle has no change
    up = gain.ewm(alpha=1 / length, adjust=False, min_periods=length).mean().to_numpy()
    down = loss.ewm(alpha=1 / length, adjust=False, min_periods=length).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(down == 0, 100.0, 100.0 - 100.0 / (1.0 + up / down))
    value[np.isnan(up) | np.isnan(down)] = np.nan
    return value


def _atr_through(candles: Candles, length: int, field: str) -> np.ndarray:
    previous = np.r_[np.nan, candles.close[:-1]]
    true_range = np.fmax(
        candles.high - candles.low,
        np.fmax(np.abs(candles.high - previous), np.abs(candles.low - previous)),
    )
    return (
        _pandas()
        .Series(true_range)
        .ewm(alpha=1 / length, adjust=False, min_periods=length)
        .mean()
        .to_numpy()
    )


def _max_through(candles: Candles, length: int, field: str) -> np.ndarray:
    return _pandas().Series(_series(candles, field)).rolling(length).max().to_numpy()


def _min_through(candles: Candles, length: int, field: str) -> np.ndarray:
    return _pandas().Series(_series(candles, field)).rolling(length).min().to_numpy()


def _vwap_through(candles: Candles, length: int, field: str) -> np.ndarray:
    return candles.vwap(length)


class _Kind(NamedTuple):
    through: Callable[[Candles, int, str], np.ndarray]  # element k: the value through candle k
    field: str | None  # the default field; None: the indicator reads fixed columns
    length: int | None  # the default length; None: it must be given
    first_full: Callable[[int], int]  # the first row (aligned) with a value known


# name -> how it is computed; the public functions below and ``value_at`` read the same table
KINDS: dict[str, _Kind] = {
    "sma": _Kind(_sma_through, "close", None, lambda length: length),
    "ema": _Kind(_ema_through, "close", None, lambda length: length),
    "rsi": _Kind(_rsi_through, None, 14, lambda length: 1),
    "atr": _Kind(_atr_through, None, 14, lambda length: 1),
    "rolling_max": _Kind(_max_through, "high", None, lambda length: 1),
    "rolling_min": _Kind(_min_through, "low", None, lambda length: 1),
    "vwap": _Kind(_vwap_through, None, None, lambda length: length),
}


def _kind(name: str, length: int | None, field: str | None) -> tuple[_Kind, int, str]:
    kind = KINDS.get(name)
    if kind is None:
        raise UsageError(f"no indicator {name!r}; the indicators are {', '.join(KINDS)}")
    if length is None:
        if kind.length is None:
            raise UsageError(
                f"indicator {name!r} needs a length (the number of candles in its window)"
            )
        length = kind.length
    length = _length(length, name)
    if field is not None and kind.field is None:
        raise UsageError(
            f"indicator {name!r} reads fixed columns; it takes no field (got {field!r})"
        )
    field = kind.field if field is None else _checked_field(field)
    return kind, length, field or ""


def _aligned(name: str, candles: Candles, length: int | None, field: str | None) -> np.ndarray:
    kind, length, field = _kind(name, length, field)
    return _memo(
        candles,
        (name, field, length),
        lambda: _known_before(kind.through(candles, length, field), kind.first_full(length)),
    )


def through(
    candles: Candles, name: str, length: int | None = None, field: str | None = None
) -> tuple[np.ndarray, int]:
    """The series ``name`` through each candle (element k includes candle k; kept per candle
    set) and the first row its aligned form has a value: ``<name>(candles, ...)[k]`` is
    ``series[k - 1]`` from that row on, the same double, and row len(candles) (every candle
    closed, as live sees them) has one too. What ``get_indicator`` reads one element of."""
    kind, length, field = _kind(name, length, field)
    series = _memo(
        candles, ("through", name, field, length), lambda: kind.through(candles, length, field)
    )
    return series, max(kind.first_full(length), 1)


def sma(candles: Candles, length: int, field: str = "close") -> np.ndarray:
    """Mean of the ``length`` values before each candle (``x[k - length:k]``)."""
    return _aligned("sma", candles, length, field)


def ema(candles: Candles, length: int, field: str = "close") -> np.ndarray:
    """Exponential mean (alpha = 2 / (length + 1), seeded with the first value) of the
    values before each candle; NaN until ``length`` of them exist."""
    return _aligned("ema", candles, length, field)


def rsi(candles: Candles, length: int = 14) -> np.ndarray:
    """Wilder's RSI (0..100) of the closes before each candle (smoothing alpha = 1 / length)."""
    return _aligned("rsi", candles, length, None)


def atr(candles: Candles, length: int = 14) -> np.ndarray:
    """Wilder's average true range of the candles before each candle."""
    return _aligned("atr", candles, length, None)


def rolling_max(candles: Candles, length: int, field: str = "high") -> np.ndarray:
    """Highest of the ``length`` values before each candle."""
    return _aligned("rolling_max", candles, length, field)


def rolling_min(candles: Candles, length: int, field: str = "low") -> np.ndarray:
    """Lowest of the ``length`` values before each candle."""
    return _aligned("rolling_min", candles, length, field)


def vwap(candles: Candles, length: int) -> np.ndarray:
    """VWAP of the ``length`` candles before each candle (SEMANTICS.md's formula,
    ``Candles.vwap``: the mean of closes where the window's volume is 0)."""
    return _aligned("vwap", candles, length, None)


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
        raise UsageError(
            f"crossings needs two 1-D arrays of one length, got shapes {a.shape} and {b.shape}"
        )
    if batch_kernel.available():
        rows, sides = batch_kernel.crossings(a, b, shift)
        return rows, sides
    gap = a - b
    before, now = gap[:-shift], gap[shift:]
    side = np.zeros(len(a), dtype=np.int8)
    np.subtract(
        (before <= 0) & (now > 0),
        (before >= 0) & (now < 0),
        out=side[shift:],
        dtype=np.int8,
        casting="unsafe",
    )
    rows = np.flatnonzero(side != 0)
    return rows, side[rows]


def sma_crossings(
    candles: Candles, fast: int, slow: int, shift: int = 1, field: str = "close"
) -> tuple[np.ndarray, np.ndarray]:
    """``crossings(sma(candles, fast), sma(candles, slow), shift)``, the same rows and sides,
    without keeping either mean: where the C loop is built it reads the one prefix-sum
    array every window shares (a sweep of |F| x |S| windows kept |F| + |S| year-long means,
    ~300 MB for 70 windows, each variant reading two of them from memory)."""
    fast, slow = _length(fast, "sma_crossings fast"), _length(slow, "sma_crossings slow")
    shift = _length(shift, "sma_crossings shift")
    if batch_kernel.available():
        return batch_kernel.sma_crossings(prefix_sums(candles, field), fast, slow, shift)
    return crossings(sma(candles, fast, field), sma(candles, slow, field), shift)

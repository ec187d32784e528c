"""The vectorised strategy form: entry intents for a whole frame, computed at once.

``get_signals(candles, price, params)`` returns arrays aligned with the
candles, where row k is the decision taken at ``when`` = the open time of
candle k, from candles [0, k) only (the same view ``get_signal`` has).
``price[k]`` is the current price at that moment (VWAP of candles k-5..k-1).

Keys: ``position`` (+1 long, -1 short, 0 nothing), ``price_take_profit``,
``price_stop_loss``; optional ``minute_estimated_time`` (scalar or array),
``price_open`` (NaN = market entry). The engine then runs exactly the
lifecycle of ``get_signal``: the same throttle, validation and exits.

The sparse form: with ``rows`` (strictly increasing candle indices), every
other key has one entry per row (or is a scalar), and every candle not
listed takes no position. A strategy that enters on a few thousand of a
year's 525,600 candles skips building and filling the per-candle arrays,
and the sweep's walk reads only its rows either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..candles import Candles
from ..errors import SignalError

REQUIRED = ("position", "price_take_profit", "price_stop_loss")
OPTIONAL = ("minute_estimated_time", "price_open")
ROWS = "rows"  # given: every other key has one entry per row (the sparse form), not per candle


class Intents:
    """A frame's entry intents: the candle rows that take a position (ascending) and, per
    row, its side (int8 +1/-1) and levels. The walks of a sweep read only those rows; the
    per-candle arrays (``position`` ...) are what the strategy gave, or built on first use
    (NaN levels off the rows, which no walk reads)."""

    __slots__ = (
        "n",
        "rows",
        "side",
        "row_take_profit",
        "row_stop_loss",
        "row_expiry",
        "row_price_open",
        "_dense",
    )

    def __init__(
        self,
        n: int,
        rows: np.ndarray,
        side: np.ndarray,
        take_profit: np.ndarray,
        stop_loss: np.ndarray,
        expiry: np.ndarray | None,
        price_open: np.ndarray | None,
        dense: dict[str, np.ndarray | None] | None = None,
    ):
        self.n, self.rows, self.side = n, rows, side
        self.row_take_profit, self.row_stop_loss = take_profit, stop_loss
        self.row_expiry, self.row_price_open = expiry, price_open
        self._dense = dense if dense is not None else {}

    def _column(self, key: str, per_row: np.ndarray | None, dtype, fill) -> np.ndarray | None:
        if key not in self._dense:
            column = None
            if per_row is not None:
                column = np.full(self.n, fill, dtype=dtype)
                column[self.rows] = per_row
            self._dense[key] = column
        return self._dense[key]

    @property
    def position(self) -> np.ndarray:
        return self._column("position", self.side, np.int8, 0)

    @property
    def take_profit(self) -> np.ndarray:
        return self._column("take_profit", self.row_take_profit, np.float64, np.nan)

    @property
    def stop_loss(self) -> np.ndarray:
        return self._column("stop_loss", self.row_stop_loss, np.float64, np.nan)

    @property
    def expiry(self) -> np.ndarray | None:
        return self._column("expiry", self.row_expiry, np.float64, np.nan)

    @property
    def price_open(self) -> np.ndarray | None:
        return self._column("price_open", self.row_price_open, np.float64, np.nan)

    def signal_at(self, k: int) -> dict[str, Any]:
        """The signal offered at candle row ``k`` (one of ``rows``)."""
        r = int(np.searchsorted(self.rows, k))
        if (
            r == len(self.rows) or self.rows[r] != k
        ):  # protocol: a lookup of a row that has no intent
            raise KeyError(f"no position is taken at candle row {k}")
        sig: dict[str, Any] = {
            "position": "long" if self.side[r] > 0 else "short",
            "price_take_profit": float(self.row_take_profit[r]),
            "price_stop_loss": float(self.row_stop_loss[r]),
        }
        if self.row_expiry is not None:
            value = float(self.row_expiry[r])
            sig["minute_estimated_time"] = int(value) if value.is_integer() else value
        if self.row_price_open is not None and not np.isnan(self.row_price_open[r]):
            sig["price_open"] = float(self.row_price_open[r])
        return sig


def current_prices(candles: Candles, avg_count: int) -> np.ndarray:
    """price[k] = VWAP of the candles before k (NaN at k = 0, where nothing has closed)."""
    key = ("current_prices", avg_count)
    cached = candles.memo.get(key)
    if cached is None:
        vwap = candles.vwap(avg_count)
        cached = np.r_[np.nan, vwap[:-1]] if len(vwap) else vwap
        cached.flags.writeable = False  # shared by every variant on these candles
        candles.memo[key] = cached
    return cached


CONSTANTS_KEPT = (
    16  # full-length arrays of a scalar (an expiry every variant gives) kept per candle set
)


def _constant(candles: Candles, key: str, value: np.ndarray, dtype) -> np.ndarray:
    """A read-only array of ``value`` per candle, shared by the variants that give the same
    scalar (a year of it is 4 MB to allocate and fill per variant otherwise)."""
    kept = candles.memo.setdefault("intent_constants", {})
    slot = (key, np.dtype(dtype).str, value.item())
    found = kept.get(slot)
    if found is None:
        found = np.full(len(candles), value, dtype=dtype)
        found.flags.writeable = False
        if len(kept) >= CONSTANTS_KEPT:
            kept.pop(next(iter(kept)))
        kept[slot] = found
    return found


def compute_intents(
    get_signals, candles: Candles, params: dict[str, Any], avg_count: int, where: str
) -> Intents:
    """Call the user's ``get_signals`` and check the shape of what it returned."""
    price = current_prices(candles, avg_count)
    raw = get_signals(candles, price, dict(params))
    if not isinstance(raw, Mapping):
        raise SignalError(
            f"{where}: get_signals returned {type(raw).__name__}; expected a mapping of arrays "
            f"with keys {', '.join(REQUIRED)}"
        )
    unknown = set(raw) - set(REQUIRED) - set(OPTIONAL) - {ROWS}
    missing = set(REQUIRED) - set(raw)
    if unknown or missing:
        raise SignalError(
            f"{where}: get_signals keys: missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    if raw.get(ROWS) is not None:
        return _sparse(raw, len(candles), where)
    return _dense(raw, candles, where)


def _dense(raw: Mapping, candles: Candles, where: str) -> Intents:
    """Intents from arrays with one entry per candle."""
    n = len(candles)

    def column(key: str, dtype) -> np.ndarray | None:
        if key not in raw or raw[key] is None:
            return None
        value = np.asarray(raw[key], dtype=dtype)
        if value.ndim == 0:
            value = _constant(candles, key, value, dtype)
        if value.shape != (n,):
            raise SignalError(
                f"{where}: get_signals[{key!r}] has shape {value.shape}; expected ({n},), one per candle"
            )
        return value

    given = np.asarray(raw["position"])
    if given.dtype.kind in "iu" and given.shape == (n,):  # whole numbers already: no NaN to clear
        position = np.sign(given).astype(np.int8, copy=False)  # (a year of float copies saved)
    else:
        position = _sides(column("position", np.float64))
    dense = {
        "position": position,
        "take_profit": column("price_take_profit", np.float64),
        "stop_loss": column("price_stop_loss", np.float64),
        "expiry": column("minute_estimated_time", np.float64),
        "price_open": column("price_open", np.float64),
    }
    rows = np.flatnonzero(
        position != 0
    )  # (a bool array: nonzero is 2.5x faster on it than on int8)

    def at_rows(key: str) -> np.ndarray | None:
        return None if dense[key] is None else dense[key][rows]

    return Intents(
        n,
        rows,
        position[rows],
        at_rows("take_profit"),
        at_rows("stop_loss"),
        at_rows("expiry"),
        at_rows("price_open"),
        dense,
    )


def _sides(position: np.ndarray) -> np.ndarray:
    """+1 / -1 / 0 (int8) for each float ``position``: its sign, 0 for NaN (np.sign of
    np.nan_to_num, in two comparisons: nan_to_num's copies cost ~35 us a day-long variant)."""
    return (position > 0).view(np.int8) - (position < 0).view(np.int8)


def _sparse(raw: Mapping, n: int, where: str) -> Intents:
    """Intents from ``rows`` and one entry per row (or a scalar) of each other key."""
    given = np.asarray(raw[ROWS])
    if given.ndim != 1 or (len(given) and given.dtype.kind not in "iu"):
        raise SignalError(
            f"{where}: get_signals[{ROWS!r}] must be a 1-D array of candle indices (integers); "
            f"got dtype {given.dtype} with shape {given.shape}"
        )
    rows = given.astype(np.int64, copy=False)
    if len(rows) and (rows[0] < 0 or rows[-1] >= n or bool((rows[1:] <= rows[:-1]).any())):
        raise SignalError(
            f"{where}: get_signals[{ROWS!r}] must be strictly increasing candle indices in "
            f"0..{n - 1} (one row per candle at most)"
        )

    def column(key: str) -> np.ndarray | None:
        if key not in raw or raw[key] is None:
            return None
        value = np.asarray(raw[key], dtype=np.float64)
        if value.ndim == 0:
            return np.full(len(rows), value)
        if value.shape != rows.shape:
            raise SignalError(
                f"{where}: get_signals[{key!r}] has shape {value.shape}; expected "
                f"({len(rows)},), one per entry of {ROWS!r} (or a scalar)"
            )
        return value

    given_side = np.asarray(raw["position"])
    if (
        given_side.dtype.kind in "iu" and given_side.shape == rows.shape
    ):  # whole numbers: no NaN to clear
        side = np.sign(given_side).astype(
            np.int8, copy=False
        )  # (~0.25 ms a year variant of float copies)
    else:
        side = _sides(column("position"))
    values = [
        column(k)
        for k in ("price_take_profit", "price_stop_loss", "minute_estimated_time", "price_open")
    ]
    taken = side != 0
    if not taken.all():  # a row that takes no position is no intent
        rows, side = rows[taken], side[taken]
        values = [None if v is None else v[taken] for v in values]
    return Intents(n, rows, side, *values)

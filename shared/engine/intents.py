"""The vectorised strategy form: entry intents for a whole frame, computed at once.

``get_signals(candles, price, params)`` returns arrays aligned with the
candles, where row k is the decision taken at ``when`` = the open time of
candle k, from candles [0, k) only (the same view ``get_signal`` has).
``price[k]`` is the current price at that moment (VWAP of candles k-5..k-1).

Keys: ``position`` (+1 long, -1 short, 0 nothing), ``price_take_profit``,
``price_stop_loss``; optional ``minute_estimated_time`` (scalar or array),
``price_open`` (NaN = market entry). The engine then runs exactly the
lifecycle of ``get_signal``: the same throttle, validation and exits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..candles import Candles
from ..errors import SignalError

REQUIRED = ("position", "price_take_profit", "price_stop_loss")
OPTIONAL = ("minute_estimated_time", "price_open")


@dataclass(slots=True)
class Intents:
    position: np.ndarray  # int8: +1 long, -1 short, 0 none
    take_profit: np.ndarray
    stop_loss: np.ndarray
    expiry: np.ndarray | None  # minutes, or None for the default lifetime
    price_open: np.ndarray | None  # NaN where the entry is at market

    def signal_at(self, k: int) -> dict[str, Any]:
        sig: dict[str, Any] = {
            "position": "long" if self.position[k] > 0 else "short",
            "price_take_profit": float(self.take_profit[k]),
            "price_stop_loss": float(self.stop_loss[k]),
        }
        if self.expiry is not None:
            value = float(self.expiry[k])
            sig["minute_estimated_time"] = int(value) if value.is_integer() else value
        if self.price_open is not None and not np.isnan(self.price_open[k]):
            sig["price_open"] = float(self.price_open[k])
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


CONSTANTS_KEPT = 16  # full-length arrays of a scalar (an expiry every variant gives) kept per candle set


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


def compute_intents(get_signals, candles: Candles, params: dict[str, Any], avg_count: int,
                    where: str) -> Intents:
    """Call the user's ``get_signals`` and check the shape of what it returned."""
    price = current_prices(candles, avg_count)
    raw = get_signals(candles, price, dict(params))
    if not isinstance(raw, Mapping):
        raise SignalError(f"{where}: get_signals returned {type(raw).__name__}; expected a mapping of arrays "
                          f"with keys {', '.join(REQUIRED)}")
    unknown = set(raw) - set(REQUIRED) - set(OPTIONAL)
    missing = set(REQUIRED) - set(raw)
    if unknown or missing:
        raise SignalError(f"{where}: get_signals keys: missing {sorted(missing)}, unknown {sorted(unknown)}")
    n = len(candles)

    def column(key: str, dtype) -> np.ndarray | None:
        if key not in raw or raw[key] is None:
            return None
        value = np.asarray(raw[key], dtype=dtype)
        if value.ndim == 0:
            value = _constant(candles, key, value, dtype)
        if value.shape != (n,):
            raise SignalError(f"{where}: get_signals[{key!r}] has shape {value.shape}; expected ({n},), one per candle")
        return value

    given = np.asarray(raw["position"])
    if given.dtype.kind in "iu" and given.shape == (n,):  # whole numbers already: no NaN to clear
        position = np.sign(given).astype(np.int8, copy=False)  # (a year of float copies saved)
    else:
        position = np.sign(np.nan_to_num(column("position", np.float64))).astype(np.int8)
    return Intents(position, column("price_take_profit", np.float64), column("price_stop_loss", np.float64),
                   column("minute_estimated_time", np.float64), column("price_open", np.float64))

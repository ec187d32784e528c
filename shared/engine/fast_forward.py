"""Finding, with numpy, the candle that closes a position or settles a scheduled entry.

No Python runs per candle: each scan is a few vector operations over the
candles the position can still live through. Backtest and Live call the same
functions; Live simply has fewer candles available (``limit``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..candles import Candles


@dataclass(slots=True)
class Settled:
    index: int  # the candle that settled it
    reason: str  # take_profit | stop_loss | time_expired | activated | timeout | price_reject
    price: float  # close price (or the VWAP of the candle for a cancel)


def scan_position(
    c: Candles,
    vwap: np.ndarray,
    start: int,
    limit: int,
    long: bool,
    take_profit: float,
    stop_loss: float,
    expires_ms: int,
) -> Settled | None:
    """First candle in [start, limit) that closes the position, per SEMANTICS.md 2.

    ``expires_ms``: the first candle time at which it expires (the earlier of
    frame end + 1 ms and pending_at + minute_estimated_time). Expiry beats a
    stop loss, which beats a take profit. None: still open after ``limit - 1``.
    """
    expiry = c.index_at(expires_ms)  # (searchsorted "left"; arithmetic on contiguous candles)
    stop = expiry if expiry < limit else limit
    if stop > start:
        v = vwap[start:stop]
        if long:
            hit_sl = c.low[start:stop] <= stop_loss
            hit = hit_sl | (v >= take_profit)
        else:
            hit_sl = c.high[start:stop] >= stop_loss
            hit = hit_sl | (v <= take_profit)
        k = int(hit.argmax())
        if hit[k]:
            if hit_sl[k]:
                return Settled(start + k, "stop_loss", stop_loss)
            return Settled(start + k, "take_profit", take_profit)
    if expiry < limit:
        return Settled(expiry, "time_expired", float(vwap[expiry]))
    return None


def scan_schedule(
    c: Candles,
    vwap: np.ndarray,
    start: int,
    limit: int,
    long: bool,
    price_open: float,
    stop_loss: float,
    expires_ms: int,
) -> Settled | None:
    """First candle in [start, limit) that activates or cancels a scheduled entry."""
    expiry = c.index_at(expires_ms)  # (searchsorted "left"; arithmetic on contiguous candles)
    stop = expiry if expiry < limit else limit
    if stop > start:
        if long:
            reject = c.low[start:stop] <= stop_loss
            hit = reject | (c.low[start:stop] <= price_open)
        else:
            reject = c.high[start:stop] >= stop_loss
            hit = reject | (c.high[start:stop] >= price_open)
        k = int(hit.argmax())
        if hit[k]:
            if reject[k]:
                return Settled(start + k, "price_reject", float(vwap[start + k]))
            return Settled(start + k, "activated", price_open)
    if expiry < limit:
        return Settled(expiry, "timeout", float(vwap[expiry]))
    return None


def excursions(
    vwap: np.ndarray,
    start: int,
    stop: int,
    long: bool,
    entry: float,
    peak: tuple[float, float],
    fall: tuple[float, float],
    pnl,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Peak and fall after the non-closing candles [start, stop).

    ``peak``/``fall`` are (price, pnl); ``pnl(price)`` gives the PnL at a price.
    The sequential rule of SEMANTICS.md reduces to an extreme of the window.
    """
    if stop <= start:
        return peak, fall
    v = vwap[start:stop]
    best = float(v.max() if long else v.min())
    worst = float(v.min() if long else v.max())
    if (best > entry and best > peak[0]) if long else (best < entry and best < peak[0]):
        best_pnl = pnl(best)
        if best_pnl > 0:
            peak = (best, best_pnl)
    if (worst < entry and worst < fall[0]) if long else (worst > entry and worst > fall[0]):
        fall = (worst, pnl(worst))
    return peak, fall

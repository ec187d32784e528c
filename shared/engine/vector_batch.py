"""The quiet fast lane of the vectorised form: every candidate trade settled in one batch.

When nobody listens to anything but the closed signals (a sweep variant on
a worker), the exits of all candidate entries are computed together with
2-D numpy windows, and the only Python loop left walks from one chosen trade
to the next (a few hundred steps per variant). The rules are those of
``lifecycle.py`` and ``fast_forward.py``, written over arrays; the twin tests
in tests/unit/test_vector_form.py hold the three paths to identical results.

Only market entries take this lane; scheduled entries (``price_open``),
risk checks, callbacks and event listeners take ``vector_walk``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..candles import Candles
from ..intervals import MINUTE_MS
from .intents import Intents
from .lifecycle import StrategyCore

WINDOW_CELLS = 2_000_000  # candidates x window candles per batch: bounds the memory of one batch


def eligible(core: StrategyCore, intents: Intents) -> bool:
    """True when this run can take the fast lane without changing what anyone sees."""
    return (not core.callbacks and core.risk is None and not core.emit_idle
            and (intents.price_open is None or bool(np.isnan(intents.price_open).all())))


class _Exits:
    """Validity and exit of each candidate entry, computed in batches of rows."""

    def __init__(self, core: StrategyCore, candles: Candles, intents: Intents, frame_end_ms: int) -> None:
        self.cfg = core.cfg
        self.c = candles
        self.vwap = candles.vwap(core.cfg.CC_AVG_PRICE_CANDLES_COUNT)
        self.intents = intents
        self.frame_end_ms = frame_end_ms

    def compute(self, tick_ms: np.ndarray, cursor: np.ndarray) -> dict[str, np.ndarray]:
        cfg, c, it = self.cfg, self.c, self.intents
        n = len(c)
        long = it.position[cursor] > 0
        entry = self.vwap[cursor - 1]
        tp = it.take_profit[cursor]
        sl = it.stop_loss[cursor]
        met = (np.full(len(cursor), float(cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES)) if it.expiry is None
               else it.expiry[cursor])
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = np.isfinite(tp) & (tp > 0) & np.isfinite(sl) & (sl > 0)
            ok &= np.isfinite(met) & (met == np.floor(met)) & (met > 0) & (met <= cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES)
            ok &= np.where(long, (tp > entry) & (entry > sl), (tp < entry) & (entry < sl))
            tp_dist = np.where(long, (tp - entry) / entry * 100, (entry - tp) / entry * 100)
            sl_dist = np.where(long, (entry - sl) / entry * 100, (sl - entry) / entry * 100)
            ok &= (tp_dist >= cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT)
            ok &= (sl_dist >= cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT)
            ok &= (sl_dist <= cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT)
        met_ms = np.where(ok, met, 1).astype(np.int64) * MINUTE_MS
        expires = np.minimum(tick_ms + met_ms, self.frame_end_ms + 1)
        start = cursor
        expiry = np.searchsorted(c.timestamp, expires, "left")
        stop = np.minimum(expiry, n)
        out = {name: np.empty(len(cursor)) for name in
               ("close_index", "price", "reason", "peak_price", "fall_price")}
        out["ok"], out["entry"], out["long"] = ok, entry, long
        out["tp"], out["sl"], out["met"] = tp, sl, met
        width = int((stop - start).max(initial=1))
        rows = max(1, WINDOW_CELLS // max(width, 1))
        for lo in range(0, len(cursor), rows):
            self._settle(slice(lo, lo + rows), start, stop, expiry, long, tp, sl, width, out)
        return out

    def _settle(self, part: slice, start, stop, expiry, long, tp, sl, width, out) -> None:
        c, vwap = self.c, self.vwap
        n = len(c)
        s, e, x = start[part], stop[part], expiry[part]
        lg, t, k = long[part], tp[part], sl[part]
        offsets = np.arange(width)
        idx = s[:, None] + offsets[None, :]
        inside = idx < e[:, None]
        idx = np.minimum(idx, n - 1)
        v = vwap[idx]
        lg2 = lg[:, None]
        hit_sl = np.where(lg2, c.low[idx] <= k[:, None], c.high[idx] >= k[:, None]) & inside
        hit_tp = np.where(lg2, v >= t[:, None], v <= t[:, None]) & inside
        hit = hit_sl | hit_tp
        first = hit.argmax(axis=1)
        rows = np.arange(len(s))
        any_hit = hit[rows, first]
        by_sl = any_hit & hit_sl[rows, first]
        expired_at = np.where(x < n, x, n - 1)  # data ran out: the last candle settles it
        close = np.where(any_hit, s + first, expired_at)
        price = np.where(by_sl, k, np.where(any_hit, t, vwap[close]))
        reason = np.where(by_sl, 0, np.where(any_hit, 1, 2))
        # candles before the settling one; when history ran out, the last candle is one of them too
        watched_end = np.where(any_hit, s + first, np.where(x < n, x, n))
        before_close = offsets[None, :] < (watched_end - s)[:, None]
        best = np.where(lg, np.where(before_close, v, -np.inf).max(axis=1),
                        np.where(before_close, v, np.inf).min(axis=1))
        worst = np.where(lg, np.where(before_close, v, np.inf).min(axis=1),
                         np.where(before_close, v, -np.inf).max(axis=1))
        out["close_index"][part] = close
        out["price"][part] = price
        out["reason"][part] = reason
        out["peak_price"][part] = best
        out["fall_price"][part] = worst


REASONS = ("stop_loss", "take_profit", "time_expired")


def walk_quiet(core: StrategyCore, candles: Candles, ticks: np.ndarray, intents: Intents,
               frame_end_ms: int, should_stop: Callable[[], bool] | None = None) -> Iterator[int]:
    """The vector walk for a quiet run: emits only "closed", identical to ``walk_intents``."""
    n = len(ticks)
    if n == 0 or not len(candles):
        return
    ts = candles.timestamp
    bucket = ticks // core.throttle_ms
    cursor = np.searchsorted(ts, ticks, "left")
    inside = (cursor > 0) & (cursor < len(candles))
    offered = np.zeros(n, dtype=bool)
    offered[inside] = intents.position[cursor[inside]] != 0
    first_of_bucket = np.r_[True, bucket[1:] != bucket[:-1]]
    calls = np.flatnonzero(offered & first_of_bucket)
    columns, row_of = _settle_candidates(_Exits(core, candles, intents, frame_end_ms), calls, ticks,
                                         cursor, ts, offered, bucket)
    call_list = calls.tolist()
    bucket_list = bucket.tolist()
    offered_list = offered.tolist()
    slip, fee = core.cfg.CC_PERCENT_SLIPPAGE / 100, core.cfg.CC_PERCENT_FEE
    last_bucket = core.last_bucket
    i = 0
    while i < n:
        if should_stop is not None and should_stop():
            break
        j = -1
        if bucket_list[i] != last_bucket:
            last_bucket = bucket_list[i]
            if offered_list[i]:
                j = i
        if j < 0:
            k = bisect_right(call_list, i)
            if k == len(call_list):
                break
            j = call_list[k]
            last_bucket = bucket_list[j]
        r = int(row_of[j])
        trade = {key: value[r] for key, value in columns.items()}
        if not trade["ok"]:
            i = j + 1  # a rejected signal uses up its bucket
            continue
        record = _closed_record(core, int(ticks[j]), trade, ts, slip, fee)
        core.settled_ms = record["close_timestamp"]
        core.emit("closed", record)
        i = int(np.searchsorted(ticks, core.settled_ms, "right"))
        yield i
    core.last_bucket = last_bucket


def _settle_candidates(exits: _Exits, calls: np.ndarray, ticks: np.ndarray, cursor: np.ndarray,
                       ts: np.ndarray, offered: np.ndarray, bucket: np.ndarray
                       ) -> tuple[dict[str, list], np.ndarray]:
    """Exits of every entry the walk can take, as columns, and the row of each tick.

    A trade starts at a bucket's first tick (``calls``) or at the first tick
    after another trade's close, if that tick offers and opens a new bucket.
    Settling the calls gives those resume ticks; settling them gives the
    next ones, until no new tick appears (usually two or three rounds).
    """
    n = len(ticks)
    row_of = np.full(n, -1, dtype=np.int64)
    parts: list[dict[str, np.ndarray]] = []
    fresh = calls
    rows = 0
    while len(fresh):
        part = exits.compute(ticks[fresh], cursor[fresh])
        row_of[fresh] = rows + np.arange(len(fresh))
        rows += len(fresh)
        parts.append(part)
        closes = ts[part["close_index"].astype(np.int64)][part["ok"]]
        starts = fresh[part["ok"]]
        resume = np.searchsorted(ticks, closes, "right")
        keep = resume < n
        resume, starts = resume[keep], starts[keep]
        keep = offered[resume] & (bucket[resume] != bucket[starts]) & (row_of[resume] < 0)
        fresh = np.unique(resume[keep])
    if not parts:
        return {}, row_of
    return {key: np.concatenate([p[key] for p in parts]).tolist() for key in parts[0]}, row_of


def _pnl(long: bool, entry: float, price: float, slip: float, fee: float) -> float:
    # the arithmetic of pnl.pnl_percentage, operation for operation
    if long:
        opened, closed = entry * (1 + slip), price * (1 - slip)
        gross = (closed - opened) / opened * 100
    else:
        opened, closed = entry * (1 - slip), price * (1 + slip)
        gross = (opened - closed) / opened * 100
    return gross - fee * (1 + closed / opened)


def _closed_record(core: StrategyCore, when_ms: int, trade: dict[str, Any], ts: np.ndarray,
                   slip: float, fee: float) -> dict[str, Any]:
    long = bool(trade["long"])
    entry = float(trade["entry"])
    price = float(trade["price"])
    close_ms = int(ts[int(trade["close_index"])])
    pnl = _pnl(long, entry, price, slip, fee)
    peak, fall = (entry, 0.0), (entry, _pnl(long, entry, entry, slip, fee))
    best, worst = float(trade["peak_price"]), float(trade["fall_price"])
    if math.isfinite(best) and (best > entry if long else best < entry):
        best_pnl = _pnl(long, entry, best, slip, fee)
        if best_pnl > 0:
            peak = (best, best_pnl)
    if math.isfinite(worst) and (worst < entry if long else worst > entry):
        fall = (worst, _pnl(long, entry, worst, slip, fee))
    if pnl < fall[1]:
        fall = (price, pnl)
    if pnl > 0 and pnl > peak[1]:
        peak = (price, pnl)
    signal = {
        "id": core._signal_id(when_ms),
        "position": "long" if long else "short",
        "price_open": entry,
        "price_take_profit": float(trade["tp"]),
        "price_stop_loss": float(trade["sl"]),
        "minute_estimated_time": int(trade["met"]),
        "note": None,
        "symbol": core.symbol,
        "strategy_name": core.name,
        "exchange_name": core.exchange_name,
        "frame_name": core.frame_name,
        "scheduled_at": when_ms,
        "pending_at": when_ms,
        "params": core.params or None,
    }
    return {"action": "closed", "symbol": core.symbol, "strategy_name": core.name,
            "exchange_name": core.exchange_name, "frame_name": core.frame_name,
            "backtest": core.mode == "backtest", "timestamp": close_ms, "signal": signal,
            "current_price": price, "close_reason": REASONS[int(trade["reason"])],
            "close_timestamp": close_ms,
            "pnl": {"pnl_percentage": pnl, "price_open": entry, "price_close": price},
            "peak_price": peak[0], "peak_pnl": peak[1], "fall_price": fall[0], "fall_pnl": fall[1]}

"""The quiet fast lane of the vectorised form: one tight loop from trade to trade.

When nobody listens to anything but the closed signals (a sweep variant on
a worker), the walk needs no events, no models and no per-tick calls: it
jumps from one offering call to the next with ``bisect``, checks the
signal on plain floats, and settles it with a few numpy operations over the
candles it can live through. The rules are those of ``lifecycle.py`` and
``fast_forward.py``; the twin tests in tests/unit/test_vector_form.py hold
the three walks to identical results.

Only market entries take this lane; scheduled entries (``price_open``),
risk checks, callbacks and event listeners take ``vector_walk``.

A strategy's position plan (shared/position_plan.py) takes this lane only
where the C loop is built: the loop walks each trade candle by candle with
the plan's rules and hands back its entries, partials and final levels, from
which the closed records are made (``_plan_records``). Without the C loop
such a run takes ``vector_walk``, which runs the plan as hooks.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import events
from ..candles import Candles
from ..intervals import MINUTE_MS
from . import batch_kernel
from .intents import Intents
from .lifecycle import StrategyCore
from .pnl import pnl_percentage
from .position import open_position
from .signal_rules import check_signal, level_problems
from .walk_grid import (
    block_extremes,
    inside_span,
    minute_grid,
    offered_ticks,
    ticks_uniform,
    walk_grid,
)


def eligible(core: StrategyCore, intents: Intents) -> bool:
    """True when this run can take the fast lane without changing what anyone sees."""
    return (
        not core.callbacks
        and not core.risk_in_python
        and not core.emit_idle
        and _no_python_hooks(core)
        and (intents.row_price_open is None or bool(np.isnan(intents.row_price_open).all()))
    )


def _no_python_hooks(core: StrategyCore) -> bool:
    """No position hook needs Python: none runs, or only a plan (no callback, no listener of a
    position event, no commit waiting), which the C loop runs where it is built."""
    if not core.manages_positions():
        return True
    return (
        core.hooks.plan is not None
        and not events.any_listened(events.POSITION_TOPICS)
        and (core.position is None or core.position.pending is None)
        and batch_kernel.available()
    )


REASONS = ("stop_loss", "take_profit", "time_expired")
COLUMNS = (
    "pnl",
    "pending_at",
    "close_timestamp",
    "peak_pnl",
    "fall_pnl",
)  # what a stats-only run keeps
# a stats-only run's columns, per name in COLUMNS: a list the Python loop appends to, which the
# compiled loop replaces with its array
Columns = dict[str, Any]
REJECTION_SCAN = (
    100  # refused intents of a run described (for their distinct reasons); the rest counted
)


def walk_batch(
    core: StrategyCore,
    candles: Candles,
    ticks: np.ndarray,
    intents: Intents,
    frame_end_ms: int,
    should_stop: Callable[[], bool] | None = None,
    columns: Columns | None = None,
) -> Iterator[int]:
    """The vector walk for a quiet run: emits only "closed", identical to ``vector_walk.walk_vector``.

    With ``columns`` (an empty list per name in COLUMNS; the compiled loop puts an array in
    its place) nothing is emitted: each trade appends what the statistics need (its PnL, times, and
    peak and fall PnL), and no record or signal id is built (a sweep variant
    needs only statistics).
    That loop runs in C (batch_kernel.py) where the extension is built.
    """
    n = len(ticks)
    m = len(candles)
    if n == 0 or m == 0:
        return
    cfg = core.cfg
    ts = candles.timestamp
    low, high = candles.low, candles.high
    vwap = candles.vwap(cfg.CC_AVG_PRICE_CANDLES_COUNT)
    bucket, cursor, inside, first_of_bucket = walk_grid(candles, ticks, core.throttle_ms)
    uniform = ticks_uniform(candles, ticks)
    if (columns is not None or core.hooks.plan is not None) and batch_kernel.available():
        yield from _walk_compiled(
            core,
            candles,
            ticks,
            intents,
            frame_end_ms,
            should_stop,
            columns,
            bucket,
            cursor,
            inside,
            first_of_bucket,
            vwap,
            uniform,
        )
        return
    offered = np.zeros(n, dtype=bool)
    offered[inside] = intents.position[cursor[inside]] != 0
    call_list = np.flatnonzero(offered & first_of_bucket).tolist()
    # the loop touches a few entries per trade: plain indexing beats converting whole arrays
    bucket_list, offered_list, cursor_list, tick_list = bucket, offered, cursor, ticks
    position, take_profit, stop_loss = intents.position, intents.take_profit, intents.stop_loss
    expiry = intents.expiry
    max_life = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES
    min_tp, min_sl, max_sl = (
        cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT,
        cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT,
        cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT,
    )
    slip, fee = cfg.CC_PERCENT_SLIPPAGE, cfg.CC_PERCENT_FEE  # percent, as pnl_percentage takes them
    contiguous = candles.contiguous
    first_ms = int(ts[0])
    tick0, step = int(ticks[0]), int(ticks[1] - ticks[0]) if n > 1 else 1
    last_bucket = core.last_bucket
    i = 0
    while i < n:
        if should_stop is not None and should_stop():
            break
        j = -1
        if bucket_list[i] != last_bucket:
            last_bucket = int(bucket_list[i])
            if offered_list[i]:
                j = i
        if j < 0:
            k = bisect_right(call_list, i)
            if k == len(call_list):
                break
            j = call_list[k]
            last_bucket = int(bucket_list[j])
        c = int(cursor_list[j])
        t = int(tick_list[j])
        long = bool(position[c] > 0)
        entry = float(vwap[c - 1])
        tp, sl = float(take_profit[c]), float(stop_loss[c])
        met = float(max_life) if expiry is None else float(expiry[c])
        if level_problems(long, entry, tp, sl, met, max_life, min_tp, min_sl, max_sl):
            note_rejected(core, intents, c, t, entry)
            i = j + 1  # a rejected signal uses up its bucket
            continue
        expires = min(
            t + int(met) * MINUTE_MS if met != math.inf else frame_end_ms + 1, frame_end_ms + 1
        )
        if contiguous:
            x = max(0, -(-(expires - first_ms) // MINUTE_MS))
        else:
            x = int(np.searchsorted(ts, expires, "left"))
        stop = x if x < m else m
        v = vwap[c:stop]
        hit_sl = (low[c:stop] <= sl) if long else (high[c:stop] >= sl)
        hit = hit_sl | ((v >= tp) if long else (v <= tp))
        f = int(hit.argmax()) if len(hit) else 0
        if len(hit) and hit[f]:
            close, watched = c + f, f
            reason, price = (0, sl) if hit_sl[f] else (1, tp)
        else:
            close = x if x < m else m - 1  # data ran out: the last candle settles it
            watched = stop - c
            reason, price = 2, float(vwap[close])
        if watched > 0:
            seen = v[:watched]
            best, worst = (
                (float(seen.max()), float(seen.min()))
                if long
                else (float(seen.min()), float(seen.max()))
            )
        else:
            best = worst = math.nan
        if columns is not None:
            close_ms = int(ts[close])
            pnl = _pnl(long, entry, price, slip, fee)
            peak, fall = _excursions(long, entry, price, pnl, best, worst, slip, fee)
            columns["pnl"].append(pnl)
            columns["pending_at"].append(t)
            columns["close_timestamp"].append(close_ms)
            columns["peak_pnl"].append(peak[1])
            columns["fall_pnl"].append(fall[1])
            core.settled_ms = close_ms
            i = (
                (close_ms - tick0) // step + 1
                if uniform
                else int(np.searchsorted(ticks, close_ms, "right"))
            )
            continue
        record = _closed_record(
            core,
            t,
            long,
            entry,
            tp,
            sl,
            int(met) if met != math.inf else met,
            price,
            reason,
            int(ts[close]),
            best,
            worst,
            slip,
            fee,
        )
        core.settled_ms = record["close_timestamp"]
        core.emit("closed", record)
        if uniform:
            i = max(0, (core.settled_ms - tick0) // step + 1)
        else:
            i = int(np.searchsorted(ticks, core.settled_ms, "right"))
        yield min(i, n)
    core.last_bucket = last_bucket


def _walk_compiled(
    core: StrategyCore,
    candles: Candles,
    ticks: np.ndarray,
    intents: Intents,
    frame_end_ms: int,
    should_stop: Callable[[], bool] | None,
    columns: Columns | None,
    bucket: np.ndarray,
    cursor: np.ndarray,
    inside: np.ndarray,
    first_of_bucket: np.ndarray,
    vwap: np.ndarray,
    uniform: bool,
) -> Iterator[int]:
    """The stats-only loop in C (batch_kernel), one segment of ticks per call, the stop flag between.
    It reads the intents' rows only: a variant costs its offers and trades, not a pass over the ticks.
    Without ``columns`` (a run with a position plan that keeps its closed signals) each segment's
    trades come back in detail and are emitted as closed records."""
    cfg = core.cfg
    plan = None if core.hooks.plan is None else batch_kernel.plan_vector(core.hooks.plan.plan, cfg)
    detail = columns is None
    n = len(ticks)
    offered, offered_row = offered_ticks(candles, ticks, cursor, inside, intents.rows)
    size = len(offered)  # each trade opens at an offered tick of its own: no more trades than those
    out = (np.empty(size), np.empty(size, np.int64), np.empty(size, np.int64))
    excursions = (np.empty(size), np.empty(size))
    rejected_at = np.empty(
        min(size, REJECTION_SCAN), np.int64
    )  # the first refused ticks, for messages
    limits = (
        cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT,
        cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT,
        cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT,
        cfg.CC_PERCENT_SLIPPAGE,
        cfg.CC_PERCENT_FEE,
    )
    blocks = block_extremes(candles, vwap, cfg.CC_AVG_PRICE_CANDLES_COUNT)
    even = inside_span(candles, ticks, cursor, inside) if uniform and core.throttle_ms > 0 else None
    span = None if even is None else (even[0], even[2], core.throttle_ms)  # tick a opens candle c0
    exact_minutes = minute_grid(candles)
    i, count, rejected = 0, 0, 0
    last_bucket = core.last_bucket if core.last_bucket is not None else -1  # buckets are >= 0
    ran = False
    while i < n:
        if should_stop is not None and should_stop():
            break
        ran = True
        before = count
        i, last_bucket, count, rejected, *details = batch_kernel.settle(
            i,
            i + batch_kernel.SEGMENT_TICKS,
            last_bucket,
            bucket,
            first_of_bucket,
            cursor,
            ticks,
            offered,
            offered_row,
            intents.side,
            intents.row_take_profit,
            intents.row_stop_loss,
            intents.row_expiry,
            vwap,
            candles.low,
            candles.high,
            candles.timestamp,
            candles.contiguous,
            uniform,
            frame_end_ms,
            cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES,
            limits,
            out,
            count,
            excursions,
            rejected_at,
            rejected,
            blocks,
            span,
            exact_minutes,
            plan,
            detail,
        )
        if detail:
            for record in _plan_records(
                core, candles, intents, out[1][before:count], out[2][before:count], *details
            ):
                core.emit("closed", record)
        yield min(int(i), n)
    if columns is None:
        _note_rejections(core, intents, cursor, ticks, vwap, rejected_at, rejected)
        if count:
            core.settled_ms = int(out[2][count - 1])
        if ran:
            core.last_bucket = int(last_bucket)
        return
    for key, values in zip(COLUMNS, (*out, *excursions), strict=True):
        # kept as arrays: statistics read arrays, and 3,000 trades as lists and back cost ~0.7 ms
        # (each run's columns start empty, and one compiled walk fills them)
        columns[key] = values[:count]
    _note_rejections(core, intents, cursor, ticks, vwap, rejected_at, rejected)
    if count:
        core.settled_ms = int(out[2][count - 1])
    if ran:
        core.last_bucket = int(last_bucket)


def _note_rejections(
    core: StrategyCore,
    intents: Intents,
    cursor: np.ndarray,
    ticks: np.ndarray,
    vwap: np.ndarray,
    rejected_at: np.ndarray,
    rejected: int,
) -> None:
    for j in rejected_at[: min(rejected, len(rejected_at))].tolist():
        c = int(cursor[j])
        note_rejected(core, intents, c, int(ticks[j]), float(vwap[c - 1]))
    core.rejected += rejected - min(rejected, len(rejected_at))  # counted, not described


def _plan_records(
    core: StrategyCore,
    candles: Candles,
    intents: Intents,
    pending: np.ndarray,
    closes: np.ndarray,
    trades: bytes,
    entries: bytes,
    partials: bytes,
) -> Iterator[dict[str, Any]]:
    """The closed records of a segment's plan trades, from the C loop's details: each as
    ``lifecycle.StrategyCore._close`` writes it for the same trade walked with hooks."""
    trade_rows = np.frombuffer(trades, dtype=np.float64).reshape(-1, batch_kernel.TRADE_FIELDS)
    entry_rows = (
        np.frombuffer(entries, dtype=np.float64).reshape(-1, batch_kernel.ENTRY_FIELDS).tolist()
    )
    partial_rows = (
        np.frombuffer(partials, dtype=np.float64).reshape(-1, batch_kernel.PARTIAL_FIELDS).tolist()
    )
    max_life = core.cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES
    e = p = 0
    for t, close_ms, trade in zip(
        pending.tolist(), closes.tolist(), trade_rows.tolist(), strict=True
    ):
        reason, _, price, sl, tp, entry, peak_price, fall_price, n_e, n_p, pnl, peak, fall = trade
        row = int(np.searchsorted(intents.rows, candles.index_at(t)))
        met = float(max_life) if intents.row_expiry is None else float(intents.row_expiry[row])
        made = [
            {"price": q[0], "cost": q[1], "timestamp": int(q[2])}
            for q in entry_rows[e : e + int(n_e)]
        ]
        closed = [
            {
                "type": "loss" if q[0] else "profit",
                "percent": q[1],
                "current_price": q[2],
                "cost_basis_at_close": q[3],
                "entry_count_at_close": int(q[4]),
                "timestamp": int(q[5]),
            }
            for q in partial_rows[p : p + int(n_p)]
        ]
        e, p = e + int(n_e), p + int(n_p)
        signal = {
            "id": core._signal_id(t),
            "position": "long" if intents.side[row] > 0 else "short",
            "price_open": entry,
            "price_take_profit": tp,
            "price_stop_loss": sl,
            "minute_estimated_time": int(met) if met.is_integer() else met,
            "note": None,
            "symbol": core.symbol,
            "strategy_name": core.name,
            "exchange_name": core.exchange_name,
            "frame_name": core.frame_name,
            "scheduled_at": t,
            "pending_at": t,
            "params": core.params or None,
            "original_price_open": made[0]["price"],
            "original_price_stop_loss": float(intents.row_stop_loss[row]),
            "original_price_take_profit": float(intents.row_take_profit[row]),
            "entries": made,
            "partials": closed,
            "total_entries": len(made),
            "total_partials": len(closed),
            "close_id": None,
        }
        invested = sum(q["cost"] for q in made)
        yield {
            "action": "closed",
            "symbol": core.symbol,
            "strategy_name": core.name,
            "exchange_name": core.exchange_name,
            "frame_name": core.frame_name,
            "backtest": core.mode == "backtest",
            "timestamp": close_ms,
            "signal": signal,
            "current_price": price,
            "close_reason": PLAN_REASONS[int(reason)],
            "close_timestamp": close_ms,
            "pnl": {
                "pnl_percentage": pnl,
                "price_open": entry,
                "price_close": price,
                "pnl_entries": invested,
                "pnl_cost": pnl / 100 * invested,
            },
            "peak_price": peak_price,
            "peak_pnl": peak,
            "fall_price": fall_price,
            "fall_pnl": fall,
        }


PLAN_REASONS = batch_kernel.PLAN_REASONS  # _batch_kernel.c's reason codes of a plan trade


def _pnl(long: bool, entry: float, price: float, slip: float, fee: float) -> float:
    return pnl_percentage("long" if long else "short", entry, price, slip, fee)


def note_rejected(core: StrategyCore, intents: Intents, c: int, t: int, entry: float) -> None:
    """Count a refused intent; the first REJECTION_SCAN of a run are described (so the
    message is the one ``lifecycle.consider`` gives), the rest only counted."""
    if core.rejected >= REJECTION_SCAN:
        core.rejected += 1
        return
    where = core._where(t)
    _, problems = check_signal(intents.signal_at(c), entry, core.cfg)
    core.note_rejection(f"{where}: signal rejected: " + "; ".join(problems))


def _excursions(
    long: bool,
    entry: float,
    price: float,
    pnl: float,
    best: float,
    worst: float,
    slip: float,
    fee: float,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(price, PnL) of a trade's peak and fall, from the best and worst VWAP it saw
    before its close (``_batch_kernel.c`` computes the same PnLs)."""
    peak, fall = (entry, 0.0), (entry, _pnl(long, entry, entry, slip, fee))
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
    return peak, fall


def _closed_record(
    core: StrategyCore,
    when_ms: int,
    long: bool,
    entry: float,
    tp: float,
    sl: float,
    met: int | float,
    price: float,
    reason: int,
    close_ms: int,
    best: float,
    worst: float,
    slip: float,
    fee: float,
) -> dict[str, Any]:
    pnl = _pnl(long, entry, price, slip, fee)
    peak, fall = _excursions(long, entry, price, pnl, best, worst, slip, fee)
    signal = {
        "id": core._signal_id(when_ms),
        "position": "long" if long else "short",
        "price_open": entry,
        "price_take_profit": tp,
        "price_stop_loss": sl,
        "minute_estimated_time": met,
        "note": None,
        "symbol": core.symbol,
        "strategy_name": core.name,
        "exchange_name": core.exchange_name,
        "frame_name": core.frame_name,
        "scheduled_at": when_ms,
        "pending_at": when_ms,
        "params": core.params or None,
    }
    cost = getattr(core.cfg, "CC_POSITION_ENTRY_COST", 100.0)
    open_position(signal, cost)  # (the fields every closed signal carries, SEMANTICS 9)
    return {
        "action": "closed",
        "symbol": core.symbol,
        "strategy_name": core.name,
        "exchange_name": core.exchange_name,
        "frame_name": core.frame_name,
        "backtest": core.mode == "backtest",
        "timestamp": close_ms,
        "signal": signal,
        "current_price": price,
        "close_reason": REASONS[reason],
        "close_timestamp": close_ms,
        "pnl": {
            "pnl_percentage": pnl,
            "price_open": entry,
            "price_close": price,
            "pnl_entries": cost,
            "pnl_cost": pnl / 100 * cost,
        },
        "peak_price": peak[0],
        "peak_pnl": peak[1],
        "fall_price": fall[0],
        "fall_pnl": fall[1],
    }

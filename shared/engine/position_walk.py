"""Walking an open position candle by candle, with its hooks (SEMANTICS.md 2 and 9).

Taken instead of ``fast_forward.scan_position`` when the strategy or a
listener registers a position hook (``StrategyCore.manages_positions``): a
commit may move the stop or the take profit, add an entry or ask for a
close, so each candle's checks depend on the hooks of the candle before.

For each candle u, in this order: past the frame end -> "time_expired" at
VWAP_u; a user's close committed at u-1 -> "closed" at VWAP_u; the
lifetime over -> "time_expired"; long low_u <= SL -> "stop_loss" at SL,
else VWAP_u >= TP -> "take_profit" at TP (short mirrored), with the SL and
TP in force (trailed where moved). A candle that leaves the position open
runs its hook (``position_hook.PositionHook.walk`` takes a block of candles,
checks and hooks; in Live each hook is ``run_live``, which persists as it
goes). A Live run restored from a state that a crash
left inside a candle's hook first finishes that hook, then goes on with the
next candle.

A backtest position whose only hook is the strategy's position plan (no
callback, no listener of a position event) is walked by the compiled loop
instead (``_walk_compiled``, batch_kernel.plan_position): the same rules the
sweeps run, held to the hooks by tests/unit/test_position_plan_twins.py; the
signal, its peak and fall and the commit counts come back as the hooks would
have left them, and the close is the core's own.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import events
from ..candles import Candles
from ..context import activate, deactivate
from ..errors import DataCoverageError
from ..intervals import MINUTE_MS
from . import batch_kernel
from .fast_forward import Settled
from .walk_grid import block_extremes

if TYPE_CHECKING:  # (lifecycle imports this module)
    from .lifecycle import StrategyCore

# candles read into Python lists at a time (indexing numpy per candle costs ~4x more): a first block
# of FIRST_BLOCK, doubling up to BLOCK (most positions close within a hundred candles; reading 1,024
# for each cost more than walking them)
FIRST_BLOCK, BLOCK = 64, 1024


def walk_position(core: StrategyCore, candles: Candles, vwap: np.ndarray, limit: int) -> None:
    """Advance ``core``'s active position over candles [next_ms, limit), hooks included."""
    sig, pos = core.signal, core.position
    long = pos.long
    if pos.hook_todo is not None:  # Live, restored: a crash cut the last candle's hook short
        _finish_hook(core, candles, vwap, limit)
    start = candles.index_at(core.next_ms)
    if limit <= start:
        return
    frame_end = math.inf if core.frame_end_ms is None else core.frame_end_ms
    lifetime = sig["minute_estimated_time"]
    expires = sig["pending_at"] + lifetime * MINUTE_MS if math.isfinite(lifetime) else math.inf
    if (
        limit == len(candles)
        and _compiled(core, candles, vwap, start)
        and _walk_compiled(core, candles, vwap, start)
    ):
        return
    hook = core.hook_for(candles, vwap)
    live = core.hooks.checkpoint is not None
    extreme = candles.low if long else candles.high
    token = activate(core._context)  # (the hook sets the context's hook while hooks run only)
    try:
        first, hit = start, None
        if not live and hook.native():
            first, hit = hook.walk_native(
                start, limit, candles.timestamp, extreme, vwap, frame_end, expires
            )
        size = FIRST_BLOCK
        while hit is None and first < limit:
            last = min(first + size, limit)
            hit = hook.walk(
                first,
                candles.timestamp[first:last].tolist(),
                extreme[first:last].tolist(),
                vwap[first:last].tolist(),
                frame_end,
                expires,
                live,
            )
            first, size = last, min(2 * size, BLOCK)
        if hit is not None:
            index, reason, price = hit
            # (a user's close records no close excursion)
            core._close(
                Settled(index, reason, price),
                int(candles.timestamp[index]),
                excursion=reason != "closed",
            )
            return
        core.next_ms = int(candles.timestamp[limit - 1]) + MINUTE_MS
    finally:
        deactivate(token)


def _finish_hook(core: StrategyCore, candles: Candles, vwap: np.ndarray, limit: int) -> None:
    """Run the rest of the hook ``Position.hook_todo`` holds, on its candle; without that
    candle (the exchange lost it) the rest is dropped and said on listen_error."""
    cut = core.position.hook_todo
    i = candles.index_at(cut["u"])
    if i >= limit or int(candles.timestamp[i]) != cut["u"]:
        core.position.hook_todo = None
        steps = ", ".join(step[0] for step in cut["todo"]) or "none"
        core._error(
            DataCoverageError(
                f"{core._where(cut['u'])}: the hook of this candle was cut short by a crash and cannot be finished: "
                f"the exchange no longer returns the candle; its remaining steps ({steps}) and "
                f"{len(cut['queue'])} commit events not yet emitted are dropped"
            ),
            cut["u"],
        )
        return
    hook = core.hook_for(candles, vwap)
    token = activate(core._context)
    try:
        hook.resume(i)
    finally:
        deactivate(token)


def _compiled(core: StrategyCore, candles: Candles, vwap: np.ndarray, start: int) -> bool:
    """True when the compiled loop may walk this position: a backtest's fresh position whose only
    hook is the plan (nobody would see a candle's hook), a whole-minute lifetime (the loop's
    expiry counts minutes), every VWAP it may read a number (a NaN price makes a commit an error
    on listen_error, which only the hooks write) and the C loop built."""
    hooks, pos, sig = core.hooks, core.position, core.signal
    if (
        hooks.plan is None
        or hooks.checkpoint is not None
        or start < 1
        or pos.pending is not None
        or pos.plan_state is not None
        or pos.hook_todo is not None
        or pos.trailed_sl
        or pos.trailed_tp
        or len(sig["entries"]) != 1
        or sig["partials"]
        or hooks.hooked
        or events.any_listened(events.POSITION_TOPICS)
        or not batch_kernel.available()
    ):
        return False
    lifetime = sig["minute_estimated_time"]
    if math.isfinite(lifetime) and lifetime != int(lifetime):
        return False
    # (the first hook prices at the VWAP before it)
    return start - 1 > _last_nan(candles, vwap, core.cfg.CC_AVG_PRICE_CANDLES_COUNT)


def _last_nan(candles: Candles, vwap: np.ndarray, avg_count: int) -> int:
    """The last candle whose VWAP (``candles.vwap(avg_count)``) is not a number (-1: none),
    kept on the candles."""
    key = ("vwap_last_nan", avg_count)
    last = candles.memo.get(key)
    if last is None:
        bad = np.flatnonzero(~np.isfinite(vwap))
        last = candles.memo[key] = int(bad[-1]) if len(bad) else -1
    return last


def _walk_compiled(core: StrategyCore, candles: Candles, vwap: np.ndarray, start: int) -> bool:
    """Walk the position with its plan in the compiled loop and close it as the hooks' walk
    would; False (nothing changed) when the candles run out before a rule closes it: the walk
    in Python then takes it, so the end of the data settles it as everywhere else."""
    sig, cfg, hooks = core.signal, core.cfg, core.hooks
    kept = hooks.plan_arrays  # (candles, their arrays): the same for every position of the run
    if kept is None or kept[0] is not candles:
        kept = hooks.plan_arrays = (
            candles,
            batch_kernel.plan_arrays(
                batch_kernel.plan_vector(hooks.plan.plan, cfg),
                vwap,
                candles.low,
                candles.high,
                candles.timestamp,
                block_extremes(candles, vwap, cfg.CC_AVG_PRICE_CANDLES_COUNT),
            ),
        )
    ruled, trade, (peak_price, peak, fall_price, fall), made, closed, counts, order = (
        batch_kernel.plan_position(
            kept[1],
            start,
            core.position.long,
            sig["pending_at"],
            sig["price_open"],
            sig["price_take_profit"],
            sig["price_stop_loss"],
            sig["minute_estimated_time"],
            _NO_FRAME_END if core.frame_end_ms is None else core.frame_end_ms,
            cfg.CC_PERCENT_SLIPPAGE,
            cfg.CC_PERCENT_FEE,
            core.peak,
            core.fall,
            sig["entries"][0]["cost"],
        )
    )
    if not ruled:
        return False
    reason, close, price, sl, tp, entry = trade[:6]
    close = int(close)
    e, p = batch_kernel.ENTRY_FIELDS, batch_kernel.PARTIAL_FIELDS
    if len(made) > e:  # (the first entry stays the dict open_position made)
        sig["entries"] = [
            *sig["entries"],
            *(
                {"price": made[k], "cost": made[k + 1], "timestamp": int(made[k + 2])}
                for k in range(e, len(made), e)
            ),
        ]
        sig["total_entries"] = len(sig["entries"])
    if closed:
        sig["partials"] = [
            {
                "type": "loss" if closed[k] else "profit",
                "percent": closed[k + 1],
                "current_price": closed[k + 2],
                "cost_basis_at_close": closed[k + 3],
                "entry_count_at_close": int(closed[k + 4]),
                "timestamp": int(closed[k + 5]),
            }
            for k in range(0, len(closed), p)
        ]
        sig["total_partials"] = len(sig["partials"])
    sig["price_open"], sig["price_stop_loss"], sig["price_take_profit"] = entry, sl, tp
    for k in order:
        applied, refused = counts[2 * k], counts[2 * k + 1]
        kept = hooks.counts.setdefault(batch_kernel.PLAN_KINDS[k], [0, 0])
        kept[0] += applied
        kept[1] += refused
    core.peak, core.fall = (peak_price, peak), (fall_price, fall)
    by_user = batch_kernel.PLAN_REASONS[int(reason)] == "closed"
    if by_user:
        sig["close_id"] = None  # (the plan's close_pending and a full partial close carry no id)
    # the context as the hooks' walk leaves it for the close's callbacks: at the last hook's candle
    ctx = core._context
    if close > start:
        ctx.when_ms, ctx.cursor = int(candles.timestamp[close - 1]), close - 1
    token = activate(ctx)
    try:
        core._close(
            Settled(close, batch_kernel.PLAN_REASONS[int(reason)], price),
            int(candles.timestamp[close]),
            excursion=not by_user,
        )
    finally:
        deactivate(token)
    return True


_NO_FRAME_END = 2**62  # (a frame without an end: no candle is past it)

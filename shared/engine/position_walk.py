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
runs its hook (``position_hook.PositionHook.run``; in Live, ``run_live``,
which persists as it goes). A Live run restored from a state that a crash
left inside a candle's hook first finishes that hook, then goes on with the
next candle.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..candles import Candles
from ..context import activate, deactivate
from ..errors import DataCoverageError
from ..intervals import MINUTE_MS
from .fast_forward import Settled

if TYPE_CHECKING:  # (lifecycle imports this module)
    from .lifecycle import StrategyCore

BLOCK = 1024  # candles read into Python lists at a time (indexing numpy per candle costs ~4x more)


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
    hook = core.hook_for(candles, vwap)
    run = hook.run if core.hooks.checkpoint is None else hook.run_live
    token = activate(
        core._context
    )  # (PositionHook.run sets the context's hook for its candle only)
    try:
        for first in range(start, limit, BLOCK):
            last = min(first + BLOCK, limit)
            ts = candles.timestamp[first:last].tolist()
            extreme = (candles.low if long else candles.high)[first:last].tolist()
            prices = vwap[first:last].tolist()
            for k, u in enumerate(ts):
                price = prices[k]
                if u > frame_end:
                    core._close(Settled(first + k, "time_expired", price), u)
                    return
                pending = pos.pending
                if pending is not None and pending["action"] == "close":
                    sig["close_id"] = pending["id"]
                    core._close(Settled(first + k, "closed", price), u, excursion=False)
                    return
                if u >= expires:
                    core._close(Settled(first + k, "time_expired", price), u)
                    return
                sl, tp = sig["price_stop_loss"], sig["price_take_profit"]
                if long:
                    if extreme[k] <= sl:
                        core._close(Settled(first + k, "stop_loss", sl), u)
                        return
                    if price >= tp:
                        core._close(Settled(first + k, "take_profit", tp), u)
                        return
                else:
                    if extreme[k] >= sl:
                        core._close(Settled(first + k, "stop_loss", sl), u)
                        return
                    if price <= tp:
                        core._close(Settled(first + k, "take_profit", tp), u)
                        return
                run(first + k, u, price)
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

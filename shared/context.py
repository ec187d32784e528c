"""What a strategy's ``get_signal`` and hooks may read and do: helpers bound to the current run.

The helpers read a context variable the engine sets before each call, so a
strategy written for a backtest runs unchanged live. ``get_candles`` only
ever returns candles that closed before ``when``: the window is cut at the
engine's cursor, and the cursor is never past ``when``.

The ``commit_*`` functions manage an open position (SEMANTICS.md 9). They
work only while the engine runs a position hook (``on_active_ping``,
``on_partial_profit``, ``on_partial_loss``, ``on_breakeven``, ``on_schedule``
or a ``listen_*`` listener of those events): the engine then sets ``hook``
on the context, and each commit is handed to it. Each returns True when
applied and False when refused; a refusal is never an exception.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from .candles import Candles, CandleWindow
from .errors import BtfarmError, UsageError
from .intervals import MINUTE_MS, interval_ms


@dataclass(slots=True)
class RunContext:
    symbol: str
    mode: Literal["backtest", "live"]
    candles: Candles
    params: dict[str, Any]
    avg_count: int
    when_ms: int = 0
    cursor: int = 0  # index of the first candle not yet closed at when_ms
    others: dict[str, Candles] = field(default_factory=dict)
    load_other: Any = None  # callable(symbol) -> Candles, for other symbols
    series: dict[tuple, tuple[memoryview, int]] = field(default_factory=dict)  # get_indicator's
    hook: Any = None  # while a position hook runs: what applies commits (engine/position_hook.py)
    window: CandleWindow | None = None  # get_candles' last window of the run's symbol at 1m

    def candles_for(self, symbol: str) -> tuple[Candles, int]:
        if symbol == self.symbol:
            return self.candles, self.cursor
        other = self.others.get(symbol)
        if other is None:
            if self.load_other is None:
                raise BtfarmError(f"get_candles: no candles for {symbol} in this run")
            other = self.others[symbol] = self.load_other(symbol)
        return other, other.index_at(self.when_ms - self.when_ms % MINUTE_MS)


_current: ContextVar[RunContext | None] = ContextVar("btfarm_run_context", default=None)


OUTSIDE_A_RUN = "this helper only works inside get_signal, while btfarm runs the strategy"


def _ctx() -> RunContext:
    ctx = _current.get()
    if ctx is None:
        raise BtfarmError(OUTSIDE_A_RUN)
    return ctx


def _closed(ctx: RunContext, symbol: str, interval: str) -> tuple[Candles, int]:
    """The candles of ``symbol`` at ``interval`` and how many of them closed before ``when``."""
    candles, cursor = ctx.candles_for(symbol)
    if interval == "1m":
        return candles, cursor
    agg = candles.aggregated(interval)
    # a bucket is visible once its whole interval has passed
    return agg, agg.index_at(ctx.when_ms - interval_ms(interval) + 1)


def get_candles(symbol: str, interval: str = "1m", limit: int = 1) -> CandleWindow:
    """The last ``limit`` candles of ``interval`` that closed before ``when``."""
    ctx = _current.get()  # (_ctx and Candles.window inlined: a strategy calls this at every ask)
    if ctx is None:
        raise BtfarmError(OUTSIDE_A_RUN)
    if interval == "1m" and symbol == ctx.symbol:
        end = ctx.cursor
        start = end - limit if end > limit else 0
        # the same call again in the same ask gets the same window (and the views it made)
        window = ctx.window
        if (
            window is not None
            and window._end == end
            and window._start == start
            and window._source is ctx.candles
        ):
            return window
        window = ctx.window = CandleWindow(ctx.candles, start, end)
        return window
    candles, end = _closed(ctx, symbol, interval)
    return candles.window(end, limit)


def get_indicator(
    symbol: str,
    name: str,
    length: int | None = None,
    *,
    field: str | None = None,
    ago: int = 0,
    interval: str = "1m",
) -> float:
    """An indicator of ``btfarm.shared.indicators`` (sma, ema, rsi, atr, rolling_max,
    rolling_min, vwap) over the candles of ``interval`` that closed before ``when``, or
    ``ago`` candles earlier; NaN while its window is not full.

    The series is computed once per candle set and each call reads one element, so
    ``get_indicator(symbol, "sma", 30)`` costs what ``get_params`` does, where
    ``get_candles(symbol, "1m", 30).close.mean()`` sums 30 closes every call. It is the
    value a vectorised strategy reads at the same row (``indicators.sma(candles, 30)[k]``):
    the same double, so the two forms take the same trades.
    """
    ctx = _current.get()  # (_ctx inlined: a strategy calls this several times an ask)
    if ctx is None:
        raise BtfarmError(OUTSIDE_A_RUN)
    key = (symbol, interval, name, length, field)
    found = ctx.series.get(key)
    if found is None:
        from . import indicators  # (here: it imports the engine package, which imports this module)

        candles, _ = _closed(ctx, symbol, interval)
        series, first = indicators.through(candles, name, length, field)
        # read through a memoryview: its element is the same double as a Python float, where
        # float(series[i]) builds a numpy scalar first (~50 ns of each call)
        found = ctx.series[key] = (
            np.ascontiguousarray(series, dtype=np.float64).data,  # (ndarray.data: its memoryview)
            first,
        )
    if type(ago) is not int or ago < 0:  # noqa: E721 (bool and floats are refused too)
        raise UsageError(
            f"get_indicator: ago must be a whole number of candles >= 0 (0: the last closed "
            f"{interval} candle), got {ago!r}; a negative ago would read the future"
        )
    values, first = found
    row = (
        ctx.cursor
        if interval == "1m" and symbol == ctx.symbol
        else _closed(ctx, symbol, interval)[1]
    ) - ago
    return values[row - 1] if row >= first else math.nan


def get_average_price(symbol: str) -> float:
    """The current price: VWAP of the last CC_AVG_PRICE_CANDLES_COUNT closed 1m candles."""
    ctx = _ctx()
    candles, cursor = ctx.candles_for(symbol)
    if cursor == 0:
        raise BtfarmError(
            f"get_average_price: no candle of {symbol} closed before {get_date().isoformat()}"
        )
    return float(candles.vwap(ctx.avg_count)[cursor - 1])


def get_date() -> datetime:
    """The time the strategy is asked about (``when``)."""
    return datetime.fromtimestamp(_ctx().when_ms / 1000, tz=UTC)


def get_mode() -> Literal["backtest", "live"]:
    return _ctx().mode


def get_params() -> dict[str, Any]:
    """The strategy's params, with a sweep variant's overrides applied."""
    ctx = _current.get()  # (_ctx inlined: a strategy reads its params at every ask)
    if ctx is None:
        raise BtfarmError(OUTSIDE_A_RUN)
    return ctx.params


def activate(ctx: RunContext):
    """Make ``ctx`` the current run; returns the token to reset it."""
    return _current.set(ctx)


def deactivate(token) -> None:
    _current.reset(token)


# ---- commits: managing an open position (SEMANTICS.md 9) ------------------

HOOKS_WHERE = (
    "on_active_ping, on_partial_profit, on_partial_loss, on_breakeven (on_schedule for a "
    "scheduled signal), or a listener of listen_active_ping, listen_partial_profit_available, "
    "listen_partial_loss_available, listen_breakeven_available or listen_strategy_commit"
)


def _hook(name: str):
    ctx = _current.get()
    if ctx is None or ctx.hook is None:
        where = (
            "no strategy runs in this thread"
            if ctx is None
            else "get_signal and the other callbacks cannot commit"
        )
        raise UsageError(
            f"{name} was called outside a position hook ({where}); call it inside the strategy "
            f"callbacks {HOOKS_WHERE}, while btfarm runs the strategy"
        )
    return ctx.hook


def commit_trailing_stop(symbol: str, percent_shift: float, current_price: float) -> bool:
    """Move the stop loss: its distance from the effective entry becomes the original SL's
    distance plus ``percent_shift`` percent points (negative: tighter). Refused (False) when
    ``percent_shift`` is 0 or outside -100..100, when ``current_price`` is already past the
    new stop, when it would cross the take profit, or when it is not tighter than a stop
    already trailed."""
    return _hook("commit_trailing_stop").commit(
        "trailing_stop", symbol, percent_shift=percent_shift, current_price=current_price
    )


def commit_trailing_take(symbol: str, percent_shift: float, current_price: float) -> bool:
    """Move the take profit, measured from the original TP as ``commit_trailing_stop`` is
    from the original SL; a later move must bring TP closer to the price."""
    return _hook("commit_trailing_take").commit(
        "trailing_take", symbol, percent_shift=percent_shift, current_price=current_price
    )


def commit_partial_profit(symbol: str, percent: float) -> bool:
    """Close ``percent`` (0 < percent <= 100) of what remains of the position, at the current
    price (``get_average_price``: the candles before this one), while it is in profit and
    short of the take profit."""
    return _hook("commit_partial_profit").commit("partial_profit", symbol, percent=percent)


def commit_partial_loss(symbol: str, percent: float) -> bool:
    """Close ``percent`` of what remains while the position is at a loss and short of the stop."""
    return _hook("commit_partial_loss").commit("partial_loss", symbol, percent=percent)


def commit_breakeven(symbol: str) -> bool:
    """Move the stop loss to the effective entry, once the current price has passed the
    breakeven threshold (2 x (slippage + fee) + CC_BREAKEVEN_THRESHOLD percent)."""
    return _hook("commit_breakeven").commit("breakeven", symbol)


def commit_average_buy(symbol: str, cost: float | None = None) -> bool:
    """Add an entry of ``cost`` dollars (default CC_POSITION_ENTRY_COST) at the current
    price, which must be below every entry of a long (above, for a short)."""
    return _hook("commit_average_buy").commit("average_buy", symbol, cost=cost)


def commit_close_pending(symbol: str, id: str | None = None, note: str | None = None) -> bool:  # noqa: A002
    """Close the open position on the next candle, at its VWAP (close reason "closed",
    ``close_id`` = ``id``)."""
    return _hook("commit_close_pending").commit("close_pending", symbol, id=id, note=note)


def commit_cancel_scheduled(symbol: str, id: str | None = None, note: str | None = None) -> bool:  # noqa: A002
    """Cancel the scheduled signal on the next candle (cancel reason "user")."""
    return _hook("commit_cancel_scheduled").commit("cancel_scheduled", symbol, id=id, note=note)


def commit_activate_scheduled(symbol: str, id: str | None = None, note: str | None = None) -> bool:  # noqa: A002
    """Open the scheduled signal on the next candle, at its ``price_open``."""
    return _hook("commit_activate_scheduled").commit("activate_scheduled", symbol, id=id, note=note)

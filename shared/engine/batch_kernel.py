"""The stats-only batch lane in C: trade to trade without the interpreter.

A sweep variant on a worker spends most of its time in ``walk_batch``'s
Python loop (a dozen interpreter-level steps per trade). ``_batch_kernel.c`` is
the same loop, statement for statement, over plain arrays; it fills the
three columns the statistics need. The Python loop stays the reference:
tests/unit/test_batch_kernel.py holds the two to identical columns, float
for float (the C is built without fused multiply-add, so the PnL rounds
exactly as ``pnl_percentage`` does).

A strategy's position plan (shared/position_plan.py) runs in this loop too
(``plan_vector``; ``settle``'s ``plan`` and ``detail``): each trade is then
walked candle by candle with the plan's rules. That walk has no Python copy:
the rules' one Python copy is position.py with the plan's hooks
(position_plan_hooks.py), and tests/unit/test_position_plan_twins.py holds
the two to identical trades.

The extension is built by ``pip install`` (setup.py) where a C compiler is
found. Without it, or with ``BTFARM_NATIVE=0``, ``available()`` is False and
the Python loop runs. A C loop, not a JIT: it costs no compile time at
worker start and no LLVM in every worker's memory.
"""

from __future__ import annotations

import numpy as np

from ..engine_config import EngineConfig
from ..position_plan import ResolvedPlan
from . import native
from .position import breakeven_threshold

try:
    from . import _batch_kernel
except ImportError:  # built by pip install where a C compiler exists; optional
    _batch_kernel = None  # type: ignore[assignment]  # (callers check available() first)

SEGMENT_TICKS = (
    1_000_000  # ticks per call (~2 ms of a year's 525,600): the stop flag is checked between calls
)
PLAN_HEAD = 14  # numbers of plan_vector before the rungs (_batch_kernel.c's PLAN_HEAD)
TRADE_FIELDS = (
    13  # per plan trade in detail: reason, close index, close price, SL, TP, entry, peak price,
)
#                    fall price, entries, partials, pnl, peak pnl, fall pnl (_batch_kernel.c)
ENTRY_FIELDS = 3  # per entry: price, cost, timestamp
PARTIAL_FIELDS = (
    6  # per partial: type (0 profit, 1 loss), percent, price, cost basis, entries, timestamp
)


def unavailable_reason() -> str | None:
    """Why this process runs the Python loop instead, or None when the C loop is on."""
    return native.unavailable_reason(_batch_kernel, "_batch_kernel")


def available() -> bool:
    return unavailable_reason() is None


def settle(
    i: int,
    stop_i: int,
    last_bucket: int,
    bucket: np.ndarray,
    first_of_bucket: np.ndarray,
    cursor: np.ndarray,
    ticks: np.ndarray,
    offered: np.ndarray,
    offered_row: np.ndarray,
    side: np.ndarray,
    take_profit: np.ndarray,
    stop_loss: np.ndarray,
    expiry: np.ndarray | None,
    vwap: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    ts: np.ndarray,
    contiguous: bool,
    uniform: bool,
    frame_end_ms: int,
    max_life: int | float,
    limits: tuple[float, float, float, float, float],
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
    count: int,
    excursions: tuple[np.ndarray, np.ndarray],
    rejected_at: np.ndarray,
    rejected: int,
    blocks: tuple[np.ndarray, ...],
    span: tuple[int, int, int] | None = None,
    exact_minutes: bool = False,
    plan: np.ndarray | None = None,
    detail: bool = False,
) -> tuple:
    """Settle trades from tick ``i`` until tick ``stop_i`` is passed or the ticks end.

    ``offered`` are the ticks that offer a signal (ascending) and ``offered_row`` each one's
    row in ``side``, ``take_profit``, ``stop_loss`` and ``expiry`` (walk_grid.offered_ticks).
    Writes each trade's PnL, pending_at and close time at ``out[k][count]``, its
    peak and fall PnL at ``excursions[k][count]``, and the tick of each refused
    signal at ``rejected_at[rejected]`` while it has room; ``blocks`` are
    ``walk_grid.block_extremes`` of the candles; ``span`` = (first tick, its candle,
    throttle ms) when the ticks are even and tick ``first + k`` opens candle ``candle + k``
    (walk_grid.inside_span): the loop then computes a tick's time, candle and bucket instead
    of reading ``ticks``, ``cursor``, ``bucket`` and ``first_of_bucket``; ``exact_minutes``:
    candle k opens at ``ts[0]`` + k minutes (walk_grid.minute_grid), so a close's time is computed
    instead of read; ``limits`` = (min TP %,
    min SL %, max SL %, slippage %, fee %). Returns (next tick, last throttle
    bucket, count, rejected); a next tick >= len(ticks) means the walk is over.

    ``plan`` (``plan_vector``): each trade is walked candle by candle with the position plan's
    rules; with ``detail`` the result also carries each trade's ``Details`` as bytes (trades,
    entries, partials: float64, TRADE_FIELDS, ENTRY_FIELDS and PARTIAL_FIELDS each).
    """
    i64, f64 = np.int64, np.float64
    has_expiry = expiry is not None
    return _batch_kernel.settle(
        int(i),
        int(stop_i),
        int(last_bucket),
        _c(bucket, i64),
        _c(first_of_bucket, np.bool_),
        _c(cursor, i64),
        _c(ticks, i64),
        _c(offered, i64),
        _c(offered_row, i64),
        _c(side, np.int8),
        _c(take_profit, f64),
        _c(stop_loss, f64),
        _NO_EXPIRY if expiry is None else _c(expiry, f64),
        has_expiry,
        _c(vwap, f64),
        _c(low, f64),
        _c(high, f64),
        _c(ts, i64),
        bool(contiguous),
        bool(uniform),
        int(frame_end_ms),
        float(max_life),
        *(float(v) for v in limits),
        *out,
        int(count),
        *excursions,
        rejected_at,
        int(rejected),
        *(_c(b, f64) for b in blocks),
        *((-1, 0, 0) if span is None else (int(v) for v in span)),
        bool(exact_minutes),
        _NO_PLAN if plan is None else _c(plan, f64),
        bool(detail),
    )


# a plan trade's reason codes in the C loop: stop_loss, take_profit, time_expired, closed (a user's close)
PLAN_REASONS = ("stop_loss", "take_profit", "time_expired", "closed")
PLAN_KINDS = (  # the commit kinds _batch_kernel.c counts, in its order
    "trailing_stop",
    "trailing_take",
    "partial_profit",
    "partial_loss",
    "breakeven",
    "average_buy",
    "close_pending",
)


def plan_arrays(
    plan: np.ndarray,
    vwap: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    ts: np.ndarray,
    blocks: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, ...]:
    """``plan_position``'s arrays as the C loop reads them: the plan (``plan_vector``), the
    candles' VWAP, low, high and open times, and their ``walk_grid.block_extremes`` (made once
    per run: every position of the run reads the same)."""
    f64 = np.float64
    return (
        _c(plan, f64),
        _c(vwap, f64),
        _c(low, f64),
        _c(high, f64),
        _c(ts, np.int64),
        *(_c(b, f64) for b in blocks),
    )


def plan_position(
    arrays: tuple[np.ndarray, ...],
    c: int,
    long: bool,
    pending_at: int,
    entry: float,
    take_profit: float,
    stop_loss: float,
    minutes: float,
    frame_end_ms: int,
    slippage: float,
    fee: float,
    peak: tuple[float, float],
    fall: tuple[float, float],
    first_cost: float,
) -> tuple:
    """One open position walked from candle ``c`` with the plan, as ``settle`` walks a plan
    trade; ``arrays`` are ``plan_arrays``'; ``peak`` and ``fall`` its (price, PnL) so far;
    ``first_cost`` its first entry's dollars (the signal's ``cost``, else CC_POSITION_ENTRY_COST).

    Returns (ruled, trade, (peak price, peak PnL, fall price, fall PnL) before the close,
    entries, partials, counts, order): ``ruled`` False when the candles ran out before a rule
    closed it; ``trade`` TRADE_FIELDS floats; entries and partials as flat lists of
    ENTRY_FIELDS and PARTIAL_FIELDS floats each; ``counts`` (applied, refused) per PLAN_KINDS,
    flat; ``order`` the kinds' indices in the order of their first commit."""
    ruled, trade, excursions, entries, partials, counts, order = _batch_kernel.plan_position(
        *arrays,
        int(c),
        bool(long),
        int(pending_at),
        float(entry),
        float(take_profit),
        float(stop_loss),
        float(minutes),
        int(frame_end_ms),
        float(slippage),
        float(fee),
        *peak,
        *fall,
        float(first_cost),
    )
    # (memoryview casts: a few values each, where numpy's frombuffer costs more than the walk)
    return (
        bool(ruled),
        memoryview(trade).cast("d").tolist(),
        excursions,
        memoryview(entries).cast("d").tolist(),
        memoryview(partials).cast("d").tolist(),
        memoryview(counts).cast("q").tolist(),
        memoryview(order).cast("i").tolist(),
    )


_NO_EXPIRY = np.zeros(0)
_NO_PLAN = np.zeros(0)  # an empty plan: the plain loop


def plan_vector(plan: ResolvedPlan, cfg: EngineConfig) -> np.ndarray:
    """A resolved position plan as the C loop reads it: PLAN_HEAD numbers (rung counts, breakeven
    and its threshold, DCA's most entries, step and cost, the losing-close minutes (-1: none),
    the first entry's cost, the CC_ENABLE_*_EVERYWHERE switches), then the rungs' pairs."""
    most, step, cost = 0, 0.0, 0.0
    if plan.average_buy is not None:
        step, given, most = plan.average_buy
        cost = cfg.CC_POSITION_ENTRY_COST if given is None else given
    head = [
        len(plan.trailing_stop),
        len(plan.trailing_take),
        len(plan.partial_profit),
        len(plan.partial_loss),
        float(plan.breakeven),
        breakeven_threshold(cfg),
        most,
        step,
        cost,
        -1.0 if plan.close_losing_after is None else plan.close_losing_after,
        cfg.CC_POSITION_ENTRY_COST,
        float(cfg.CC_ENABLE_TRAILING_EVERYWHERE),
        float(cfg.CC_ENABLE_PPPL_EVERYWHERE),
        float(cfg.CC_ENABLE_DCA_EVERYWHERE),
    ]
    rungs = [
        x
        for ladder in (
            plan.trailing_stop,
            plan.trailing_take,
            plan.partial_profit,
            plan.partial_loss,
        )
        for pair in ladder
        for x in pair
    ]
    return np.array(head + rungs, dtype=np.float64)


def _c(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` as the C loop reads it (no copy when it already is)."""
    return np.ascontiguousarray(array, dtype=dtype)


def crossings(a: np.ndarray, b: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """indicators.crossings in C: (rows int64, sides int8)."""
    rows, sides = _batch_kernel.crossings(_c(a, np.float64), _c(b, np.float64), int(shift))
    return np.frombuffer(rows, dtype=np.int64), np.frombuffer(sides, dtype=np.int8)


def sma_crossings(
    sums: np.ndarray, fast: int, slow: int, shift: int
) -> tuple[np.ndarray, np.ndarray]:
    """indicators.sma_crossings in C, from the prefix sums: (rows int64, sides int8)."""
    rows, sides = _batch_kernel.sma_crossings(
        _c(sums, np.float64), int(fast), int(slow), int(shift)
    )
    return np.frombuffer(rows, dtype=np.int64), np.frombuffer(sides, dtype=np.int8)

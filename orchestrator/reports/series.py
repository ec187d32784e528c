"""The numbers behind each picture, kept apart from the drawing so tests can hold
them to golden data (pictures.py only draws what these return).

- ``equity_series``: the compounded equity of closed trades in close order and
  the drawdown beneath it, as ``max_drawdown`` computes them (SEMANTICS 4);
- ``thin``: at most N points of a long series, keeping each bucket's extremes
  (a year of trades, or 10,000 variants, never plots every point);
- ``heatmap``: the metric over two swept parameters, the others held at the
  best variant's values; a cell no ranked variant fills is NaN, never zero;
  ``color_range`` its colour scale, clipped to robust percentiles;
- ``compounded_return``, ``monthly_returns``: the equity's growth, whole and
  compounded month by month (the months' product is the final equity);
- ``underwater`` and ``drawdown_periods``: the drawdown as a negative curve
  (its minimum is ``-max_drawdown``) and its worst falls, peak to recovery;
- ``rolling_sharpe``: the per-trade Sharpe ratio over the last N trades;
- ``buy_and_hold``: the symbol's own growth over the frame (the benchmark);
- ``trade_marks``: where each trade entered and exited on the price chart;
- ``partial_close_marks``: where a managed trade's partial closes sit on the equity
  curve (it moves only at the trade's close, SEMANTICS 9).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from btfarm.shared.drawdown import equity_curve
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.stats import MIN_SIGNALS, MIN_STD_DEV

MAX_POINTS = 2000  # points a line picture draws at most
ROBUST_PERCENTILES = (5.0, 95.0)  # a heatmap's colour scale spans these percentiles of its cells
WORST_DRAWDOWNS = 5  # drawdown periods a backtest report lists
ROLLING_TRADES = 30  # trades in the rolling Sharpe ratio's window (fewer when the run has few)


@dataclass(frozen=True)
class EquitySeries:
    """Equity after each closed trade (1.0 before the first) and the drawdown there (%)."""

    times_ms: np.ndarray  # int64: the first trade's pending_at, then each close_timestamp
    equity: np.ndarray  # float: compounded, starting at 1.0
    drawdown: np.ndarray  # float, percent of the running peak (>= 0)
    entries_ms: np.ndarray  # each trade's pending_at, in close order
    exits_ms: np.ndarray  # each trade's close_timestamp


def equity_series(closed: Sequence[Mapping[str, Any]]) -> EquitySeries:
    """From closed results (dicts shaped like ``ClosedResult.model_dump()``)."""
    rows = sorted(closed, key=lambda r: r["close_timestamp"])  # stable, as the statistics sort
    pnl = np.array([r["pnl"]["pnl_percentage"] for r in rows], dtype=float)
    entries = np.array([r["signal"]["pending_at"] for r in rows], dtype=np.int64)
    exits = np.array([r["close_timestamp"] for r in rows], dtype=np.int64)
    equity = equity_curve(pnl)
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = (peaks - equity) / peaks * 100.0
    start = entries[:1] if len(entries) else np.zeros(0, dtype=np.int64)
    return EquitySeries(
        np.concatenate((start, exits)) if len(exits) else np.zeros(1, dtype=np.int64),
        equity,
        drawdown,
        entries,
        exits,
    )


def thin(
    x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """``x, y`` with at most ``max_points`` points: each of ``max_points // 2`` buckets
    keeps its lowest and highest ``y`` (in order), so peaks and troughs survive."""
    n = len(y)
    if n <= max_points:
        return x, y
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        part = y[a:b]
        keep.extend(sorted({a + int(np.nanargmin(part)), a + int(np.nanargmax(part))}))
    index = np.array(keep)
    return x[index], y[index]


@dataclass(frozen=True)
class Heatmap:
    x_param: str
    y_param: str
    x_values: list[Any]
    y_values: list[Any]
    matrix: np.ndarray  # [len(y_values), len(x_values)]; NaN where no ranked variant is
    fixed: dict[str, Any]  # the other swept parameters, at the best variant's values
    best: tuple[int, int] | None = (
        None  # (row, column) of the best variant's cell, when it is drawn
    )


def heatmap(
    grid: Mapping[str, Sequence[Any]],
    results: Mapping[str, tuple[dict[str, Any], float | None]],
    x_param: str,
    y_param: str,
    best_params: Mapping[str, Any],
) -> Heatmap:
    """The metric over ``x_param`` x ``y_param`` of one sweep.

    ``grid`` is the sweep's parameter values; ``results`` maps a variant name to
    (its params, its metric when ranked, else None)."""
    xs, ys = list(grid[x_param]), list(grid[y_param])
    fixed = {k: best_params.get(k) for k in grid if k not in (x_param, y_param)}
    matrix = np.full((len(ys), len(xs)), np.nan)
    for params, value in results.values():
        if value is None or not math.isfinite(value):
            continue
        if any(params.get(k) != v for k, v in fixed.items()):
            continue
        if params.get(x_param) in xs and params.get(y_param) in ys:
            matrix[ys.index(params[y_param]), xs.index(params[x_param])] = value
    best = None
    if best_params.get(x_param) in xs and best_params.get(y_param) in ys:
        cell = (ys.index(best_params[y_param]), xs.index(best_params[x_param]))
        best = cell if math.isfinite(matrix[cell]) else None
    return Heatmap(x_param, y_param, xs, ys, matrix, fixed, best)


def color_range(
    matrix: np.ndarray, percentiles: tuple[float, float] = ROBUST_PERCENTILES
) -> tuple[float, float] | None:
    """The colour scale of a heatmap: from the low to the high percentile of its finite
    cells, so one outlier cell does not flatten the rest (cells beyond it take the end
    colours); None when no cell is finite. A scale that would be empty widens to the
    cells' whole range."""
    cells = matrix[np.isfinite(matrix)]
    if not cells.size:
        return None
    low, high = (float(v) for v in np.percentile(cells, percentiles))
    if high <= low:
        low, high = float(cells.min()), float(cells.max())
    return low, high


def rank_changes(
    current: Mapping[str, Any], previous: Mapping[str, Any] | None, most: int = 20
) -> list[tuple[str, int | None, int]]:
    """(strategy, previous rank or None when new, rank now) for the best ``most`` of
    this run, from two comparison snapshots (reports/comparison.snapshot)."""
    before = {r["strategy_name"]: r["rank"] for r in (previous or {}).get("ranking", [])}
    return [
        (r["strategy_name"], before.get(r["strategy_name"]), r["rank"])
        for r in current["ranking"][:most]
    ]


def _by_close(closed: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(closed, key=lambda r: r["close_timestamp"])  # stable, as the statistics sort


def _pnl(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array([r["pnl"]["pnl_percentage"] for r in rows], dtype=float)


def compounded_return(closed: Sequence[Mapping[str, Any]]) -> float | None:
    """Percent the equity grew trade after trade (``equity *= 1 + pnl / 100``), the
    last point of the equity curve less one; None with no trade. ``total_pnl``, beside
    it, sums the trades' percentages instead."""
    if not closed:
        return None
    return float((equity_curve(_pnl(_by_close(closed)))[-1] - 1.0) * 100.0)


@dataclass(frozen=True)
class MonthlyReturns:
    """Each month's compounded return, by the month its trades closed in (UTC)."""

    years: list[int]
    months: np.ndarray  # [len(years), 12] percent; NaN for a month no trade closed in
    yearly: np.ndarray  # [len(years)] percent, the year's months compounded; NaN with no trade


def monthly_returns(closed: Sequence[Mapping[str, Any]]) -> MonthlyReturns:
    """A month's return compounds the trades that closed in it:
    ``(prod(1 + pnl / 100) - 1) * 100``; so the months, compounded in turn, give the
    final equity."""
    rows = _by_close(closed)
    if not rows:
        return MonthlyReturns([], np.zeros((0, 12)), np.zeros(0))
    growth: dict[tuple[int, int], float] = {}
    for row in rows:
        when = datetime.fromtimestamp(row["close_timestamp"] / 1000, tz=UTC)
        key = (when.year, when.month)
        growth[key] = growth.get(key, 1.0) * (1.0 + row["pnl"]["pnl_percentage"] / 100.0)
    years = list(range(min(y for y, _ in growth), max(y for y, _ in growth) + 1))
    months = np.full((len(years), 12), np.nan)
    for (year, month), factor in growth.items():
        months[years.index(year), month - 1] = (factor - 1.0) * 100.0
    yearly = np.full(len(years), np.nan)
    for i in range(len(years)):
        done = months[i][np.isfinite(months[i])]
        if done.size:
            yearly[i] = (np.prod(1.0 + done / 100.0) - 1.0) * 100.0
    return MonthlyReturns(years, months, yearly)


def underwater(series: EquitySeries) -> np.ndarray:
    """The drawdown as a curve at or below zero (percent of the running peak): its
    minimum is ``-max_drawdown`` (shared/drawdown.py)."""
    return -series.drawdown


@dataclass(frozen=True)
class DrawdownPeriod:
    """One fall of the equity below its running peak, until it is back at that peak."""

    peak_ms: int  # when the equity last stood at the peak it fell from
    trough_ms: int  # when it was lowest
    recovered_ms: int | None  # when it first stood at or above the peak again; None: not yet
    depth: float  # percent of the peak, at the trough (> 0)
    trades: int  # trades closed from the peak to the recovery (or to the last trade)


def drawdown_periods(series: EquitySeries, most: int = WORST_DRAWDOWNS) -> list[DrawdownPeriod]:
    """The ``most`` deepest drawdown periods, deepest first (the first one's depth is
    ``max_drawdown``)."""
    equity, times = series.equity, series.times_ms
    periods: list[DrawdownPeriod] = []
    peak = 0  # index of the running peak
    trough: int | None = None  # index of the lowest point since the peak, while under it
    for i in range(1, len(equity) + 1):
        back = i == len(equity) or equity[i] >= equity[peak]
        if back:
            if trough is not None:
                recovered = int(times[i]) if i < len(equity) else None
                depth = float((equity[peak] - equity[trough]) / equity[peak] * 100.0)
                periods.append(
                    DrawdownPeriod(
                        int(times[peak]),
                        int(times[trough]),
                        recovered,
                        depth,
                        (i if i < len(equity) else len(equity) - 1) - peak,
                    )
                )
            if i < len(equity):
                peak, trough = i, None
        elif trough is None or equity[i] < equity[trough]:
            trough = i
    periods.sort(key=lambda p: -p.depth)
    return periods[:most]


def rolling_window(trades: int) -> int:
    """The rolling Sharpe ratio's window for a run of ``trades``: ``ROLLING_TRADES``, or a
    third of the run when that is shorter, never under ``MIN_SIGNALS`` (the statistic's
    own minimum)."""
    return max(MIN_SIGNALS, min(ROLLING_TRADES, trades // 3))


def rolling_sharpe(
    closed: Sequence[Mapping[str, Any]], window: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """(close times, Sharpe ratio of the ``window`` trades closed up to each, window): the
    statistic's own ``avg_pnl / std_dev`` (sample deviation) trade by trade; NaN until
    ``window`` trades closed or where they do not vary."""
    rows = _by_close(closed)
    pnl = _pnl(rows)
    times = np.array([r["close_timestamp"] for r in rows], dtype=np.int64)
    window = rolling_window(len(rows)) if window is None else window
    out = np.full(len(pnl), np.nan)
    if len(pnl) >= window >= 2:
        views = np.lib.stride_tricks.sliding_window_view(pnl, window)
        mean, std = views.mean(axis=1), views.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[window - 1 :] = np.where(std > MIN_STD_DEV, mean / std, np.nan)
    return times, out, window


def buy_and_hold(
    timestamps: np.ndarray, opens: np.ndarray, closes: np.ndarray, start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """(times, equity) of buying the symbol at the open of the frame's first candle and
    holding it: 1.0 at ``start_ms``, then each candle's close over that open, at the
    candle's close time. Empty when no candle opens inside [start_ms, end_ms]."""
    inside = (timestamps >= start_ms) & (timestamps <= end_ms)
    if not inside.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    first = int(np.argmax(inside))
    times = np.concatenate(([int(timestamps[first])], timestamps[inside] + MINUTE_MS)).astype(
        np.int64
    )
    return times, np.concatenate(([1.0], closes[inside] / opens[first]))


@dataclass(frozen=True)
class TradeMarks:
    """Where each trade (close order) entered and exited, for the price chart."""

    entry_ms: np.ndarray  # int64: when the position opened (pending_at)
    entry_price: np.ndarray  # the first entry's price
    exit_ms: np.ndarray  # int64: close_timestamp
    exit_price: np.ndarray
    long: np.ndarray  # bool
    pnl: np.ndarray  # percent
    reasons: list[str]  # close_reason
    added_ms: np.ndarray  # the later entries of positions that averaged in (SEMANTICS 9)
    added_price: np.ndarray
    partial_ms: np.ndarray  # partial closes
    partial_price: np.ndarray


def trade_marks(closed: Sequence[Mapping[str, Any]]) -> TradeMarks:
    """From closed results (dicts shaped like ``ClosedResult.model_dump()``); the first
    entry is the signal's price as opened (``original_price_open``), else the PnL's."""
    rows = _by_close(closed)
    signals = [r["signal"] for r in rows]
    added = [(e["timestamp"], e["price"]) for s in signals for e in (s.get("entries") or [])[1:]]
    partials = [
        (p["timestamp"], p["current_price"]) for s in signals for p in (s.get("partials") or [])
    ]

    def first_entry(row: Mapping[str, Any]) -> float:
        signal = row["signal"]
        if signal.get("original_price_open") is not None:
            return float(signal["original_price_open"])
        entries = signal.get("entries") or []
        return float(entries[0]["price"]) if entries else float(row["pnl"]["price_open"])

    return TradeMarks(
        np.array([s["pending_at"] for s in signals], dtype=np.int64),
        np.array([first_entry(r) for r in rows], dtype=float),
        np.array([r["close_timestamp"] for r in rows], dtype=np.int64),
        np.array([r["pnl"]["price_close"] for r in rows], dtype=float),
        np.array([s.get("position") == "long" for s in signals], dtype=bool),
        _pnl(rows),
        [str(r.get("close_reason", "")) for r in rows],
        np.array([t for t, _ in added], dtype=np.int64),
        np.array([p for _, p in added], dtype=float),
        np.array([t for t, _ in partials], dtype=np.int64),
        np.array([p for _, p in partials], dtype=float),
    )


def partial_close_marks(
    closed: Sequence[Mapping[str, Any]], series: EquitySeries
) -> tuple[np.ndarray, np.ndarray]:
    """(times ms, equity there) of every partial close of ``closed``, in time order: the
    equity of the trades closed by then (``series``, the equity of ``closed``), since a
    trade counts once, at its close, with its blended pnl_percentage; so a mark sits on the
    flat stretch before its own trade's close."""
    times = np.sort(
        np.array(
            [q["timestamp"] for r in closed for q in (r["signal"].get("partials") or [])],
            dtype=np.int64,
        )
    )
    done = np.searchsorted(series.exits_ms, times, side="right")  # trades closed at or before each
    return times, series.equity[done]

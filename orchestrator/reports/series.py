"""The numbers behind each picture, kept apart from the drawing so tests can hold
them to golden data (pictures.py only draws what these return).

- ``equity_series``: the compounded equity of closed trades in close order and
  the drawdown beneath it, as ``max_drawdown`` computes them (SEMANTICS 4);
- ``thin``: at most N points of a long series, keeping each bucket's extremes
  (a year of trades, or 10,000 variants, never plots every point);
- ``heatmap``: the metric over two swept parameters, the others held at the
  best variant's values; a cell no ranked variant fills is NaN, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from btfarm.shared.drawdown import equity_curve

MAX_POINTS = 2000  # points a line picture draws at most


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
    return EquitySeries(np.concatenate((start, exits)) if len(exits) else np.zeros(1, dtype=np.int64),
                        equity, drawdown, entries, exits)


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
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


def heatmap(grid: Mapping[str, Sequence[Any]], results: Mapping[str, tuple[dict[str, Any], float | None]],
            x_param: str, y_param: str, best_params: Mapping[str, Any]) -> Heatmap:
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
    return Heatmap(x_param, y_param, xs, ys, matrix, fixed)


def rank_changes(current: Mapping[str, Any], previous: Mapping[str, Any] | None,
                 most: int = 20) -> list[tuple[str, int | None, int]]:
    """(strategy, previous rank or None when new, rank now) for the best ``most`` of
    this run, from two comparison snapshots (reports/comparison.snapshot)."""
    before = {r["strategy_name"]: r["rank"] for r in (previous or {}).get("ranking", [])}
    return [(r["strategy_name"], before.get(r["strategy_name"]), r["rank"])
            for r in current["ranking"][:most]]

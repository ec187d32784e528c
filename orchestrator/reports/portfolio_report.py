"""A portfolio's report (``Portfolio.get_report`` / ``dump``): the portfolio's figures (the most
positions open at once, the rejections, the capital's equity), the statistics over every
member's trades, a row per member, the rejections by member and risk, two pictures (the
equity, the positions open over time) and the closed signals.

Python prepares every cell as escaped text; ``templates/portfolio.md.j2`` lays the page out.
``open_positions`` is the number behind the second picture, kept apart so tests can hold it
to the run's figure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.stats import HINTS, BacktestStatistics

from . import _format as fmt
from .columns import DEFAULT_BACKTEST_COLUMNS, Column, resolve_columns
from .pictures import (
    HEIGHT,
    WIDTH,
    _dates,
    _figure,
    _matplotlib,
    _svg,
    _time_axis,
    equity_picture,
    legend_outside,
)
from .render import _render, _statistics, _table, picture_links
from .series import EquitySeries, equity_series, thin

STRATEGY = Column(
    key="strategy_name", label="Strategy", format=lambda r: fmt.text(r.get("strategy_name"))
)
# the backtest's closed-signal columns with the strategy after the symbol: members may share a symbol
DEFAULT_PORTFOLIO_COLUMNS: tuple[Column, ...] = (
    *DEFAULT_BACKTEST_COLUMNS[:2],
    STRATEGY,
    *DEFAULT_BACKTEST_COLUMNS[2:],
)


def _member_col(key: str, label: str, name: str) -> Column:
    return Column(key=key, label=label, format=lambda r: fmt.stat_value(name, r["stats"].get(name)))


MEMBER_COLUMNS: tuple[Column, ...] = (
    Column(key="symbol", label="Symbol", format=lambda r: fmt.text(r["symbol"])),
    STRATEGY,
    Column(
        key="trades", label="Trades", format=lambda r: fmt.integer(r["stats"].get("total_signals"))
    ),
    _member_col("total_pnl", "Sum of trade %", "total_pnl"),
    _member_col("sharpe_ratio", "Sharpe", "sharpe_ratio"),
    _member_col("win_rate", "Win Rate", "win_rate"),
    _member_col("max_drawdown", "Max Drawdown", "max_drawdown"),
    _member_col("rejected_signals", "Rejected", "rejected_signals"),
    Column(
        key="first_rejection",
        label="First rejection",
        format=lambda r: (
            fmt.timestamp(r["first_rejection_at"])
            if r["first_rejection_at"] is not None
            else "none"
        ),
    ),
    Column(
        key="walk",
        label="Walk",
        format=lambda r: f"{r['lane']}{', tick by tick' if r['strict'] else ''}",
    ),
)

REJECTION_COLUMNS: tuple[Column, ...] = (
    Column(key="member", label="Member", format=lambda r: fmt.text(r["member"])),
    Column(key="risk_name", label="Risk", format=lambda r: fmt.text(r["risk_name"])),
    Column(key="rejection_id", label="Rejection id", format=lambda r: fmt.text(r["rejection_id"])),
    Column(key="count", label="Signals refused", format=lambda r: fmt.integer(r["count"])),
)


def render_portfolio(
    data: BaseModel | Mapping[str, Any],
    columns: Sequence[Column | Mapping[str, Any]] | None = None,
    pictures: Sequence[tuple[str, str]] = (),
) -> str:
    """The markdown report of ``data`` (a ``PortfolioData``); ``columns``: the closed signals' table."""
    d = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    signals = list(d["signals"])
    capital = d["capital"]
    return _render(
        "portfolio.md.j2",
        portfolio_name=fmt.inline(str(d["portfolio_name"])),
        exchange_name=fmt.inline(str(d["exchange_name"])),
        frame_name=fmt.inline(str(d["frame_name"])),
        member_count=len(d["members"]),
        risk_name=fmt.inline(str(d["risk_name"]))
        if d["risk_name"]
        else "none (each member's own risks only)",
        capital=fmt.number(capital)
        if capital is not None
        else "none (entries are not paid from a capital)",
        params=fmt.inline(json.dumps(d["params"], sort_keys=True)) if d["params"] else None,
        stopped=d["stopped"],
        figures=_figures(d),
        statistics=_statistics(d["stats"], list(BacktestStatistics.model_fields), signals),
        members=_table(MEMBER_COLUMNS, d["members"]),
        rejections=_table(REJECTION_COLUMNS, d["rejections"]),
        pictures=picture_links(pictures),
        table=_table(resolve_columns(columns, DEFAULT_PORTFOLIO_COLUMNS, "portfolio"), signals),
    )


def _figures(d: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    at = d["max_open_at"]
    rows = [
        (
            "Most positions open at once",
            f"{d['max_open_positions']}"
            + (f" (first at {fmt.timestamp(at)})" if at is not None else ""),
            "",
        ),
        (
            "Signals refused by a risk or the capital",
            fmt.integer(d["risk_rejections"]),
            "lower is better",
        ),
        (
            fmt.COMPOUNDED_LABEL,
            fmt.percent(d["compounded_return"], signed=True),
            HINTS.get("total_pnl", ""),
        ),
    ]
    equity = d["equity"]
    if equity is not None:
        rows += [
            ("Capital", fmt.number(equity["capital"]), ""),
            ("Final equity", fmt.number(equity["final_equity"]), "higher is better"),
            (
                "Return on capital",
                fmt.percent(equity["return_percent"], signed=True),
                "higher is better",
            ),
            (
                "Capital's max drawdown",
                fmt.percent(equity["max_drawdown_percent"]),
                "lower is better",
            ),
        ]
    return [(fmt.cell(a), fmt.cell(b), fmt.cell(c)) for a, b, c in rows]


def open_positions(signals: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(ms, positions open from then) at each change: a closed signal is open from its
    ``pending_at`` through its closing candle, so it counts until ``close_timestamp`` + 1 minute."""
    if not signals:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    opens = np.array([s["signal"]["pending_at"] for s in signals], dtype=np.int64)
    closes = np.array([s["close_timestamp"] for s in signals], dtype=np.int64) + MINUTE_MS
    times = np.concatenate((opens, closes))
    steps = np.concatenate(
        (np.ones(len(opens), dtype=np.int64), -np.ones(len(closes), dtype=np.int64))
    )
    order = np.lexsort(
        (steps, times)
    )  # at one time the closes (-1) come first, as the walk applies them
    times, counts = times[order], np.cumsum(steps[order])
    last = np.r_[times[1:] != times[:-1], True]  # the count after every change at one time
    return times[last], counts[last]


def portfolio_pictures(
    stem: str, data: BaseModel | Mapping[str, Any]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """({file: svg}, [(alt, file)]): the equity (the capital's, or every trade compounded) and
    the positions open over time."""
    d = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    name = str(d["portfolio_name"])
    signals = list(d["signals"])
    files, links = {}, []
    if d["equity"] is not None:
        series = _capital_series(d["equity"], signals)
        title = f"{name}: equity of the capital ({fmt.number(d['equity']['capital'])} = 1.0)"
    else:
        series = equity_series(signals)
        title = f"{name}: every member's trades compounded"
    files[f"{stem}.equity.svg"] = equity_picture(series, title)
    links.append(("Equity", f"{stem}.equity.svg"))
    files[f"{stem}.positions.svg"] = _positions_picture(
        signals, d["max_open_positions"], f"{name}: positions open"
    )
    links.append(("Positions open", f"{stem}.positions.svg"))
    return files, links


def _capital_series(
    equity: Mapping[str, Any], signals: Sequence[Mapping[str, Any]]
) -> EquitySeries:
    """The capital's curve as an equity series from 1.0 (dollars / capital), with the trades'
    entries and exits in the order the curve took them."""
    curve = np.array(equity["curve"], dtype=float).reshape(-1, 2)
    values = curve[:, 1] / equity["capital"]
    peaks = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = (peaks - values) / peaks * 100.0
    entries = np.array([s["signal"]["pending_at"] for s in signals], dtype=np.int64)
    exits = np.array([s["close_timestamp"] for s in signals], dtype=np.int64)
    if (
        len(exits) != len(values) - 1
    ):  # (a stopped run: the curve has what closed; marks need one each)
        entries = exits = np.zeros(0, dtype=np.int64)
    return EquitySeries(curve[:, 0].astype(np.int64), values, drawdown, entries, exits)


def _positions_picture(signals: Sequence[Mapping[str, Any]], most: int, title: str) -> str:
    times, counts = open_positions(signals)
    figure = _figure(WIDTH, HEIGHT * 0.6)
    axis = figure.subplots()
    axis.set_title(title)
    if not len(times):
        axis.text(0.5, 0.5, "no closed signal", transform=axis.transAxes, ha="center", va="center")
        axis.set_axis_off()
        return _svg(figure)
    shown_times, shown = thin(times, counts.astype(float))
    dates = np.asarray(
        _dates(shown_times)
    )  # (matplotlib's stubs take arrays, not lists of datetimes)
    axis.fill_between(dates, 0, shown, step="post", color="#1f77b4", alpha=0.35, linewidth=0)
    axis.step(dates, shown, where="post", color="#1f77b4", linewidth=0.8, label="open positions")
    axis.axhline(
        most, color="#d62728", linestyle="--", linewidth=0.8, label=f"most at once: {most}"
    )
    axis.set_ylabel("positions")
    axis.set_ylim(0, most + 0.5)
    axis.yaxis.set_major_locator(_matplotlib().ticker.MaxNLocator(integer=True))
    _time_axis(axis)
    legend_outside(axis)
    return _svg(figure)

"""A backtest report's pictures: the equity beside buying and holding the symbol, the
price with the trades, the monthly returns, the rolling Sharpe ratio and the underwater
curve. Each draws what a ``series`` function computed; the equity and the price carry
an interactive twin for the HTML page (``interactive.py``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import interactive
from .pictures import (
    HEIGHT,
    WIDTH,
    _dates,
    _figure,
    _light,
    _matplotlib,
    _svg,
    _time_axis,
    equity_picture,
    legend_outside,
)
from .series import (
    EquitySeries,
    MonthlyReturns,
    drawdown_periods,
    equity_series,
    monthly_returns,
    partial_close_marks,
    rolling_sharpe,
    thin,
    trade_marks,
    underwater,
)
from .series import buy_and_hold as buy_and_hold_series

MARK_TRADES_UP_TO = 1000  # the price picture marks each trade up to this many (~0.6 KB of SVG each)
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def run_pictures(
    stem: str, run: Any, symbol: str, strategy_name: str
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``backtest_pictures`` of a finished ``BacktestRun`` (its closed results, candles and frame)."""
    from btfarm.shared.frames import frame_bounds

    start, end = frame_bounds(run.frame)
    return backtest_pictures(
        stem, run.closed, run.candles, start, end, f"{strategy_name} on {symbol}", symbol
    )


def backtest_pictures(
    stem: str,
    closed: Sequence[Mapping[str, Any]],
    candles: Any,
    start_ms: int,
    end_ms: int,
    title: str,
    symbol: str,
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """({file: svg}, [(alt, file)]) of a backtest's ``closed`` results; ``candles`` (1m,
    with ``timestamp``, ``open`` and ``close`` arrays) give the price and the benchmark
    over the frame [``start_ms``, ``end_ms``]. The equity marks a managed trade's partial
    closes. The underwater curve comes last: the report lists the worst drawdowns under the
    pictures."""
    rows = [dict(r) for r in closed]
    series = equity_series(rows)
    inside = (candles.timestamp >= start_ms) & (candles.timestamp <= end_ms)
    price_times, closes = np.asarray(candles.timestamp[inside]), np.asarray(candles.close[inside])
    benchmark = buy_and_hold_series(
        np.asarray(candles.timestamp),
        np.asarray(candles.open),
        np.asarray(candles.close),
        start_ms,
        end_ms,
    )
    hold = f"buy and hold {symbol}"
    span = (start_ms, end_ms)  # every picture's time axis: the frame
    marks = trade_marks(rows)
    partials = partial_close_marks(rows, series)
    files = {
        f"{stem}.equity.svg": interactive.InteractivePicture(
            equity_picture(
                series,
                f"{title}: equity",
                benchmark=benchmark,
                benchmark_label=hold,
                drawdown=False,
                span=span,
                partials=partials,
            ),
            interactive.equity_chart(
                series.times_ms,
                series.equity,
                benchmark,
                hold,
                f"{title}: equity",
                partials=partials,
            ),
        ),
        f"{stem}.price.svg": interactive.InteractivePicture(
            price_picture(price_times, closes, marks, f"{title}: price and trades", span),
            interactive.price_chart(price_times, closes, marks, f"{title}: price and trades"),
        ),
        f"{stem}.monthly.svg": monthly_picture(monthly_returns(rows), f"{title}: monthly returns"),
        f"{stem}.rolling-sharpe.svg": rolling_sharpe_picture(
            rows, f"{title}: rolling Sharpe ratio", span
        ),
        f"{stem}.underwater.svg": underwater_picture(series, f"{title}: underwater", span),
    }
    alts = (
        "Equity and buy and hold",
        "Price and trades",
        "Monthly returns (compounded)",
        "Rolling Sharpe ratio",
        "Underwater: drawdown from the running peak",
    )
    return files, list(zip(alts, files, strict=True))


def price_picture(
    times_ms: np.ndarray,
    closes: np.ndarray,
    marks: Any,
    title: str,
    span: tuple[int, int] | None = None,
) -> str:
    """The close price with each trade's entry (triangle: up long, down short), exit (dot)
    and the line between, green for a win and red for a loss; added entries and partial
    closes (a managed position) in purple."""
    figure = _figure(WIDTH, HEIGHT)
    axis = figure.subplots()
    x, y = thin(np.asarray(times_ms), np.asarray(closes, dtype=float))
    axis.plot(_dates(x), y, color="#555555", linewidth=0.8, label="close")
    count = len(marks.exit_ms)
    if 0 < count <= MARK_TRADES_UP_TO:
        won = marks.pnl > 0
        colors = np.where(won, "#2ca02c", np.where(marks.pnl < 0, "#d62728", "#555555"))
        entries, exits = _dates(marks.entry_ms), _dates(marks.exit_ms)
        segments = [
            [(a, p), (b, q)]
            for a, p, b, q in zip(
                _matplotlib().dates.date2num(entries),
                marks.entry_price,
                _matplotlib().dates.date2num(exits),
                marks.exit_price,
                strict=True,
            )
        ]
        axis.add_collection(
            _matplotlib().collections.LineCollection(
                segments, colors=colors, linewidths=0.9, alpha=0.6
            )
        )
        for is_long, marker, side in ((True, "^", "long entry"), (False, "v", "short entry")):
            pick = marks.long == is_long
            if pick.any():
                axis.scatter(
                    np.array(entries, dtype=object)[pick],
                    marks.entry_price[pick],
                    marker=marker,
                    s=22,
                    c=colors[pick],
                    zorder=3,
                    edgecolors="none",
                )
                axis.scatter(
                    [], [], marker=marker, s=22, color="#555555", label=side
                )  # the legend's, uncoloured
        axis.scatter(
            exits,
            marks.exit_price,
            marker="o",
            s=12,
            c=colors,
            zorder=3,
            edgecolors="#222222",
            linewidths=0.4,
        )
        axis.scatter(
            [],
            [],
            marker="o",
            s=12,
            color="#2ca02c",
            edgecolors="#222222",
            linewidths=0.4,
            label="exit, trade won",
        )
        axis.scatter(
            [],
            [],
            marker="o",
            s=12,
            color="#d62728",
            edgecolors="#222222",
            linewidths=0.4,
            label="exit, trade lost",
        )
    for label, when, price, marker in (
        ("added entry", marks.added_ms, marks.added_price, "P"),
        ("partial close", marks.partial_ms, marks.partial_price, "D"),
    ):
        if len(when) and count <= MARK_TRADES_UP_TO:
            axis.scatter(
                _dates(when), price, marker=marker, s=18, color="#9467bd", zorder=4, label=label
            )
    note = f" ({count} trades, too many to mark)" if count > MARK_TRADES_UP_TO else ""
    axis.set_title(title + note)
    axis.set_ylabel("price")
    _time_axis(axis, span)
    legend_outside(axis)
    return _svg(figure)


def monthly_picture(monthly: MonthlyReturns, title: str) -> str:
    """Each month's compounded return (years down, months across, the year's compounded
    return on the right); red for a loss, green for a gain, white for none."""
    figure = _figure(WIDTH, max(1.6, 0.45 * len(monthly.years) + 1.3))
    axis = figure.subplots()
    if not monthly.years:
        axis.text(0.5, 0.5, "no closed signal", transform=axis.transAxes, ha="center", va="center")
        axis.set_axis_off()
        axis.set_title(title)
        return _svg(figure)
    table = np.column_stack((monthly.months, np.full(len(monthly.years), np.nan), monthly.yearly))
    finite = table[np.isfinite(table)]
    reach = float(np.max(np.abs(finite))) if finite.size else 1.0
    cmap = _matplotlib().colormaps["RdYlGn"].with_extremes(bad="#ffffff")
    image = axis.imshow(table, cmap=cmap, vmin=-reach or -1.0, vmax=reach or 1.0, aspect="auto")
    for (row, col), value in np.ndenumerate(table):
        if math.isfinite(value):
            axis.text(
                col,
                row,
                f"{value:+.1f}%",
                ha="center",
                va="center",
                fontsize=8,
                fontweight="bold" if col == 13 else "normal",
                color="#222222" if _light(image, value) else "white",
            )
    axis.set_xticks(range(14), [*MONTH_NAMES, "", "Year"])
    axis.set_yticks(range(len(monthly.years)), [str(y) for y in monthly.years])
    axis.tick_params(length=0)
    for side in axis.spines.values():
        side.set_visible(False)
    axis.set_title(title + " (by close month, UTC; blank: no trade closed)")
    return _svg(figure)


def rolling_sharpe_picture(
    closed: Sequence[Mapping[str, Any]], title: str, span: tuple[int, int] | None = None
) -> str:
    """The per-trade Sharpe ratio of the last N trades, against the run's whole one."""
    times, values, window = rolling_sharpe(closed)
    figure = _figure(WIDTH, HEIGHT * 0.6)
    axis = figure.subplots()
    shown = np.isfinite(values)
    if shown.any():
        axis.plot(
            _dates(times[shown]),
            values[shown],
            color="#1f77b4",
            linewidth=1.0,
            label=f"last {window} trades",
        )
        pnl = np.array([r["pnl"]["pnl_percentage"] for r in closed], dtype=float)
        whole = (
            float(pnl.mean() / pnl.std(ddof=1)) if len(pnl) > 1 and pnl.std(ddof=1) > 0 else None
        )
        if whole is not None:
            axis.axhline(
                whole,
                color="#ff7f0e",
                linewidth=0.9,
                linestyle="--",
                label=f"whole run {whole:.3f}",
            )
        axis.axhline(0.0, color="#999999", linewidth=0.6)
        legend_outside(axis)
        _time_axis(axis, span)
    else:
        axis.text(
            0.5,
            0.5,
            f"fewer than {window} closed signals: no rolling Sharpe ratio",
            transform=axis.transAxes,
            ha="center",
            va="center",
        )
    axis.set_ylabel("Sharpe ratio per trade")
    axis.set_title(title)
    return _svg(figure)


def underwater_picture(
    series: EquitySeries, title: str, span: tuple[int, int] | None = None
) -> str:
    """The drawdown from the running peak (0 at a new high); the worst periods are shaded
    and numbered as in the report's table."""
    figure = _figure(WIDTH, HEIGHT * 0.6)
    axis = figure.subplots()
    times, depth = thin(series.times_ms, underwater(series))
    dates = _dates(times)
    axis.fill_between(dates, 0, depth, color="#d62728", alpha=0.35, step="post", linewidth=0)
    axis.step(dates, depth, where="post", color="#d62728", linewidth=0.8)
    end = int(series.times_ms[-1])
    for number, period in enumerate(drawdown_periods(series), start=1):
        start, stop = _dates((period.peak_ms, period.recovered_ms or end))
        axis.axvspan(start, stop, color="#7f7f7f", alpha=0.12, linewidth=0)
        axis.annotate(
            str(number),
            (_dates((period.trough_ms,))[0], -period.depth),
            xytext=(0, -9),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7,
        )
    low = float(np.min(depth)) if len(depth) else 0.0
    axis.set_ylim(min(low * 1.15, -0.01), 0.0)
    axis.set_ylabel("drawdown %")
    axis.set_title(title + " (numbers: the worst periods, as listed below)")
    _time_axis(axis, span)
    return _svg(figure)

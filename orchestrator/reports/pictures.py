"""The reports' pictures, drawn with matplotlib (Agg, no display) as SVG text.

Each function draws what a ``series`` function computed; nothing here
computes a statistic. Figures are built with ``matplotlib.figure.Figure``
(no pyplot state, safe in threads) and written with a fixed hash salt, so
the same data gives the same file.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .series import EquitySeries, Heatmap, color_range, thin

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARK_TRADES_UP_TO = 60  # entries and exits are marked when there are at most this many trades
MARK_PARTIALS_UP_TO = 1000  # partial closes are marked when there are at most this many
ANNOTATE_CELLS_UP_TO = 144  # a heatmap writes each cell's value when it has at most this many
WIDTH, HEIGHT = 9.0, 4.8  # inches


@functools.cache
def _matplotlib() -> ModuleType:
    """matplotlib, set up, imported with the first picture: it costs ~0.5 s and 30 MB of
    memory, which a sweep, a backtest or a CLI command that draws nothing should not pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.collections
    import matplotlib.dates
    import matplotlib.figure
    import matplotlib.patches

    matplotlib.rcParams["svg.hashsalt"] = (
        "btfarm"  # stable element ids: the same data, the same file
    )
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: smaller files, selectable labels
    matplotlib.rcParams["text.parse_math"] = (
        False  # a "$" in a name is text, never mathtext that fails
    )
    return matplotlib


def _figure(width: float, height: float) -> Figure:
    return _matplotlib().figure.Figure(figsize=(width, height))


def _dates(ms: Sequence[int] | Any) -> list[datetime]:
    return [datetime.fromtimestamp(int(t) / 1000, tz=UTC) for t in ms]


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def _time_axis(axis, span: tuple[int, int] | None = None) -> None:
    """Dates on the x axis; ``span`` (ms) fixes its ends, so a report's pictures line up."""
    dates = _matplotlib().dates
    locator = dates.AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    if span is not None:
        axis.set_xlim(*_dates(span))


def legend_outside(axis, **options: Any) -> None:
    """The axis's legend to the right of its data, never over a curve's start."""
    axis.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
        **{"fontsize": 8, **options},
    )


def equity_picture(
    series: EquitySeries,
    title: str,
    levels: Mapping[str, float] | None = None,
    benchmark: tuple[Any, Any] | None = None,
    benchmark_label: str = "buy and hold",
    gaps: Sequence[tuple[int, int]] = (),
    drawdown: bool = True,
    span: tuple[int, int] | None = None,
    partials: tuple[Any, Any] | None = None,
) -> str:
    """Equity of closed trades (compounded) with the drawdown beneath it (``drawdown``);
    ``levels`` (e.g. an open position's entry, TP and SL) are drawn as labelled lines on a
    price axis of their own; ``benchmark`` is (times ms, equity) of another curve from 1.0
    (the symbol bought and held); ``gaps`` are (start ms, end ms) spans shaded as "not
    running" (a live run's restarts); ``span`` (ms) the time axis's ends; ``partials`` (times
    ms, equity there: ``series.partial_close_marks``) marks a managed trade's partial closes
    (up to ``MARK_PARTIALS_UP_TO``, else the legend says how many)."""
    figure = _figure(WIDTH, HEIGHT if drawdown else HEIGHT * 0.75)
    if drawdown:
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    else:
        top, bottom = figure.subplots(), None
    times, equity = thin(series.times_ms, series.equity)
    dates = _dates(times)
    top.plot(dates, equity, color="#1f77b4", linewidth=1.2, label="equity (compounded)")
    if benchmark is not None and len(benchmark[0]):
        bench_times, bench = thin(*benchmark)
        top.plot(_dates(bench_times), bench, color="#7f7f7f", linewidth=0.9, label=benchmark_label)
    top.axhline(1.0, color="#999999", linewidth=0.6)
    if 0 < len(series.exits_ms) <= MARK_TRADES_UP_TO:
        at_exit = series.equity[1:]
        top.scatter(_dates(series.exits_ms), at_exit, s=14, color="#d62728", zorder=3, label="exit")
        top.scatter(
            _dates(series.entries_ms),
            series.equity[:-1],
            s=14,
            marker="^",
            color="#2ca02c",
            zorder=3,
            label="entry",
        )
    if partials is not None and len(partials[0]):
        count = len(partials[0])
        if count <= MARK_PARTIALS_UP_TO:
            # small, translucent and under the curve: a busy run's marks must not hide it
            top.scatter(
                _dates(partials[0]),
                partials[1],
                s=9,
                marker="D",
                color="#9467bd",
                alpha=0.5,
                edgecolors="none",
                zorder=1.5,
                label="partial close (counted at the close)",
            )
        else:
            top.scatter(
                [],
                [],
                s=18,
                marker="D",
                color="#9467bd",
                label=f"{count} partial closes, too many to mark",
            )
    for number, (start, end) in enumerate(gaps):
        for axis in (top, bottom) if bottom is not None else (top,):
            axis.axvspan(
                *_dates((start, end)),
                color="#ff7f0e",
                alpha=0.15,
                linewidth=0,
                label="not running" if number == 0 and axis is top else None,
            )
    top.set_ylabel("equity")
    top.set_title(title)
    if bottom is not None:
        _, dd = thin(series.times_ms, series.drawdown)
        bottom.fill_between(
            _dates(times[: len(dd)]), 0, -dd, color="#d62728", alpha=0.35, step="post"
        )
        bottom.set_ylabel("drawdown %")
    _time_axis(bottom if bottom is not None else top, span)
    if levels:
        side = top.twinx()
        for label, value in levels.items():
            side.axhline(
                value,
                linestyle="--",
                linewidth=0.9,
                color={"TP": "#2ca02c", "SL": "#d62728"}.get(label, "#555555"),
            )
            side.annotate(
                f"{label} {value:.6g}",
                (1.0, value),
                xycoords=("axes fraction", "data"),
                fontsize=8,
                ha="right",
                va="bottom",
            )
        side.set_ylabel("price (open position)")
        # past the price axis and its label: still outside the data
        figure.legend(
            *top.get_legend_handles_labels(),
            loc="upper left",
            bbox_to_anchor=(1.0, 0.88),
            frameon=False,
            fontsize=8,
        )
    else:
        legend_outside(top)
    if not len(series.exits_ms):
        top.text(
            0.5, 0.5, "no closed signal yet", transform=top.transAxes, ha="center", va="center"
        )
    return _svg(figure)


def heatmap_picture(heatmap: Heatmap, metric: str) -> str:
    """The metric over two parameters; cells with no ranked variant are grey and say n/a.
    The colours span the cells' 5th to 95th percentile (``series.color_range``), so one
    outlier cell does not flatten the rest (it takes the end colour; its number stays
    true); the best variant's cell is framed and starred."""
    figure = _figure(WIDTH, HEIGHT)
    axis = figure.subplots()
    data = heatmap.matrix
    cmap = _matplotlib().colormaps["viridis"].with_extremes(bad="#dddddd")
    scale = color_range(data)
    low, high = scale if scale is not None else (None, None)
    image = axis.imshow(data, cmap=cmap, aspect="auto", origin="lower", vmin=low, vmax=high)
    axis.set_xticks(range(len(heatmap.x_values)), [str(v) for v in heatmap.x_values])
    axis.set_yticks(range(len(heatmap.y_values)), [str(v) for v in heatmap.y_values])
    axis.set_xlabel(heatmap.x_param)
    axis.set_ylabel(heatmap.y_param)
    fixed = ", ".join(f"{k}={v}" for k, v in heatmap.fixed.items())
    axis.set_title(
        f"{metric} by {heatmap.x_param} and {heatmap.y_param}" + (f" ({fixed})" if fixed else "")
    )
    finite = data[np.isfinite(data)]
    clipped = scale is not None and finite.size and (finite.min() < low or finite.max() > high)
    figure.colorbar(
        image,
        ax=axis,
        extend=_extend(finite, low, high) if clipped else "neither",
        label=f"{metric} (colours: 5th-95th percentile)" if clipped else metric,
    )
    if data.size <= ANNOTATE_CELLS_UP_TO:
        for (row, col), value in zip(
            ((r, c) for r in range(data.shape[0]) for c in range(data.shape[1])),
            data.ravel(),
            strict=True,
        ):
            text = "n/a" if math.isnan(value) else f"{value:.3g}"
            if (row, col) == heatmap.best:
                text = f"\u2605 {text}"
            axis.text(
                col,
                row,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="#333333" if math.isnan(value) or _light(image, value) else "white",
            )
    if heatmap.best is not None:
        row, col = heatmap.best
        axis.add_patch(
            _matplotlib().patches.Rectangle(
                (col - 0.5, row - 0.5),
                1,
                1,
                fill=False,
                edgecolor="#d62728",
                linewidth=2.2,
                zorder=4,
            )
        )
        axis.set_title(f"{axis.get_title()}; framed \u2605: the best variant")
    return _svg(figure)


def _extend(finite: Any, low: float, high: float) -> str:
    """The colour bar's arrows: which ends hold cells beyond the scale."""
    below, above = bool(finite.min() < low), bool(finite.max() > high)
    return "both" if below and above else "min" if below else "max" if above else "neither"


def _light(image: Any, value: float) -> bool:
    """True when the cell's colour is light (its text is then written dark)."""
    red, green, blue, _ = image.cmap(image.norm(value))
    return 0.299 * red + 0.587 * green + 0.114 * blue > 0.6


def distribution_picture(
    values: Sequence[float], best: float | None, metric: str, not_ranked: int, not_finished: int
) -> str:
    """The metric over every ranked variant, the best marked; what is missing is said, not zeroed."""
    figure = _figure(WIDTH, HEIGHT * 0.7)
    axis = figure.subplots()
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if finite:
        axis.hist(finite, bins=min(50, max(5, len(finite) // 4)), color="#1f77b4", alpha=0.8)
    if best is not None:
        axis.axvline(best, color="#d62728", linewidth=1.5, label=f"best {best:.4g}")
        legend_outside(axis)
    axis.set_xlabel(metric)
    axis.set_ylabel("variants")
    missing = [f"{not_ranked} not ranked"] if not_ranked else []
    missing += [f"{not_finished} did not finish"] if not_finished else []
    axis.set_title(
        f"{metric} over {len(finite)} ranked variants"
        + (f" ({', '.join(missing)})" if missing else "")
    )
    return _svg(figure)


def search_picture(values: Sequence[float | None], metric: str) -> str:
    """Each trial's metric (a dot; none for a trial not ranked) and the best so far (a step line)."""
    figure = _figure(WIDTH, HEIGHT * 0.7)
    axis = figure.subplots()
    trials = [i for i, v in enumerate(values, start=1) if v is not None]
    shown = [v for v in values if v is not None]
    axis.scatter(trials, shown, s=8, color="#1f77b4", alpha=0.6, label="trial")
    best, running = [], -math.inf
    for v in values:
        running = max(running, v) if v is not None else running
        best.append(running if math.isfinite(running) else math.nan)
    axis.step(range(1, len(values) + 1), best, where="post", color="#d62728", label="best so far")
    axis.set_xlabel("trial")
    axis.set_ylabel(metric)
    legend_outside(axis)
    unranked = len(values) - len(shown)
    axis.set_title(
        f"{metric} trial by trial" + (f" ({unranked} not ranked, not shown)" if unranked else "")
    )
    return _svg(figure)


def top_equity_picture(curves: Mapping[str, EquitySeries], title: str) -> str:
    """The equity curves of the best strategies, overlaid."""
    figure = _figure(WIDTH, HEIGHT * 0.8)
    axis = figure.subplots()
    for name, series in curves.items():
        times, equity = thin(series.times_ms, series.equity)
        axis.plot(_dates(times), equity, linewidth=1.1, label=name)
    axis.axhline(1.0, color="#999999", linewidth=0.6)
    axis.set_ylabel("equity (compounded)")
    axis.set_title(title)
    legend_outside(axis, fontsize=7)
    _time_axis(axis)
    return _svg(figure)


def rank_change_picture(changes: Sequence[tuple[str, int | None, int]], metric: str) -> str:
    """Each strategy's rank in the previous run and in this one (1 at the top); a new
    one is a dot on the right."""
    figure = _figure(WIDTH * 0.8, max(3.0, 0.28 * len(changes) + 1.2))
    axis = figure.subplots()
    for name, before, now in changes:
        color = (
            "#999999"
            if before is None or before == now
            else "#2ca02c"
            if before > now
            else "#d62728"
        )
        if before is not None:
            axis.plot([0, 1], [before, now], color=color, linewidth=1.2, marker="o", markersize=3)
        else:
            axis.plot([1], [now], color="#1f77b4", marker="o", markersize=4)
        axis.annotate(
            f"{now}. {name}",
            (1, now),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    axis.set_xticks([0, 1], ["previous run", "this run"])
    axis.set_xlim(-0.2, 2.2)
    axis.invert_yaxis()
    axis.set_ylabel("rank")
    axis.set_title(f"rank by {metric}: previous run -> this run (green up, red down, blue new)")
    axis.spines[["top", "right"]].set_visible(False)
    return _svg(figure)

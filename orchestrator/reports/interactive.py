"""The interactive charts of a backtest's HTML twin, drawn with Bokeh: the price with
the trades, and the equity beside buying and holding the symbol. Zoom (mouse wheel,
box), pan and hover; the markdown keeps its SVGs.

Bokeh, because backtesting.py's own plot is Bokeh (quants know its tools), because
its script can be inlined whole (``bokeh.resources``, mode "inline": the page fetches
nothing), and because it is already installed with the bench's backtesting.py.

A chart travels to the page inside its SVG picture: ``InteractivePicture`` is the SVG
text (what ``dump`` writes beside the markdown) carrying the chart as a Bokeh
``json_item``; ``html.to_html`` shows the chart in the picture's place and inlines
BokehJS once per page (``bokeh_script``). What users wrote (a symbol, a strategy's
name) reaches a chart only as a title or a legend, which Bokeh draws as text on its
canvas, and hover values are written escaped (no ``{safe}`` formatter is used).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .series import TradeMarks, thin

MAX_INTERACTIVE_POINTS = (
    6000  # points an interactive line keeps (zooming in shows more than an SVG's 2,000)
)
HEIGHT_PIXELS = 380
TOOLS = "xpan,xwheel_zoom,box_zoom,reset,save"  # zoom keeps the time axis: what a quant compares
WIN, LOSS, NEUTRAL = "#2ca02c", "#d62728", "#555555"


class InteractivePicture(str):
    """An SVG picture's text with its interactive twin (a Bokeh ``json_item``): the
    markdown links the SVG, the HTML twin shows the chart instead."""

    interactive: dict[str, Any]

    def __new__(cls, svg: str, item: dict[str, Any]) -> InteractivePicture:
        picture = super().__new__(cls, svg)
        picture.interactive = item
        return picture


@functools.cache
def bokeh_script() -> str:
    """BokehJS's core, inlined (``<script>`` elements): what the charts need, nothing
    fetched. About 1.3 MB, so a page holds it once whatever its number of charts."""
    from bokeh.resources import Resources

    code = Resources(mode="inline", components=["bokeh"]).js_raw
    # its own scripts, without the "Bokeh.set_log_level" that Resources.render_js adds: that call
    # writes a line to the console; the page sets the level quietly instead (html.CHARTS_SCRIPT)
    return "".join(
        f"<script>\n{js}\n</script>\n"
        for js in code
        if not js.lstrip().startswith("Bokeh.set_log_level")
    )


def item_json(item: dict[str, Any]) -> str:
    """A ``json_item`` as JSON that cannot end the ``<script>`` holding it: ``<``, ``>``
    and ``&`` are written as JSON escapes (``JSON.parse`` reads them back)."""
    text = json.dumps(item, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figure(title: str, y_label: str) -> Any:
    from bokeh.plotting import figure

    plot = figure(
        title=title,
        x_axis_type="datetime",
        height=HEIGHT_PIXELS,
        sizing_mode="stretch_width",
        tools=TOOLS,
        active_drag="xpan",
        active_scroll="xwheel_zoom",
        toolbar_location="above",
    )
    plot.yaxis.axis_label = y_label
    plot.title.text_font_size = "12px"
    return plot


def _legend_outside(plot: Any) -> None:
    """The legend to the right of the data (it hid a curve's start inside); a click on an
    entry hides its curve."""
    if plot.legend:
        legend = plot.legend[0]
        plot.add_layout(legend, "right")
        legend.click_policy = "hide"
        legend.label_text_font_size = "11px"


def _json_item(plot: Any) -> dict[str, Any]:
    from bokeh.embed import json_item

    return json.loads(json.dumps(json_item(plot)))  # plain data: the page writes it as JSON


def price_chart(
    times_ms: np.ndarray, closes: np.ndarray, marks: TradeMarks, title: str
) -> dict[str, Any]:
    """The close price with each trade: entry (triangle up for a long, down for a short),
    exit (a dot, green for a win, red for a loss) and a line between them; hovering a
    trade shows its side, times, prices, PnL and close reason."""
    from bokeh.models import ColumnDataSource, HoverTool

    plot = _figure(title, "price")
    x, y = thin(
        np.asarray(times_ms, dtype=float), np.asarray(closes, dtype=float), MAX_INTERACTIVE_POINTS
    )
    line = plot.line(x, y, color=NEUTRAL, line_width=1, legend_label="close")
    plot.add_tools(
        HoverTool(
            renderers=[line],
            mode="vline",
            tooltips=[("time", "@x{%F %H:%M}"), ("close", "@y")],
            formatters={"@x": "datetime"},
        )
    )
    if len(marks.exit_ms):
        colors = np.where(marks.pnl > 0, WIN, np.where(marks.pnl < 0, LOSS, NEUTRAL))
        source = ColumnDataSource(
            {
                "number": np.arange(1, len(marks.exit_ms) + 1),
                "entry_ms": marks.entry_ms.astype(float),
                "entry_price": marks.entry_price,
                "exit_ms": marks.exit_ms.astype(float),
                "exit_price": marks.exit_price,
                "side": np.where(marks.long, "long", "short"),
                "pnl": marks.pnl,
                "reason": marks.reasons,
                "color": colors,
                "entry_marker": np.where(marks.long, "triangle", "inverted_triangle"),
            }
        )
        plot.segment(
            "entry_ms",
            "entry_price",
            "exit_ms",
            "exit_price",
            source=source,
            color="color",
            line_width=1.2,
            alpha=0.6,
        )
        entries = plot.scatter(
            "entry_ms",
            "entry_price",
            source=source,
            marker="entry_marker",
            size=9,
            color="color",
            legend_label="entry (long up, short down)",
        )
        exits = plot.scatter(
            "exit_ms",
            "exit_price",
            source=source,
            marker="circle",
            size=6,
            color="color",
            line_color="#222222",
            legend_label="exit (green won, red lost)",
        )
        plot.add_tools(
            HoverTool(
                renderers=[entries, exits],
                tooltips=[
                    ("trade", "@number @side"),
                    ("entry", "@entry_ms{%F %H:%M} at @entry_price{0,0.0000[0000]}"),
                    ("exit", "@exit_ms{%F %H:%M} at @exit_price{0,0.0000[0000]}"),
                    ("PnL", "@pnl{+0.00}%"),
                    ("reason", "@reason"),
                ],
                formatters={"@entry_ms": "datetime", "@exit_ms": "datetime"},
            )
        )
    for label, when, price, marker in (
        ("added entry", marks.added_ms, marks.added_price, "plus"),
        ("partial close", marks.partial_ms, marks.partial_price, "diamond"),
    ):
        if len(when):
            plot.scatter(
                when.astype(float),
                price,
                marker=marker,
                size=8,
                color="#9467bd",
                legend_label=label,
            )
    _legend_outside(plot)
    return _json_item(plot)


def equity_chart(
    times_ms: np.ndarray,
    equity: np.ndarray,
    benchmark: tuple[np.ndarray, np.ndarray] | None,
    benchmark_label: str,
    title: str,
    partials: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The compounded equity of the closed trades, step by step, and the symbol bought
    and held over the frame; hovering shows either's value at a time. ``partials`` (times
    ms, equity there: ``series.partial_close_marks``) marks a managed trade's partial closes."""
    from bokeh.models import HoverTool, Span

    plot = _figure(title, "equity (1 = start)")
    curves = []
    if benchmark is not None and len(benchmark[0]):
        bx, by = thin(
            np.asarray(benchmark[0], dtype=float),
            np.asarray(benchmark[1], dtype=float),
            MAX_INTERACTIVE_POINTS,
        )
        curves.append(
            plot.line(bx, by, color="#7f7f7f", line_width=1, legend_label=benchmark_label)
        )
    x, y = thin(
        np.asarray(times_ms, dtype=float), np.asarray(equity, dtype=float), MAX_INTERACTIVE_POINTS
    )
    curves.append(
        plot.step(
            x, y, mode="after", color="#1f77b4", line_width=1.6, legend_label="equity (compounded)"
        )
    )
    plot.add_layout(Span(location=1.0, dimension="width", line_color="#999999", line_width=1))
    if partials is not None and len(partials[0]):
        plot.scatter(
            np.asarray(partials[0], dtype=float),
            np.asarray(partials[1], dtype=float),
            marker="diamond",
            size=8,
            color="#9467bd",
            legend_label="partial close (counted at the close)",
        )
    plot.add_tools(
        HoverTool(
            renderers=curves,
            mode="vline",
            tooltips=[("time", "@x{%F %H:%M}"), ("equity", "@y{0.0000}")],
            formatters={"@x": "datetime"},
        )
    )
    _legend_outside(plot)
    return _json_item(plot)


def chart_ids(count: int, prefix: str = "chart") -> Sequence[str]:
    """The element ids of a page's ``count`` charts."""
    return [f"{prefix}-{n}" for n in range(1, count + 1)]

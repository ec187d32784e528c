"""``Heat``'s picture: PnL by symbol and month (``heat_months``), drawn as a heatmap.

Colours diverge around 0 (red loses, green wins) on a scale symmetric about it,
so a cell's colour says its sign at a glance; a month without a trade is grey
and says so. Drawn like the other reports' pictures (reports/pictures.py).
"""

from __future__ import annotations

import math

import numpy as np

from ..reports.pictures import (
    ANNOTATE_CELLS_UP_TO,
    HEIGHT,
    WIDTH,
    _figure,
    _light,
    _matplotlib,
    _svg,
)
from .heat_months import SymbolMonthPnl

ROW_INCHES = 0.35  # height per symbol once there are more symbols than the default height holds
TICK_LABELS_UP_TO = 40  # month labels written at most; more are thinned


def heat_picture(months: SymbolMonthPnl, title: str) -> str:
    """The SVG text of the symbol x month PnL heatmap."""
    data = months.matrix
    height = max(HEIGHT * 0.75, 1.2 + ROW_INCHES * len(months.symbols))
    figure = _figure(WIDTH, height)
    axis = figure.subplots()
    axis.set_title(title)
    if not data.size:
        axis.text(
            0.5, 0.5, "no closed trade yet", transform=axis.transAxes, ha="center", va="center"
        )
        axis.set_axis_off()
        return _svg(figure)
    finite = data[np.isfinite(data)]
    reach = float(np.max(np.abs(finite))) if finite.size else 1.0
    reach = reach if reach > 0 else 1.0
    cmap = _matplotlib().colormaps["RdYlGn"].with_extremes(bad="#dddddd")
    image = axis.imshow(
        data, cmap=cmap, aspect="auto", vmin=-reach, vmax=reach, interpolation="nearest"
    )
    step = max(1, math.ceil(len(months.months) / TICK_LABELS_UP_TO))
    axis.set_xticks(
        range(0, len(months.months), step), months.months[::step], rotation=45, ha="right"
    )
    axis.set_yticks(range(len(months.symbols)), months.symbols)
    axis.set_xlabel("month of the close (UTC)")
    figure.colorbar(image, ax=axis, label="PNL % (sum of the month's trades)")
    if data.size <= ANNOTATE_CELLS_UP_TO:
        for row in range(data.shape[0]):
            for col in range(data.shape[1]):
                value = data[row, col]
                text = "no trade" if math.isnan(value) else f"{value:+.2f}"
                axis.text(
                    col,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="#333333" if math.isnan(value) or _light(image, value) else "white",
                )
    return _svg(figure)

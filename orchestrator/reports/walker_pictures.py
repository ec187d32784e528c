"""A walker report's pictures: the metric over each pair of swept parameters, the
metric's distribution with the best marked, and the equity of the top five."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from .pictures import distribution_picture, heatmap_picture, search_picture, top_equity_picture
from .series import equity_series, heatmap

TOP_CURVES = 5  # equity curves overlaid
MAX_HEATMAPS = 6  # parameter pairs drawn per sweep


def swept_grids(variants: Sequence[Any]) -> dict[str, dict[str, list[Any]]]:
    """Each strategy's swept parameters (those taking more than one value), values in
    the order the sweep listed them."""
    seen: dict[str, dict[str, list[Any]]] = {}
    for v in variants:
        for key, value in (v.params or {}).items():
            values = seen.setdefault(v.base, {}).setdefault(key, [])
            if value not in values:
                values.append(value)
    return {base: {k: vs for k, vs in grid.items() if len(vs) > 1} for base, grid in seen.items()}


def walker_pictures(
    stem: str, data: Any, variants: Sequence[Any], closed: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """({file: svg}, [(alt, file)]) for a walker's ``data`` (WalkerData), its variants and
    the recomputed closed signals of its best strategies."""
    files: dict[str, str] = {}
    links: list[tuple[str, str]] = []
    metric = data.metric
    ranked = {s.strategy_name: s.metric_value for s in data.strategies}
    for base, grid in swept_grids(variants).items():
        if len(grid) < 2:
            continue
        mine = [v for v in variants if v.base == base]
        results = {
            v.strategy_name: (dict(v.params or {}), ranked.get(v.strategy_name)) for v in mine
        }
        best = next((s.params for s in data.strategies if s.strategy_name in results), None) or {}
        for x, y in list(itertools.combinations(grid, 2))[:MAX_HEATMAPS]:
            file = f"{stem}.heatmap-{base}-{x}-{y}.svg"
            files[file] = heatmap_picture(heatmap(grid, results, x, y, best), metric)
            links.append((f"{metric} of {base} by {x} and {y}", file))
    if data.search_trials:
        file = f"{stem}.search.svg"
        files[file] = search_picture([ranked.get(name) for _, name in data.search_trials], metric)
        links.append((f"{metric} trial by trial, and the best so far", file))
    file = f"{stem}.distribution.svg"
    files[file] = distribution_picture(
        [s.metric_value for s in data.strategies],
        data.best_metric,
        metric,
        len(data.unranked),
        len(data.unfinished),
    )
    links.append((f"{metric} over the variants", file))
    top = [s.strategy_name for s in data.strategies[:TOP_CURVES] if s.strategy_name in closed]
    if top:
        file = f"{stem}.top-equity.svg"
        files[file] = top_equity_picture(
            {n: equity_series(closed[n]) for n in top}, f"equity of the best {len(top)} by {metric}"
        )
        links.append(("Equity of the best strategies", file))
    return files, links

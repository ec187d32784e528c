"""A walker report's pictures: the metric over each pair of swept parameters, the
metric's distribution with the best marked, and the equity of the top five."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from btfarm.orchestrator.results.status import VariantStatus

from .dump import file_part
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
    if data.table is not None:  # a large sweep: from its columns, never a row per variant
        _large_heatmaps(stem, data, files, links)
    for base, grid in ({} if data.table is not None else swept_grids(variants)).items():
        if len(grid) < 2:
            continue
        mine = [v for v in variants if v.base == base]
        results = {
            v.strategy_name: (dict(v.params or {}), ranked.get(v.strategy_name)) for v in mine
        }
        best = next((s.params for s in data.strategies if s.strategy_name in results), None) or {}
        for x, y in list(itertools.combinations(grid, 2))[:MAX_HEATMAPS]:
            file = f"{stem}.heatmap-{file_part(base)}-{file_part(x)}-{file_part(y)}.svg"
            files[file] = heatmap_picture(heatmap(grid, results, x, y, best), metric)
            links.append((f"{metric} of {base} by {x} and {y}", file))
    if data.search_trials:
        file = f"{stem}.search.svg"
        files[file] = search_picture([ranked.get(name) for _, name in data.search_trials], metric)
        links.append((f"{metric} trial by trial, and the best so far", file))
    file = f"{stem}.distribution.svg"
    table = data.table
    files[file] = distribution_picture(
        [s.metric_value for s in data.strategies]
        if table is None
        else table.metric_value[table.order].tolist(),
        data.best_metric,
        metric,
        len(data.unranked)
        if table is None
        else int(((table.status == VariantStatus.DONE) & ~table.ranked).sum()),
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


def _large_heatmaps(
    stem: str, data: Any, files: dict[str, str], links: list[tuple[str, str]]
) -> None:
    """The heatmaps of a large sweep (``data.table``, results/columns.py): per grid, each pair
    of its swept keys with the others at the best's values, the cells read from the columns
    by index (the grid's numbering: the last key varies fastest)."""
    table = data.table
    for at, item in enumerate(table.variants.items):
        swept = [
            k for k, values in zip(item["keys"], item["values"], strict=True) if len(values) > 1
        ]
        if len(swept) < 2:
            continue
        span = table.variants.span(at)
        sizes = [len(values) for values in item["values"]]
        strides = [int(np.prod(sizes[k + 1 :])) for k in range(len(sizes))]
        # the grid's best ranked variant, as the rows' pictures take their base's best
        inside = table.order[(table.order >= span.start) & (table.order < span.stop)]
        mine = (table.variants[int(inside[0])].params or {}) if len(inside) else {}
        choice = {
            k: (values.index(mine[k]) if mine and mine.get(k) in values else 0)
            for k, values in zip(item["keys"], item["values"], strict=True)
        }
        grid = {k: v for k, v in zip(item["keys"], item["values"], strict=True) if k in swept}
        for x, y in list(itertools.combinations(swept, 2))[:MAX_HEATMAPS]:
            at_x, at_y = item["keys"].index(x), item["keys"].index(y)
            base_index = span.start + sum(
                choice[k] * strides[n] for n, k in enumerate(item["keys"]) if k not in (x, y)
            )
            fixed = {
                k: item["values"][n][choice[k]]
                for n, k in enumerate(item["keys"])
                if k not in (x, y)
            }
            results = {}
            for i, xv in enumerate(item["values"][at_x]):
                for j, yv in enumerate(item["values"][at_y]):
                    index = base_index + i * strides[at_x] + j * strides[at_y]
                    value = float(table.metric_value[index])
                    results[str(index)] = (
                        {**fixed, x: xv, y: yv},
                        None if np.isnan(value) else value,
                    )
            file = f"{stem}.heatmap-{file_part(item['base'])}-{file_part(x)}-{file_part(y)}.svg"
            files[file] = heatmap_picture(
                heatmap(grid, results, x, y, {**fixed, **(mine or {})}), data.metric
            )
            links.append((f"{data.metric} of {item['base']} by {x} and {y}", file))

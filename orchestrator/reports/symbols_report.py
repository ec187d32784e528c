"""The report of a walker over several symbols: the ranking across them, then each symbol's
sweep in one line (its own report holds the rest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import _format as fmt
from .render import BEST_MARKER, _render

if TYPE_CHECKING:
    from btfarm.orchestrator.results.symbols import SymbolsData


def render_walker_symbols(
    data: SymbolsData, reports: Mapping[str, str] | None = None, top_n: int | None = None
) -> str:
    """Markdown of ``data``; ``reports`` maps a symbol to its own report's file, linked."""
    metric = data.metric

    def value(v: float | None) -> str:
        return fmt.cell(fmt.stat_value(metric, v))

    shown = data.ranking if top_n is None else data.ranking[:top_n]
    rows = [
        {
            "rank": f"{BEST_MARKER} **{r.rank}**"
            if r.strategy_name == data.best_strategy
            else r.rank,
            "strategy_name": fmt.cell(r.strategy_name),
            "mean": value(r.mean_metric),
            "worst": value(r.worst_metric),
            "wins": r.wins,
            "cells": [value(r.metrics.get(s)) for s in data.symbols],
        }
        for r in shown
    ]
    per_symbol = []
    for symbol, one in data.per_symbol.items():
        link = (reports or {}).get(symbol)
        per_symbol.append(
            {
                "symbol": f"[{fmt.link_text(symbol)}]({fmt.address(link)})"
                if link
                else fmt.cell(symbol),
                "best": fmt.cell(
                    one.best_strategy or (f"none: {one.refused}" if one.refused else "N/A")
                ),
                "tested": f"{one.strategies_tested} / {one.total_strategies}",
                "run_id": fmt.cell(one.run_id),
                "trust": fmt.cell(one.trust.sentence()) if one.trust.trials else "N/A",
            }
        )
    return _render(
        "walker_symbols.md.j2",
        walker_name=fmt.inline(data.walker_name),
        symbols=[fmt.cell(fmt.inline(s)) for s in data.symbols],
        metric=metric,
        marker=BEST_MARKER,
        best=fmt.inline(data.best_strategy or (f"none: {data.refused}" if data.refused else "N/A")),
        rows=rows,
        not_compared=[(fmt.cell(n), fmt.cell(w)) for n, w in data.not_compared.items()],
        per_symbol=per_symbol,
        marked=data.best_strategy is not None,
    )

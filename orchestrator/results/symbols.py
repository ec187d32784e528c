"""A walker over several symbols: each symbol's sweep as ``Walker.get_data`` gives it, and
the variants ranked across them.

A variant is compared across symbols only where it is comparable on every one (ranked
there: finished, with at least ``min_trades`` closed signals); otherwise it is listed
with the symbols where it is not, never ranked. The aggregate ranks by the mean of the
walker's metric across symbols, then by the worst, then in walker order; ``wins`` counts
the symbols whose best it is (a symbol whose winner the walker's thresholds refused has none).
Where the walker's thresholds (min_dsr, max_pbo) refused the winner of any symbol, no
variant is named best across them either, and ``refused`` says where and why: a sweep
found overfit on one symbol does not become trustworthy by averaging it with others.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from btfarm.orchestrator.results.walker_data import WalkerData


class SymbolsRow(BaseModel):
    rank: int
    strategy_name: str
    mean_metric: float | None  # mean of the metric over the symbols (None if one has none)
    worst_metric: float | None  # its lowest value on any symbol
    wins: int  # symbols whose best this variant is
    metrics: dict[str, float | None]  # symbol -> the metric there
    params: dict[str, Any] | None = None


class SymbolsData(BaseModel):
    """What ``Walker.get_data([A, B, ...], walker)`` returns."""

    walker_name: str
    symbols: list[str]
    metric: str
    per_symbol: dict[str, WalkerData]  # symbol -> that symbol's sweep (its own run id)
    ranking: list[SymbolsRow]  # variants comparable on every symbol, best first
    not_compared: dict[str, str]  # variant -> on which symbols it is not comparable, and why
    best_strategy: str | None
    refused: str | None = (
        None  # why no best is named: the symbols whose winner the thresholds refused
    )

    def to_frame(self):
        """Every symbol's ``to_frame()`` one after the other (``symbol`` tells them apart)."""
        import pandas as pd

        return pd.concat([data.to_frame() for data in self.per_symbol.values()], ignore_index=True)


def symbols_data(walker_name: str, per_symbol: dict[str, WalkerData]) -> SymbolsData:
    symbols = list(per_symbol)
    first = per_symbol[symbols[0]]
    metric = first.metric
    ranked = {s: {r.strategy_name: r for r in data.strategies} for s, data in per_symbol.items()}
    rows, not_compared = [], {}
    for order, name in enumerate(first.variants):
        missing = [
            f"{s}: {_why_not(per_symbol[s], name)}" for s in symbols if name not in ranked[s]
        ]
        if missing:
            not_compared[name] = "; ".join(missing)
            continue
        values = {s: ranked[s][name].metric_value for s in symbols}
        known = [v for v in values.values() if v is not None]
        complete = len(known) == len(values)
        rows.append(
            (
                order,
                SymbolsRow(
                    rank=0,
                    strategy_name=name,
                    metrics=values,
                    params=ranked[symbols[0]][name].params,
                    mean_metric=sum(known) / len(known) if complete else None,
                    worst_metric=min(known) if complete else None,
                    wins=sum(per_symbol[s].best_strategy == name for s in symbols),
                ),
            )
        )
    rows.sort(
        key=lambda item: (
            item[1].mean_metric is None,
            -(item[1].mean_metric or 0.0),
            -(item[1].worst_metric or 0.0),
            item[0],
        )
    )
    ranking = [row.model_copy(update={"rank": i}) for i, (_, row) in enumerate(rows, start=1)]
    best = ranking[0].strategy_name if ranking and ranking[0].mean_metric is not None else None
    refusals = [f"{s}: {data.refused}" for s, data in per_symbol.items() if data.refused]
    refused = None
    if best is not None and refusals:
        refused = f"{best} is not named the best across symbols: " + "; ".join(refusals)
        best = None
    return SymbolsData(
        walker_name=walker_name,
        symbols=symbols,
        metric=metric,
        per_symbol=per_symbol,
        ranking=ranking,
        not_compared=not_compared,
        best_strategy=best,
        refused=refused,
    )


def _why_not(data: WalkerData, name: str) -> str:
    if name in data.unranked:
        return data.unranked[name][0]
    return data.unfinished.get(name, "no result")

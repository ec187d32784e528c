"""A sweep's results as a pandas DataFrame: one row per variant and symbol.

Columns: ``symbol``, ``strategy_name``, ``base``, each parameter (named as
the strategy names it; ``param_NAME`` where that would shadow another
column), ``status`` (done, failed, stopped, missing), ``ranked`` (compared
with the others: a done variant with at least ``min_trades`` closed
signals), ``rank``, ``metric_value``, ``reason`` (why a variant is not
ranked or did not finish), ``daily_sharpe`` and ``deflated_sharpe`` (of a
ranked variant: its Sharpe ratio per day, and the probability that it beats
the best Sharpe ratio luck would give the sweep's trials; results/trust.py,
for ranking or filtering beyond the walker's metric), then every statistic of ``BacktestStatistics``
(empty where there is none: NaN, or <NA> for the counts). Rows keep the
sweep's own order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from btfarm.orchestrator.results.status import NOT_RUN_STOPPED
from btfarm.shared.stats import BacktestStatistics

if TYPE_CHECKING:
    from btfarm.orchestrator.results.walker_data import WalkerData

FIXED = (
    "symbol",
    "strategy_name",
    "base",
    "status",
    "ranked",
    "rank",
    "metric_value",
    "reason",
    "daily_sharpe",
    "deflated_sharpe",
)
STATS = tuple(BacktestStatistics.model_fields)
INT_STATS = tuple(n for n, f in BacktestStatistics.model_fields.items() if f.annotation is int)


def status_of(why: str) -> str:
    """The status column of a variant that did not finish, from why (failed, stopped, missing)."""
    if why.startswith(("failed", "stopped")):
        return why.split(":", 1)[0]
    return "stopped" if why.startswith(NOT_RUN_STOPPED) else "missing"


def walker_frame(data: WalkerData) -> pd.DataFrame:
    """results/table.py's table of ``data``: from its columns when it has them (a large sweep,
    results/columns.py), else from its rows."""
    if data.table is not None:
        return data.table.to_frame()
    ranked = {s.strategy_name: s for s in data.strategies}
    taken = set(FIXED) | set(STATS)
    rows: list[dict[str, Any]] = []
    for name, (base, params) in data.variants.items():
        row: dict[str, Any] = {"symbol": data.symbol, "strategy_name": name, "base": base}
        for key, value in (params or {}).items():
            row[f"param_{key}" if key in taken else key] = value
        stats = None
        if name in ranked:
            hit = ranked[name]
            row.update(
                status="done",
                ranked=True,
                rank=hit.rank,
                metric_value=hit.metric_value,
                reason=None,
                daily_sharpe=hit.daily_sharpe,
                deflated_sharpe=hit.deflated_sharpe,
            )
            stats = hit.stats
        elif name in data.unranked:
            why, stats = data.unranked[name]
            row.update(
                status="done",
                ranked=False,
                rank=None,
                metric_value=None,
                reason=why,
                daily_sharpe=None,
                deflated_sharpe=None,
            )
        else:
            why = data.unfinished.get(name, "no result received")
            row.update(
                status=status_of(why),
                ranked=False,
                rank=None,
                metric_value=None,
                reason=why,
                daily_sharpe=None,
                deflated_sharpe=None,
            )
        dumped = stats.model_dump() if stats is not None else {}
        row.update({field: dumped.get(field) for field in STATS})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(FIXED) + list(STATS))
    for column in ("daily_sharpe", "deflated_sharpe"):  # None beside floats: NaN, a float column
        frame[column] = frame[column].astype(float)
    for column in ("rank", *INT_STATS):  # counts stay integers beside the empty rows
        frame[column] = frame[column].astype("Int64")
    param_columns = [c for c in frame.columns if c not in taken]
    return frame[["symbol", "strategy_name", "base", *param_columns, *FIXED[3:], *STATS]]

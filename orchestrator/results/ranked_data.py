"""What ``Walker.get_data`` returns for one sweep: the whole ranking when the sweep is small,
the best ``top`` as rows and every variant as columns when it is large.

A sweep of at most ``top`` variants (``TOP``, 1,000, by default) comes back as before:
``SweepTally.data()``, every ranked variant a ``RankedStrategy``. A larger one comes as
columns (results/columns.py): the ranking from the tally's arrays, the trust figures from
one read of its held blocks (results/trust_columns.py); the best ``top`` ranked variants
are rows, and so are the first ``top`` not ranked (``unranked``); fingerprints and
rejections are those of the best ``LISTED`` and the first ``LISTED`` not ranked (their
records' text is parsed a block at a time: a million variants' is most of a minute).
``WalkerData.table`` holds every variant's status, rank, metric and trust figures as numpy
columns and reads their statistics per slice; ``to_frame()`` builds the table from them.
A million variants are never a million Python objects here.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from btfarm.orchestrator.results.columns import SweepColumns, sweep_columns
from btfarm.orchestrator.results.stat_columns import empty_stats, put_stats, stats_dict
from btfarm.orchestrator.results.status import VariantStatus
from btfarm.orchestrator.results.trust import TrustFigures
from btfarm.orchestrator.results.trust_columns import TrustColumns
from btfarm.orchestrator.results.walker_data import RankedStrategy, WalkerData
from btfarm.shared.errors import UsageError
from btfarm.shared.ranking import metric_value
from btfarm.shared.stats import BacktestStatistics

if TYPE_CHECKING:
    from btfarm.orchestrator.sweeps.tally import SweepTally

TOP = 1_000  # ranked variants get_data returns as rows by default (the rest as columns)
NONE = np.zeros(0, dtype=np.int64)  # no variant
_KEPT: weakref.WeakKeyDictionary[Any, tuple[tuple, Any]] = weakref.WeakKeyDictionary()
# WalkerData's fields the tally holds under the same name, as they are
AS_THE_TALLY_HOLDS = (
    "walker_name",
    "symbol",
    "exchange_name",
    "frame_name",
    "metric",
    "min_dsr",
    "max_pbo",
    "search_spec",
    "search_note",
    "stopped",
    "run_id",
    "chunk_size",
    "seconds",
    "resumed",
    "min_trades",
    "coverage",
)
LISTED = 100  # of a large sweep, the best ranked (and first unranked) with fingerprints, rejections


def checked_top(top: Any, needed_by: str) -> int:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise UsageError(f"{needed_by}: top must be a positive integer, got {top!r}")
    return top


def ranked_data(tally: SweepTally, top: int = TOP) -> WalkerData:
    """``tally``'s sweep whole (at most ``top`` variants) or as its best ``top`` and columns."""
    if len(tally.variants) <= top:
        return tally.data()
    return large_data(tally, top)


def large_data(tally: SweepTally, top: int) -> WalkerData:
    """The best ``top`` ranked variants as rows, every variant in ``table``."""
    columns, figures, (stats, has), found = _read(tally, top)
    shown = columns.order[:top]
    first_unranked = np.flatnonzero((columns.status == VariantStatus.DONE) & ~columns.ranked)[:top]
    refused = tally.refusal(figures)
    best = tally.best if tally.best and refused is None else None
    strategies = []
    for position, index in enumerate(shown.tolist(), start=1):
        own = stats_dict(stats, has, position - 1)
        strategies.append(
            RankedStrategy(
                rank=position,
                strategy_name=tally.name_of(index),
                stats=BacktestStatistics.model_validate(own),
                metric_value=metric_value(own, tally.metric),
                params=tally.variants[index].params,
                daily_sharpe=_number(columns.daily_sharpe[index]),
                deflated_sharpe=_number(columns.deflated_sharpe[index]),
            )
        )
    unranked = {}
    for at, index in enumerate(first_unranked.tolist(), start=len(shown)):
        own = stats_dict(stats, has, at)
        unranked[tally.name_of(index)] = (
            str(tally.unranked_reason({"stats": own})),
            BacktestStatistics.model_validate(own or {}),
        )
    records = [found[i] for i in sorted(found)]
    return WalkerData(
        **{name: getattr(tally, name) for name in AS_THE_TALLY_HOLDS},
        total_strategies=len(tally.variants),
        strategies_tested=tally.tested,
        best_strategy=best[0] if best else None,
        best_metric=best[1] if best else None,
        trust=figures,
        refused=refused,
        search_trials=list(tally.search_trials),
        strategies=strategies,
        unfinished={tally.name_of(i): why for i, why in sorted(columns.reasons.items())},
        duplicates_dropped=tally.duplicates,
        interrupted=tally.interrupted is not None,
        fingerprints={
            rec["strategy_name"]: rec["fingerprint"] for rec in records if rec.get("fingerprint")
        },
        lanes={rec["strategy_name"]: rec["lane"] for rec in records if rec.get("lane")},
        unranked=unranked,
        rejections={
            rec["strategy_name"]: (rec["stats"]["rejected_signals"], rec.get("rejections") or [])
            for rec in records
            if (rec["stats"] or {}).get("rejected_signals")
        },
        top=top,
        table=columns,
    )


def _read(tally: SweepTally, top: int) -> Any:
    """``columns_of`` for ``large_data``: the columns, the figures, the statistics of the best
    ``top`` ranked and first ``top`` not ranked, the records of the first ``LISTED`` of each.
    Kept per tally until a result comes or the sweep stops (``get_data`` then the report
    read a million variants once, not twice); the columns are shared, read-only."""
    key = (tally._adds, tally.stopped, tally.interrupted, top)  # noqa: SLF001  (read only)
    kept = _KEPT.get(tally)
    if kept is not None and kept[0] == key:
        return kept[1]
    columns = sweep_columns(tally)
    shown = columns.order[:top]
    first_unranked = np.flatnonzero((columns.status == VariantStatus.DONE) & ~columns.ranked)[:top]
    picked = np.concatenate([shown, first_unranked])
    listed = np.concatenate([shown[:LISTED], first_unranked[:LISTED]])
    read = columns_of(tally, picked, listed, columns)
    _KEPT[tally] = (key, read)
    return read


def columns_of(
    tally: SweepTally,
    stats_of: np.ndarray = NONE,
    records_of: np.ndarray = NONE,
    columns: SweepColumns | None = None,
) -> tuple[
    SweepColumns,
    TrustFigures,
    tuple[dict[str, np.ndarray], np.ndarray],
    dict[int, dict[str, Any]],
]:
    """Every variant of ``tally``'s sweep as columns, each ranked one's daily and deflated
    Sharpe ratios among them, the sweep's trust figures, the statistics of the variants
    ``stats_of`` (stat_columns.read_stats' form, in that order) and the records of
    ``records_of`` by index: the held blocks read once. ``columns``: the sweep's
    (``sweep_columns``), when made already."""
    columns = sweep_columns(tally) if columns is None else columns
    trust = TrustColumns(columns.ranked, columns.rank)
    total = len(columns)
    stats, has = empty_stats(len(stats_of))
    stat_at = np.full(total, -1, dtype=np.int64)
    stat_at[stats_of] = np.arange(len(stats_of))
    wanted = np.zeros(total, dtype=bool)
    wanted[records_of] = True
    records: dict[int, dict[str, Any]] = {}
    for block, rows in tally.held.current():  # each block read once
        trust.add(block, rows)
        at = stat_at[block.index[rows]]
        if (at >= 0).any():
            put_stats(stats, has, at[at >= 0], block, rows[at >= 0])
        for row in rows[wanted[block.index[rows]]].tolist():
            records[int(block.index[row])] = block.record(row)
    winner = tally.best[2] if tally.best else None
    figures, columns.daily_sharpe, columns.deflated_sharpe = trust.figures(
        columns.order, winner, tally.name_of
    )
    return columns, figures, (stats, has), records


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)

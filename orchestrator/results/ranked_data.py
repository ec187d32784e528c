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

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from btfarm.orchestrator.results.columns import SweepColumns, sweep_columns
from btfarm.orchestrator.results.stat_columns import read_stats, stats_dict
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
    columns, figures = columns_of(tally)
    refused = tally.refusal(figures)
    best = tally.best if tally.best and refused is None else None
    shown = columns.order[:top]
    first_unranked = np.flatnonzero((columns.status == VariantStatus.DONE) & ~columns.ranked)[:top]
    stats, has = read_stats(tally.held, np.concatenate([shown, first_unranked]))
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
    listed = np.concatenate([shown[:LISTED], first_unranked[:LISTED]])
    records = [rec for _, rec in sorted(_records(tally, listed).items())]
    return WalkerData(
        walker_name=tally.walker_name,
        symbol=tally.symbol,
        exchange_name=tally.exchange_name,
        frame_name=tally.frame_name,
        metric=tally.metric,
        total_strategies=len(tally.variants),
        strategies_tested=tally.tested,
        best_strategy=best[0] if best else None,
        best_metric=best[1] if best else None,
        trust=figures,
        refused=refused,
        min_dsr=tally.min_dsr,
        max_pbo=tally.max_pbo,
        search_trials=list(tally.search_trials),
        search_spec=tally.search_spec,
        search_note=tally.search_note,
        strategies=strategies,
        unfinished={tally.name_of(i): why for i, why in sorted(columns.reasons.items())},
        stopped=tally.stopped,
        run_id=tally.run_id,
        chunk_size=tally.chunk_size,
        seconds=tally.seconds,
        duplicates_dropped=tally.duplicates,
        resumed=tally.resumed,
        interrupted=tally.interrupted is not None,
        fingerprints={
            rec["strategy_name"]: rec["fingerprint"] for rec in records if rec.get("fingerprint")
        },
        unranked=unranked,
        rejections={
            rec["strategy_name"]: (rec["stats"]["rejected_signals"], rec.get("rejections") or [])
            for rec in records
            if (rec["stats"] or {}).get("rejected_signals")
        },
        min_trades=tally.min_trades,
        coverage=tally.coverage,
        top=top,
        table=columns,
    )


def columns_of(tally: SweepTally) -> tuple[SweepColumns, TrustFigures]:
    """Every variant of ``tally``'s sweep as columns, each ranked one's daily and deflated
    Sharpe ratios among them, and the sweep's trust figures: the held blocks read once."""
    columns = sweep_columns(tally)
    trust = TrustColumns(columns.ranked, columns.rank)
    for block, rows in tally.held.current():  # each block read once
        trust.add(block, rows)
    winner = tally.best[2] if tally.best else None
    figures, columns.daily_sharpe, columns.deflated_sharpe = trust.figures(
        columns.order, winner, tally.name_of
    )
    return columns, figures


def _records(tally: SweepTally, indices: np.ndarray) -> dict[int, dict[str, Any]]:
    """The records of ``indices``, each block decoded once."""
    numbers, rows = tally.held.where(indices)
    by_block: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for index, number, row in zip(indices.tolist(), numbers.tolist(), rows.tolist(), strict=True):
        by_block[number].append((index, row))
    out = {}
    for number, wanted in by_block.items():
        block = tally.held.block(number)
        for index, row in wanted:
            out[index] = block.record(row)
    return out


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)

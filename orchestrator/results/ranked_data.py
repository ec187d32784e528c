"""What ``Walker.get_data`` returns for one sweep: the whole ranking when the sweep is small,
the best ``top`` as rows and every variant as columns when it is large.

A sweep of at most ``top`` variants (``TOP``, 1,000, by default) comes back as before:
``SweepTally.data()``, every ranked variant a ``RankedStrategy``. A larger one is read from
the tally's held blocks once (results/columns.py, results/trust_columns.py): the best
``top`` ranked variants are rows, with their records' parameters, fingerprints and
rejections; ``WalkerData.table`` holds every variant's status, rank, metric, trust figures
and statistics as numpy columns, and ``to_frame()`` builds the table from them. A million
variants are never a million Python objects here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from btfarm.orchestrator.results.columns import SweepColumns, gather, ranking
from btfarm.orchestrator.results.status import VariantStatus
from btfarm.orchestrator.results.trust import TrustFigures
from btfarm.orchestrator.results.trust_columns import TrustColumns
from btfarm.orchestrator.results.walker_data import RankedStrategy, WalkerData
from btfarm.shared.errors import UsageError
from btfarm.shared.ranking import metric_value

if TYPE_CHECKING:
    from btfarm.orchestrator.sweeps.tally import SweepTally

TOP = 1_000  # ranked variants get_data returns as rows by default (the rest as columns)


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
    records = _records(tally, np.concatenate([shown, first_unranked]))
    strategies = []
    for position, index in enumerate(shown.tolist(), start=1):
        record = records[index]
        strategies.append(
            RankedStrategy(
                rank=position,
                strategy_name=record["strategy_name"],
                stats=record["stats"],
                metric_value=metric_value(record["stats"], tally.metric),
                params=record.get("params"),
                daily_sharpe=_number(columns.daily_sharpe[index]),
                deflated_sharpe=_number(columns.deflated_sharpe[index]),
            )
        )
    listed = [records[i] for i in sorted(records)]
    unranked = {
        rec["strategy_name"]: (str(tally.unranked_reason(rec)), rec["stats"])
        for i, rec in sorted(records.items())
        if not columns.ranked[i]
    }
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
            rec["strategy_name"]: rec["fingerprint"] for rec in listed if rec.get("fingerprint")
        },
        unranked=unranked,
        rejections={
            rec["strategy_name"]: (rec["stats"]["rejected_signals"], rec.get("rejections") or [])
            for rec in listed
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
    ranked, order = ranking(tally)
    rank = np.zeros(len(ranked), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    trust = TrustColumns(ranked, rank)
    columns = gather(tally, _passing(tally.held.current(), trust))
    winner = tally.best[2] if tally.best else None
    figures, columns.daily_sharpe, columns.deflated_sharpe = trust.figures(
        order, winner, tally.name_of
    )
    return columns, figures


def _passing(blocks: Any, trust: TrustColumns) -> Any:
    """``blocks``, each handed to ``trust`` as it passes."""
    for block, rows in blocks:
        trust.add(block, rows)
        yield block, rows


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

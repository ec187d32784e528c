"""A sweep's progress items, kept as three numbers each and built when read.

``Walker.run`` yields one progress item per variant, and a second ``run``
that joins a running sweep reads them all from the first (run_thread.py).
Kept as pydantic models with their statistics, a million of them cost about
5 GB; kept as (variant, tested so far, best so far) they cost 12 bytes, and
the statistics and both metrics are read back from the held records (a
variant's record does not change once its progress item is pushed).
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from btfarm.orchestrator.results.walker_data import WalkerProgress
from btfarm.shared.ranking import metric_value

if TYPE_CHECKING:
    from btfarm.orchestrator.sweeps.tally import SweepTally

Entry = tuple[int, int, int]  # the variant's index, variants tested so far, the best so far (-1: none)


class ProgressLog:
    """The progress items of one sweep, in the order they were pushed (a RunThread's items)."""

    def __init__(self, tally: SweepTally) -> None:
        self._tally = tally
        self._index, self._tested, self._best = array("i"), array("i"), array("i")
        self._best_seen: tuple[int, float | None] = (-1, None)  # the last best read, and its metric

    def __len__(self) -> int:
        return len(self._index)

    def append(self, entry: Entry) -> None:
        index, tested, best = entry
        self._index.append(index)
        self._tested.append(tested)
        self._best.append(best)

    def __getitem__(self, at):
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        return self.item(at)

    def item(self, at: int) -> WalkerProgress:
        tally = self._tally
        record = tally.held.get(self._index[at])
        best = self._best[at]
        return WalkerProgress(
            walker_name=tally.walker_name, symbol=tally.symbol, strategy_name=record["strategy_name"],
            strategies_tested=self._tested[at], total_strategies=len(tally.variants),
            best_strategy=tally.name_of(best) if best >= 0 else None,
            best_metric=self._metric_of_best(best), metric=tally.metric,
            metric_value=self._metric(record), stats=record["stats"], status=record["status"],
            error=record.get("error"))

    def _metric(self, record) -> float | None:
        return metric_value(record["stats"], self._tally.metric) if record["status"] == "done" else None

    def _metric_of_best(self, best: int) -> float | None:
        if best < 0:
            return None
        if self._best_seen[0] != best:  # the best changes rarely: one record read per change
            self._best_seen = (best, self._metric(self._tally.held.get(best)))
        return self._best_seen[1]

"""A sweep's progress items, kept as five numbers each and built when read.

``Walker.run`` yields one progress item per variant, and a second ``run``
that joins a running sweep reads them all from the first (run_thread.py).
Kept as pydantic models with their statistics, a million of them cost about
5 GB; kept as (variant, tested so far, best so far, its metric, the variant's
metric) they cost 28 bytes, and the statistics are read back from the held record.
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from .walker_data import WalkerProgress

if TYPE_CHECKING:
    from .sweep_tally import SweepTally

Entry = tuple[int, int, int, float | None, float | None]  # index, tested, best index, best metric, value


class ProgressLog:
    """The progress items of one sweep, in the order they were pushed (a RunThread's items)."""

    def __init__(self, tally: SweepTally) -> None:
        self._tally = tally
        self._index, self._tested, self._best = array("i"), array("i"), array("i")
        self._best_metric, self._value = array("d"), array("d")

    def __len__(self) -> int:
        return len(self._index)

    def append(self, entry: Entry) -> None:
        index, tested, best, best_metric, value = entry
        self._index.append(index)
        self._tested.append(tested)
        self._best.append(best)
        self._best_metric.append(math.nan if best_metric is None else best_metric)
        self._value.append(math.nan if value is None else value)

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
            best_metric=_none_if_nan(self._best_metric[at]), metric=tally.metric,
            metric_value=_none_if_nan(self._value[at]), stats=record["stats"], status=record["status"],
            error=record.get("error"))


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value

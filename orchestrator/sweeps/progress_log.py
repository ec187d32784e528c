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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pydantic import BaseModel

from btfarm.orchestrator.results.walker_data import WalkerProgress
from btfarm.shared.ranking import metric_value
from btfarm.shared.result_block import STATUS_NAMES
from btfarm.shared.stats import BacktestStatistics

if TYPE_CHECKING:
    from btfarm.orchestrator.sweeps.tally import SweepTally

SLICE_PIECE = 4096  # progress items a slice builds at once as it is read

Entry = tuple[
    int, int, int
]  # the variant's index, variants tested so far, the best so far (-1: none)


@dataclass(frozen=True)
class Entries:
    """The entries of a block of results, as arrays (SweepTally.add_block)."""

    index: np.ndarray
    tested: np.ndarray
    best: np.ndarray


class ProgressLog:
    """The progress items of one sweep, in the order they were pushed (a RunThread's items)."""

    def __init__(self, tally: SweepTally) -> None:
        self._tally = tally
        self._index, self._tested, self._best = array("i"), array("i"), array("i")
        self._best_seen: tuple[int, str | None, float | None] = (
            -1,
            None,
            None,
        )  # the last best read

    def __len__(self) -> int:
        return len(self._index)

    def append(self, entry: Entry | Entries) -> None:
        """One entry, or a block's (RunThread.push hands either)."""
        if isinstance(entry, Entries):
            self._index.extend(entry.index.astype(np.int32).tolist())
            self._tested.extend(entry.tested.astype(np.int32).tolist())
            self._best.extend(entry.best.astype(np.int32).tolist())
            return
        index, tested, best = entry
        self._index.append(index)
        self._tested.append(tested)
        self._best.append(best)

    def __getitem__(self, at):
        if isinstance(at, slice):
            start, stop, step = at.indices(len(self))
            if step == 1:
                return ItemSlice(self, start, stop)
            return [self.item(i) for i in range(start, stop, step)]
        return self.item(at)

    def items(self, start: int, stop: int) -> list[WalkerProgress]:
        """Items ``start`` to ``stop``, built block by block: a reader follows the run a batch of
        items at a time, and each block's rows are read as Python values once for all of them
        (an item per result: what is not per row is done per block, with numpy)."""
        tally = self._tally
        indices = np.array(self._index[start:stop], dtype=np.int64)
        numbers, rows = tally.held.where(indices)
        out: list[WalkerProgress] = [None] * len(indices)  # type: ignore[list-item]
        walker_name, symbol, metric = tally.walker_name, tally.symbol, tally.metric
        total = len(tally.variants)
        tested, bests = self._tested, self._best
        # the tally holds a done variant's metric as metric_value reads it (NaN: None)
        values = tally.metric_values[indices]
        boxed = values.astype(object)  # (as Python floats, None where NaN)
        boxed[np.isnan(values)] = None
        metric_values = boxed.tolist()
        order = np.argsort(numbers, kind="stable")  # each block's rows together, in item order
        cuts = np.flatnonzero(np.diff(numbers[order])) + 1
        for ks in np.split(order, cuts) if len(order) else ():
            block = tally.held.block(int(numbers[ks[0]]))
            names, statuses = block.names(), block.status.tolist()
            block_rows = rows[ks].tolist()
            for k, row, index, (stats, columnar) in zip(
                ks.tolist(),
                block_rows,
                indices[ks].tolist(),
                block.stats_of(block_rows),
                strict=True,
            ):
                at = start + k
                status = STATUS_NAMES[statuses[row]]
                best_name, best_metric = self._best_of(bests[at])
                done = status == "done"
                out[k] = _built(
                    WalkerProgress,
                    {
                        "walker_name": walker_name,
                        "symbol": symbol,
                        "strategy_name": names[row] or tally.name_of(index),
                        "strategies_tested": tested[at],
                        "total_strategies": total,
                        "best_strategy": best_name,
                        "best_metric": best_metric,
                        "metric": metric,
                        "metric_value": metric_values[k] if done else None,
                        "stats": None
                        if stats is None
                        else _built(BacktestStatistics, stats)
                        if columnar
                        else BacktestStatistics.model_validate(stats),
                        "status": status,
                        "error": None if done else block.error(row),
                    },
                )
        return out

    def item(self, at: int) -> WalkerProgress:
        """The progress item ``at``: read from the variant's row of its block, the statistics
        built from the columns without validating them again (a worker's statistics model
        dumped them)."""
        tally = self._tally
        index = self._index[at]
        block, row = tally.held.locate(index)  # type: ignore[misc]
        status = STATUS_NAMES[int(block.status[row])]
        stats = block.stats(row)
        best_name, best_metric = self._best_of(self._best[at])
        return _built(
            WalkerProgress,
            {
                "walker_name": tally.walker_name,
                "symbol": tally.symbol,
                "strategy_name": block.name(row) or tally.name_of(index),
                "strategies_tested": self._tested[at],
                "total_strategies": len(tally.variants),
                "best_strategy": best_name,
                "best_metric": best_metric,
                "metric": tally.metric,
                "metric_value": metric_value(stats, tally.metric) if status == "done" else None,
                "stats": _statistics(stats, block.columnar_stats(row)),
                "status": status,
                "error": block.error(row) if status != "done" else None,
            },
        )

    def _best_of(self, best: int) -> tuple[str | None, float | None]:
        """The name and metric of variant ``best`` (-1: no best yet)."""
        if best < 0:
            return None, None
        if self._best_seen[0] != best:  # the best changes rarely: one read per change
            value = self._tally.metric_values[best]
            self._best_seen = (
                best,
                self._tally.name_of(best),
                None if np.isnan(value) else float(value),
            )
        return self._best_seen[1], self._best_seen[2]


class ItemSlice(Sequence[WalkerProgress]):
    """Items ``start`` to ``stop`` of a log, built ``SLICE_PIECE`` at a time as they are
    iterated: a reader that fell behind the run (RunThread.follow reads every item pushed
    since its last read) holds a piece of them at a time, not a million."""

    def __init__(self, log: ProgressLog, start: int, stop: int) -> None:
        self._log, self._start, self._stop = log, start, max(start, stop)

    def __len__(self) -> int:
        return self._stop - self._start

    def __iter__(self) -> Iterator[WalkerProgress]:
        for at in range(self._start, self._stop, SLICE_PIECE):
            yield from self._log.items(at, min(at + SLICE_PIECE, self._stop))

    def __getitem__(self, at):
        if isinstance(at, slice):
            return list(self)[at]
        if not -len(self) <= at < len(self):
            # protocol: a Sequence raises IndexError past its end (iteration relies on it)
            raise IndexError(f"item {at} of a slice of {len(self)} progress items")
        return self._log.item(self._start + at % len(self))


def _statistics(stats: dict | None, columnar: bool) -> BacktestStatistics | None:
    """``stats`` as the model: built without validation when they came from a block's columns
    (the model's own fields and types), validated otherwise."""
    if stats is None:
        return None
    return (
        _built(BacktestStatistics, stats) if columnar else BacktestStatistics.model_validate(stats)
    )


M = TypeVar("M", bound=BaseModel)


def _built(model: type[M], values: dict[str, Any]) -> M:
    """A ``model`` holding ``values`` (every one of its fields, of its types), built as pydantic's
    ``model_construct`` builds it without that method's per-field work: a progress item is
    built for every result, and ``model_construct`` took most of its time."""
    instance = model.__new__(model)
    _set(instance, "__dict__", values)
    # every field is set: a copy of the model's field names (no hashing of the keys again)
    _set(instance, "__pydantic_fields_set__", set(_field_names(model)))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


_set = object.__setattr__


@cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields)

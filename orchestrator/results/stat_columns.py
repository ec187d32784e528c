"""Read from a sweep's held blocks by variant index, each block decoded once: the statistics
as columns, and the PnL per day of a block's rows as one matrix.

Both read what a ``ResultBlock`` holds as arrays (shared/result_block.py) without a Python
object per variant, from its columns, which ``ResultBlock`` keeps private: its public reads
are per row (``daily(row)``, a Python call and arrays per row: 11 s of a million variants'
16 s) or per statistic with every non-finite value read as NaN (``stat``, for ranking;
the table keeps a profit factor's infinity). A public ``ResultBlock.daily_matrix`` and
``ResultBlock.raw_stat`` would take their place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btfarm.orchestrator.results.table import INT_STATS, STATS
from btfarm.shared.result_block import COLUMN, DENSE, ROW_JSON, SPARSE, ResultBlock


def empty_stats(count: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns of ``count`` entries for ``put_stats`` to fill: zeros, none with statistics."""
    stats = {
        name: np.zeros(count, dtype=np.int64 if name in INT_STATS else np.float64) for name in STATS
    }
    return stats, np.zeros(count, dtype=bool)


def put_stats(
    stats: dict[str, np.ndarray],
    has: np.ndarray,
    at: np.ndarray,
    block: ResultBlock,
    rows: np.ndarray,
) -> None:
    """Write the statistics of ``block``'s ``rows`` into entries ``at`` of ``stats``: the
    packed values as they are (ints, floats, None as NaN, infinities), or the row's own."""
    kind = block._columns["stats_kind"][rows]  # noqa: SLF001  (see the module's docstring)
    has[at] = (kind == COLUMN) | (kind == ROW_JSON)
    columnar, packed = at[kind == COLUMN], rows[kind == COLUMN]
    for name in STATS:
        stats[name][columnar] = block._columns[f"stat:{name}"][packed]  # noqa: SLF001
    for k in np.flatnonzero(kind == ROW_JSON).tolist():  # statistics the columns could not hold
        record = block.stats(int(rows[k])) or {}
        for name in STATS:
            value = record.get(name)
            if name in INT_STATS:
                stats[name][at[k]] = value if isinstance(value, int) else 0
            else:
                stats[name][at[k]] = float(value) if isinstance(value, int | float) else np.nan


def read_stats(held: Any, indices: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({statistic: its value for each of ``indices``}, whether each has statistics), from
    ``held`` (sweeps/held_records.py; every index held), each block decoded once; int64 for
    the counts, float64 otherwise (NaN for None; an infinity kept)."""
    stats, has = empty_stats(len(indices))
    numbers, rows = held.where(indices)
    by_block = np.argsort(numbers, kind="stable")
    cuts = np.flatnonzero(np.diff(numbers[by_block])) + 1
    for group in np.split(by_block, cuts) if len(indices) else []:
        put_stats(stats, has, group, held.block(int(numbers[group[0]])), rows[group])
    return stats, has


def stats_dict(stats: dict[str, np.ndarray], has: np.ndarray, at: int) -> dict[str, Any] | None:
    """Entry ``at`` of ``read_stats``' columns as its record's statistics (None without)."""
    if not has[at]:
        return None
    out: dict[str, Any] = {}
    for name in STATS:
        value = stats[name][at]
        out[name] = int(value) if name in INT_STATS else None if np.isnan(value) else float(value)
    return out


def daily_matrix(block: ResultBlock, rows: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
    """(whether each of ``rows`` has a PnL per day, their PnL per day as a rows-with-one x
    ``days`` matrix, 0 where nothing closed): ``block.daily(row)`` of each, densified."""
    columns = block._columns  # noqa: SLF001  (see the module's docstring)
    kind = columns["daily_kind"][rows]
    count = columns["daily_count"][rows].astype(np.int64)
    packed = (kind == SPARSE) | (kind == DENSE)
    other = np.flatnonzero(~packed & (kind > 1))  # held in the row's JSON (an earlier form)
    present = packed.copy()
    present[other] = True
    matrix = np.zeros((int(present.sum()), days))
    line = np.cumsum(present) - 1  # each present row's line in the matrix
    if packed.any():
        pnl_start, at_start = block._daily_start  # noqa: SLF001
        mine, n = rows[packed], count[packed]
        offsets = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        values = block._pnl[np.repeat(pnl_start[mine], n) + offsets]  # noqa: SLF001
        sparse = np.repeat(kind[packed] == SPARSE, n)
        day = offsets.copy()
        at = np.repeat(at_start[mine], n) + offsets
        day[sparse] = block._at[at[sparse]]  # noqa: SLF001
        matrix[np.repeat(line[packed], n), day] = values
    for k in other.tolist():
        daily = block.daily(int(rows[k]))
        if daily is not None:
            matrix[line[k], daily.at] = daily.pnl
    return present, matrix

"""A stored sweep read back from Redis, for any process: its data and its table on disk.

``stored_data(run_id)`` rebuilds what ``Walker.get_data`` gives from the plan and the
results kept under the run id (a month); ``export(run_id, path)`` writes its
table (``WalkerData.to_frame()``'s columns) as Parquet or CSV (by the file's suffix),
whole or not at all. The table is written a slice of ``ROW_GROUP`` variants at a time
from the sweep's columns (results/columns.py): a Parquet row group, or a run of CSV lines,
each; no row per variant is built for the whole sweep at once. Every slice has the same
columns and types (``SweepColumns.schema``): a statistic no variant of a slice has is
empty (NaN) there. A sweep of one slice is written as ``to_frame()`` gives it, a
statistic no variant has as None.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from btfarm.orchestrator.results.columns import ROW_GROUP, SweepColumns
from btfarm.orchestrator.results.ranked_data import columns_of, ranked_data
from btfarm.orchestrator.results.walker_data import WalkerData
from btfarm.orchestrator.state_client import state
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.shared.atomic_file import replaced_whole
from btfarm.shared.errors import UsageError
from btfarm.shared.store import result_blocks, sweep_plan

FORMATS = {".parquet": "parquet", ".csv": "csv"}


def stored_data(
    run_id: str, needed_by: str = "Walker.export", top: int | None = None
) -> WalkerData:
    """Sweep ``run_id`` as stored in Redis (NotFoundError naming ``needed_by`` when it is not);
    ``top``: as ``Walker.get_data`` gives it (results/ranked_data.py), None: whole."""
    tally = stored_tally(run_id, needed_by)
    return tally.data() if top is None else ranked_data(tally, top)


def stored_tally(run_id: str, needed_by: str = "Walker.export") -> SweepTally:
    """Sweep ``run_id``'s tally, its results read back from Redis."""
    r = state()
    plan = sweep_plan.read_plan(r, run_id, needed_by)
    tally = SweepTally(
        plan.walker_name,
        plan.symbol,
        plan.exchange_name,
        plan.frame_name,
        plan.metric,
        plan.variants,
        run_id,
        plan.chunk_size,
        plan.min_trades,
        min_dsr=plan.min_dsr,
        max_pbo=plan.max_pbo,
    )
    tally.coverage = plan.coverage
    total = len(plan.variants)
    for block in result_blocks.blocks(r, run_id):
        rows = np.flatnonzero((block.index >= 0) & (block.index < total))
        tally.add_block(block, rows)
    tally.interrupted = (
        None
        if tally.received == total
        else (f"not finished: `btfarm walker resume {run_id}` runs the rest")
    )
    return tally


def export(run_id: str, path: str | Path) -> tuple[Path, int]:
    """Write sweep ``run_id``'s table to ``path`` (.parquet or .csv); (path, rows)."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"cannot write {path}: give a .parquet or .csv file name")
    tally = stored_tally(run_id)
    return path, write_table(columns_of(tally)[0], path)


def write_table(columns: SweepColumns, path: Path, row_group: int = ROW_GROUP) -> int:
    """Write ``columns``' table to ``path`` (its suffix says the format), ``row_group`` rows
    at a time, whole or not at all; the rows written."""
    kind = FORMATS[path.suffix.lower()]
    with replaced_whole(path) as scratch:
        if len(columns) <= row_group:  # one slice: the table itself, as to_frame() gives it
            frame = columns.to_frame()
            if kind == "parquet":
                frame.to_parquet(scratch, index=False)
            else:
                frame.to_csv(scratch, index=False)
        elif kind == "parquet":
            writer = None
            try:
                for group in columns.row_groups(row_group):
                    # the first group's schema carries pandas' own (Int64 counts read back as such)
                    writer = writer or pq.ParquetWriter(
                        scratch, group.schema, use_dictionary=columns.repeated_columns()
                    )
                    writer.write_table(group, row_group_size=row_group)
            finally:
                if writer is not None:
                    writer.close()
            if writer is None:  # no variant: the table's columns, no row
                pq.write_table(columns.schema().empty_table(), scratch)
        else:
            for start in range(0, max(len(columns), 1), row_group):
                columns.slice_frame(start, start + row_group).to_csv(
                    scratch, index=False, header=start == 0, mode="w" if start == 0 else "a"
                )
    return len(columns)

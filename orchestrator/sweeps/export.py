"""A stored sweep read back from Redis, for any process: its data and its table on disk.

``stored_data(run_id)`` rebuilds what ``Walker.get_data`` gives from the plan and the
results kept under the run id (a month); ``export(run_id, path)`` writes its
``to_frame()`` as Parquet or CSV (by the file's suffix), whole or not at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from btfarm.orchestrator.results.walker_data import WalkerData
from btfarm.orchestrator.state_client import state
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.shared.atomic_file import replaced_whole
from btfarm.shared.errors import UsageError
from btfarm.shared.store import result_blocks, sweep_plan

FORMATS = {".parquet": "parquet", ".csv": "csv"}


def stored_data(run_id: str, needed_by: str = "Walker.export") -> WalkerData:
    """Sweep ``run_id`` as stored in Redis (NotFoundError naming ``needed_by`` when it is not)."""
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
    return tally.data()


def export(run_id: str, path: str | Path) -> tuple[Path, int]:
    """Write sweep ``run_id``'s table to ``path`` (.parquet or .csv); (path, rows)."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"cannot write {path}: give a .parquet or .csv file name")
    frame = stored_data(run_id).to_frame()
    with replaced_whole(path) as scratch:
        frame.to_parquet(scratch, index=False) if kind == "parquet" else frame.to_csv(
            scratch, index=False
        )
    return path, len(frame)

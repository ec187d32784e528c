"""sweeps/progress_log.py: a slice of progress items, built block by block, equals the items
built one at a time, and each item's metric is ranking.metric_value of its statistics."""

import math

import numpy as np
import pytest

from btfarm.orchestrator.sweeps.progress_log import ProgressLog
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.shared.ranking import metric_value
from btfarm.shared.result_block import pack_records
from btfarm.shared.stats import BacktestStatistics
from btfarm.shared.variant_space import VariantSpace

pytestmark = pytest.mark.unit

SPACE = VariantSpace(
    [{"base": "s", "keys": ["n"], "values": [list(range(40))], "declared": {"n": 0}}]
)


def record(index: int) -> dict:
    name = SPACE.name(index)
    if index % 9 == 4:
        return {"index": index, "strategy_name": name, "status": "failed", "error": f"bad {index}"}
    stats = BacktestStatistics(total_signals=index % 4, win_count=1).model_dump()
    stats["sharpe_ratio"] = None if index % 7 == 1 else index / 10 - 1.5
    stats["total_pnl"] = math.inf if index % 13 == 5 else float(index)
    if index % 11 == 3:  # a NaN: the columns cannot hold the row's statistics, its JSON does
        stats["sharpe_ratio"] = stats["win_rate"] = math.nan
    return {"index": index, "strategy_name": name, "status": "done", "stats": stats}


def test_a_slice_of_items_equals_the_items_one_by_one(monkeypatch):
    from btfarm.orchestrator.sweeps import progress_log

    monkeypatch.setattr(progress_log, "SLICE_PIECE", 3)  # a slice built in pieces
    for metric in ("sharpe_ratio", "total_pnl"):
        tally = SweepTally("w", "S", "e", "f", metric, SPACE, "run", 8)
        log = ProgressLog(tally)
        order = [*range(0, 40, 3), *range(1, 40, 3), *range(2, 40, 3)]  # arrival: not index order
        for start in range(0, 40, 8):
            block = pack_records([record(i) for i in order[start : start + 8]])
            log.append(tally.add_block(block, np.arange(len(block))))
        together = list(log[0 : len(log)])
        alone = [log.item(at) for at in range(len(log))]
        assert [p.model_dump() for p in together] == [p.model_dump() for p in alone]
        assert [p.strategy_name for p in together] == [SPACE.name(i) for i in order]
        for item in together:
            expected = metric_value(item.stats, metric) if item.status == "done" else None
            assert item.metric_value == expected or (item.metric_value is None and expected is None)
        assert {p.status for p in together} == {"done", "failed"}
        tail = log[5 : len(log)]
        assert len(tail) == len(log) - 5 and tail[0] == alone[5] and tail[-1] == alone[-1]
        assert list(tail) == alone[5:] and tail[1:3] == alone[6:8]
        assert any(p.metric_value is None and p.status == "done" for p in together)

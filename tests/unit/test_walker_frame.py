"""orchestrator/results/table.py: a row's status says what happened to the variant."""

import pytest

from btfarm.orchestrator.results.walker_data import WalkerData

pytestmark = pytest.mark.unit


def test_a_variant_the_stop_left_unrun_is_stopped_and_one_without_a_result_is_missing():
    reasons = {
        "a": "not run: the walker was stopped",
        "b": "no result received",
        "c": "failed: ValueError: boom",
        "d": "stopped: walker stopped while it ran",
    }
    data = WalkerData(
        walker_name="w",
        symbol="X",
        exchange_name="e",
        frame_name="f",
        metric="total_pnl",
        total_strategies=4,
        strategies_tested=0,
        best_strategy=None,
        best_metric=None,
        strategies=[],
        unfinished=reasons,
        stopped=True,
        run_id="r",
        chunk_size=1,
        seconds=0.0,
        variants={name: ("s", {"n": i}) for i, name in enumerate(reasons)},
    )
    frame = data.to_frame().set_index("strategy_name")
    assert dict(frame["status"]) == {"a": "stopped", "b": "missing", "c": "failed", "d": "stopped"}
    assert frame.loc["a", "reason"] == reasons["a"] and list(frame["n"]) == [0, 1, 2, 3]

"""What a walk-forward run makes of its windows' training sweeps (the sweeps themselves are
the farm's; tests/integration/test_walker_farm.py runs them)."""

from __future__ import annotations

from btfarm.orchestrator.results.walker_data import RankedStrategy, WalkerData
from btfarm.orchestrator.run_thread import RunThread
from btfarm.orchestrator.walk_forward.run import WalkForwardRun, run_walk_forward
from btfarm.shared.exchanges.synthetic import synthetic_exchange
from btfarm.shared.registry import add_exchange
from btfarm.shared.schemas import WalkerSchema
from btfarm.shared.stats import BacktestStatistics


class Windows:
    """The windows' sweeps as Walker.get_data gives them."""

    def __init__(self, data: dict[str, WalkerData]) -> None:
        self.data = data

    def get_data(self, symbol: str, name: str) -> WalkerData:
        return self.data[name]


def _window(name: str, stopped: bool = False, interrupted: bool = False) -> WalkerData:
    best = RankedStrategy(rank=1, strategy_name="s", metric_value=2.0, stats=BacktestStatistics(total_signals=9))
    return WalkerData(walker_name=name, symbol="SYM", exchange_name="wf-x", frame_name="f", metric="total_pnl",
                      total_strategies=4, strategies_tested=2, best_strategy="s", best_metric=2.0,
                      strategies=[best], unfinished={"t": "not run: the walker was stopped"}, stopped=stopped,
                      interrupted=interrupted, run_id=f"run-{name}", chunk_size=1, seconds=0.0,
                      variants={"s": ("s", None)})


def test_the_best_of_a_stopped_or_interrupted_training_sweep_is_not_tested_as_a_winner():
    add_exchange(synthetic_exchange("wf-x"), override=True)
    walker = WalkerSchema(walker_name="wf", exchange_name="wf-x", frame_name="f", strategies=["s"],
                          walk_forward={"train": "4d", "test": "2d"})
    windows = [("wf.wf0", "f[a]", "f[b]"), ("wf.wf1", "f[c]", "f[d]")]
    run = WalkForwardRun(walker, "SYM", windows)
    utils = Windows({"wf.wf0": _window("wf.wf0", stopped=True), "wf.wf1": _window("wf.wf1", interrupted=True)})
    run_walk_forward(utils.get_data, run, [], RunThread("wf", lambda t: None), lambda: True)
    data = run.data()
    assert [(w.winner, w.in_sample, w.out_of_sample, w.oos_stats) for w in data.windows] == [(None,) * 4] * 2
    assert data.windows[0].why_no_winner == "its training run run-wf.wf0 was stopped before every variant ran"
    assert data.windows[1].why_no_winner == "its training run run-wf.wf1 was interrupted before every variant ran"
    assert data.efficiency is None and data.stitched.total_signals == 0 and data.stopped

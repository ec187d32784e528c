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
    best = RankedStrategy(
        rank=1, strategy_name="s", metric_value=2.0, stats=BacktestStatistics(total_signals=9)
    )
    return WalkerData(
        walker_name=name,
        symbol="SYM",
        exchange_name="wf-x",
        frame_name="f",
        metric="total_pnl",
        total_strategies=4,
        strategies_tested=2,
        best_strategy="s",
        best_metric=2.0,
        strategies=[best],
        unfinished={"t": "not run: the walker was stopped"},
        stopped=stopped,
        interrupted=interrupted,
        run_id=f"run-{name}",
        chunk_size=1,
        seconds=0.0,
        variants={"s": ("s", None)},
    )


def test_the_best_of_a_stopped_or_interrupted_training_sweep_is_not_tested_as_a_winner():
    add_exchange(synthetic_exchange("wf-x"), override=True)
    walker = WalkerSchema(
        walker_name="wf",
        exchange_name="wf-x",
        frame_name="f",
        strategies=["s"],
        walk_forward={"train": "4d", "test": "2d"},
    )
    windows = [("wf.wf0", "f[a]", "f[b]"), ("wf.wf1", "f[c]", "f[d]")]
    run = WalkForwardRun(walker, "SYM", windows)
    utils = Windows(
        {"wf.wf0": _window("wf.wf0", stopped=True), "wf.wf1": _window("wf.wf1", interrupted=True)}
    )
    run_walk_forward(utils.get_data, run, [], RunThread("wf", lambda t: None), lambda: True)
    data = run.data()
    assert [(w.winner, w.in_sample, w.out_of_sample, w.oos_stats) for w in data.windows] == [
        (None,) * 4
    ] * 2
    assert (
        data.windows[0].why_no_winner
        == "its training run run-wf.wf0 was stopped before every variant ran"
    )
    assert (
        data.windows[1].why_no_winner
        == "its training run run-wf.wf1 was interrupted before every variant ran"
    )
    assert data.efficiency is None and data.stitched.total_signals == 0 and data.stopped


def _winner_window(name: str, metric: str) -> WalkerData:
    return _window(name).model_copy(
        update={
            "best_strategy": "wf-sma",
            "metric": metric,
            "unfinished": {},
            "variants": {"wf-sma": ("wf-sma", None)},
        }
    )


def test_a_window_whose_out_of_sample_metric_is_n_a_says_why():
    from datetime import datetime

    from btfarm.orchestrator.reports.walk_forward_report import render_walk_forward
    from btfarm.shared.demo import sma_cross_signal
    from btfarm.shared.frame_windows import window_name
    from btfarm.shared.registry import add_frame, add_strategy

    add_exchange(synthetic_exchange("wf-x"), override=True)
    add_frame(
        frame_name="wf-f",
        interval="1m",
        start_date="2024-03-01",
        end_date="2024-03-03T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name="wf-sma",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 5, "slow": 20},
        override=True,
    )
    walker = WalkerSchema(
        walker_name="wf",
        exchange_name="wf-x",
        frame_name="wf-f",
        strategies=["wf-sma"],
        metric="sharpe_ratio",
        walk_forward={"train": "1d", "test": "1d"},
    )

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text + "+00:00")

    tests = [
        window_name("wf-f", at("2024-03-02T12:00"), at("2024-03-02T15:59")),  # a few signals
        window_name("wf-f", at("2024-03-03T12:00"), at("2024-03-03T12:09")),
    ]  # none
    run = WalkForwardRun(
        walker, "BTCUSDT", [("wf.wf0", "f[a]", tests[0]), ("wf.wf1", "f[c]", tests[1])]
    )
    utils = Windows({n: _winner_window(n, "sharpe_ratio") for n in ("wf.wf0", "wf.wf1")})
    run_walk_forward(utils.get_data, run, [], RunThread("wf", lambda t: None), lambda: False)
    few, none = run.data().windows
    assert few.winner == "wf-sma" and few.out_of_sample is None
    assert 0 < few.oos_stats.total_signals < 10
    assert few.why_no_out_of_sample == (
        f"sharpe_ratio needs at least 10 closed signals; the winner closed "
        f"{few.oos_stats.total_signals} in the test window"
    )
    assert none.oos_stats.total_signals == 0
    assert none.why_no_out_of_sample == "the winner closed no signal in the test window"
    report = render_walk_forward(run.data())
    assert f"| N/A: {few.why_no_out_of_sample} |" in report
    assert "| N/A: the winner closed no signal in the test window |" in report


def test_why_undefined_names_the_rule_that_left_each_metric_out():
    from btfarm.orchestrator.walk_forward.run import why_undefined

    twelve = BacktestStatistics(
        total_signals=12, win_count=12, loss_count=0, trades_per_year=12 * 365 / 3
    )
    assert (
        why_undefined(twelve, "profit_factor")
        == "profit_factor needs a losing signal; none of the winner's 12 lost"
    )
    assert why_undefined(twelve, "expected_yearly_returns") == (
        "expected_yearly_returns is annualized only over at least 14 days of trades; the winner's 12 span 3.0 days"
    )
    assert why_undefined(twelve, "sharpe_ratio") == (
        "sharpe_ratio needs a spread of PnL; the winner's 12 signals all made the same"
    )

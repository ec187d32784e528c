"""The ranking across symbols, on hand-made sweeps, and the checks of a symbol list."""

from __future__ import annotations

import pytest

from btfarm.orchestrator.results.symbols import symbols_data
from btfarm.orchestrator.results.walker_data import RankedStrategy, WalkerData
from btfarm.orchestrator.walker import symbol_list
from btfarm.shared.errors import UsageError
from btfarm.shared.stats import BacktestStatistics


def _sweep(
    symbol: str, metrics: dict[str, float | None], best: str | None, unranked=()
) -> WalkerData:
    ranked = [
        RankedStrategy(
            rank=i, strategy_name=n, metric_value=v, stats=BacktestStatistics(total_signals=3)
        )
        for i, (n, v) in enumerate(metrics.items(), start=1)
    ]
    names = ["a", "b", "c", "d"]
    return WalkerData(
        walker_name="w",
        symbol=symbol,
        exchange_name="x",
        frame_name="f",
        metric="total_pnl",
        total_strategies=4,
        strategies_tested=4,
        best_strategy=best,
        best_metric=None,
        strategies=ranked,
        unfinished={},
        stopped=False,
        run_id=symbol.lower(),
        chunk_size=1,
        seconds=0.0,
        variants={n: ("s", None) for n in names},
        unranked={
            n: ("0 closed signals, fewer than min_trades=1", BacktestStatistics()) for n in unranked
        },
    )


def test_mean_then_worst_then_walker_order_and_only_what_is_comparable_everywhere():
    data = symbols_data(
        "w",
        {
            "AAA": _sweep("AAA", {"b": 3.0, "a": 1.0, "c": 2.0}, best="b", unranked=["d"]),
            "BBB": _sweep(
                "BBB", {"a": 3.0, "c": 2.0, "b": -1.0, "d": 9.0}, best=None
            ),  # winner refused
        },
    )
    # a and c tie on the mean (2.0); c's worst (2.0) beats a's (1.0); BBB's winner was refused: no win
    assert [(r.strategy_name, r.mean_metric, r.worst_metric, r.wins) for r in data.ranking] == [
        ("c", 2.0, 2.0, 0),
        ("a", 2.0, 1.0, 0),
        ("b", 1.0, -1.0, 1),
    ]
    assert data.not_compared == {"d": "AAA: 0 closed signals, fewer than min_trades=1"}
    assert data.best_strategy == "c"


def test_a_variant_without_the_metric_on_one_symbol_ranks_last_and_is_never_best():
    data = symbols_data(
        "w",
        {
            "AAA": _sweep("AAA", {"a": None, "b": -5.0}, "b"),
            "BBB": _sweep("BBB", {"a": 4.0, "b": -5.0}, "a"),
        },
    )
    assert [(r.strategy_name, r.mean_metric) for r in data.ranking] == [("b", -5.0), ("a", None)]
    assert data.best_strategy == "b"


@pytest.mark.parametrize(
    ("given", "message"),
    [([], "non-empty list"), (["A", ""], "non-empty list"), (["A", "B", "A"], "A is listed twice")],
)
def test_a_bad_symbol_list_is_refused_naming_the_fault(given, message):
    with pytest.raises(UsageError, match=message):
        symbol_list(given, "Walker.run")


def test_a_search_or_walk_forward_walker_is_refused_on_several_symbols():
    from btfarm.orchestrator import Walker
    from btfarm.shared.registry import add_walker
    from btfarm.shared.search_space import search

    add_walker(
        walker_name="many-search",
        exchange_name="x",
        frame_name="f",
        override=True,
        strategies=[search("s", n_trials=5, fast=(1, 9))],
    )
    add_walker(
        walker_name="many-wf",
        exchange_name="x",
        frame_name="f",
        override=True,
        strategies=["s"],
        walk_forward={"train": "4d", "test": "2d"},
    )
    with pytest.raises(UsageError, match="is a search, which runs on one symbol at a time"):
        Walker.run(["A", "B"], "many-search")
    with pytest.raises(UsageError, match="is a walk-forward walker, which runs on one symbol"):
        Walker.run(["A", "B"], "many-wf")


def test_the_cli_names_a_symbol_whose_sweep_is_incomplete_and_how_to_finish_it():
    from btfarm.orchestrator.cli.walker import symbol_lines

    done, cut = _sweep("AAA", {"a": 1.0}, "a"), _sweep("BBB", {"a": 2.0}, "a")
    cut.interrupted = True
    lines = symbol_lines(symbols_data("w", {"AAA": done, "BBB": cut}))
    assert ("  sweep bbb is incomplete; finish it with: btfarm walker resume bbb", True) in lines
    assert not any(warning for line, warning in lines if "aaa" in line)

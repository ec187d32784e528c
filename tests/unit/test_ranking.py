import pytest

from btfarm.shared.errors import SchemaError
from btfarm.shared.ranking import metric_value, rank
from btfarm.shared.stats import BacktestStatistics

pytestmark = pytest.mark.unit


def names(ranked):
    return [name for name, _ in ranked]


def test_sorts_by_metric_descending():
    entries = [
        ("a", {"sharpe_ratio": 0.1}),
        ("b", {"sharpe_ratio": 0.9}),
        ("c", {"sharpe_ratio": -2.0}),
    ]
    assert names(rank(entries, "sharpe_ratio")) == ["b", "a", "c"]


def test_none_never_beats_a_value_even_a_negative_one():
    entries = [
        ("none", {"sharpe_ratio": None}),
        ("neg", {"sharpe_ratio": -5.0}),
        ("missing", {}),
        ("nan", {"sharpe_ratio": float("nan")}),
    ]
    assert names(rank(entries, "sharpe_ratio")) == ["neg", "none", "missing", "nan"]


def test_ties_keep_the_listed_order():
    entries = [
        ("first", {"win_rate": 50.0}),
        ("second", {"win_rate": 50.0}),
        ("best", {"win_rate": 60.0}),
        ("third", {"win_rate": 50.0}),
    ]
    assert names(rank(entries, "win_rate")) == ["best", "first", "second", "third"]
    reordered = [entries[1], entries[0], entries[2], entries[3]]
    assert names(rank(reordered, "win_rate")) == ["best", "second", "first", "third"]


def test_all_none_keeps_the_listed_order():
    entries = [("x", {"avg_pnl": None}), ("y", {"avg_pnl": None})]
    assert names(rank(entries, "avg_pnl")) == ["x", "y"]


def test_models_and_dicts_rank_together_and_come_back_unchanged():
    model = BacktestStatistics(total_pnl=3.0)
    entries = [("dict", {"total_pnl": 1.0}), ("model", model)]
    ranked = rank(entries, "total_pnl")
    assert names(ranked) == ["model", "dict"]
    assert ranked[0][1] is model


def test_an_unknown_metric_is_refused_with_a_suggestion():
    with pytest.raises(SchemaError, match=r"sharpe_ratio") as info:
        rank([("a", {})], "sharpe_ration")
    assert "Did you mean" in str(info.value)


def test_a_metric_that_is_not_maximised_is_refused():
    with pytest.raises(SchemaError, match="max_drawdown"):
        rank([("a", {"max_drawdown": 1.0})], "max_drawdown")


def test_metric_value_reads_dicts_and_models():
    assert metric_value({"win_rate": 55}, "win_rate") == 55.0
    assert metric_value(BacktestStatistics(win_rate=40.0), "win_rate") == 40.0
    assert metric_value(None, "win_rate") is None
    assert metric_value({"win_rate": float("inf")}, "win_rate") is None

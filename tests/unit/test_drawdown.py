import math

import pytest

from btfarm.shared.drawdown import equity_curve, max_drawdown

pytestmark = pytest.mark.unit


def test_semantics_example_up_down_up():
    # equity 1.0 -> 1.10 -> 0.88 -> 0.924; the fall 1.10 -> 0.88 is 20 % of the peak
    assert max_drawdown([10, -20, 5]) == pytest.approx(20.0)


def test_no_trades_and_only_gains_have_no_drawdown():
    assert max_drawdown([]) == 0.0
    assert max_drawdown([1, 2, 3]) == 0.0


def test_the_starting_equity_is_a_peak():
    assert max_drawdown([-10]) == pytest.approx(10.0)


def test_the_deepest_fall_wins_over_an_earlier_one():
    # 1.0 -> 0.9 (10 %), then 1.35 -> 0.675 (50 %)
    assert max_drawdown([-10, 50, -50]) == pytest.approx(50.0)


def test_a_fall_is_compounded_not_summed():
    # two -10 % trades: 1.0 -> 0.9 -> 0.81, a 19 % fall, not 20 %
    assert max_drawdown([-10, -10]) == pytest.approx(19.0)


def test_equity_curve_starts_at_one_and_compounds():
    assert equity_curve([10, -20, 5]).tolist() == pytest.approx([1.0, 1.1, 0.88, 0.924])


def test_nan_propagates_for_the_caller_to_report_as_missing():
    assert math.isnan(max_drawdown([1.0, float("nan")]))

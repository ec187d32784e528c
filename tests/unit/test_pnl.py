"""SEMANTICS.md section 3: the worked examples, to the digits given there."""

import pytest

from btfarm.shared.engine.pnl import pnl_percentage

pytestmark = pytest.mark.unit


def test_long_take_profit_worked_example():
    assert pnl_percentage("long", 100, 101, 0.1, 0.1) == pytest.approx(0.597403, abs=1e-6)


def test_short_stop_loss_worked_example():
    assert pnl_percentage("short", 100, 101, 0.1, 0.1) == pytest.approx(-1.403404, abs=1e-6)


def test_fall_starts_near_minus_0_4004_percent():
    # section 2 says "about -0.4004 %"; section 3's exact formula gives -0.3996
    assert pnl_percentage("long", 100, 100, 0.1, 0.1) == pytest.approx(-0.4004, abs=1e-3)


def test_no_costs_is_plain_return():
    assert pnl_percentage("long", 100, 110, 0, 0) == pytest.approx(10.0)
    assert pnl_percentage("short", 100, 90, 0, 0) == pytest.approx(10.0)

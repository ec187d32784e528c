"""A signal's ``cost`` (issue 32 §2): the dollars of its first entry, which ``pnl_cost`` and
``pnl_entries`` use and a portfolio's capital pays; percent PnL stays per position.

On the flat market of risk_market.py (VWAP 100) a long with TP 101, SL 99 expires at 100:
open' = 100.1, close' = 99.9, gross = -0.1998002 %, fees = 0.1 x (1 + 99.9/100.1) =
0.1998002 %, pnl_percentage = -0.3996004 %. With cost 250: pnl_entries 250, pnl_cost =
-0.3996004 / 100 x 250 = -0.999001 dollars.
"""

from __future__ import annotations

import math

import pytest

from btfarm.shared.results import ClosedResult

from .portfolio_market import FLAT_PNL, member, portfolio_run, register_market
from .risk_market import START, Script, backtest, long_signal

pytestmark = pytest.mark.unit

WORKED_PNL = -0.3996004  # percent, as above (to 7 digits)


def test_the_worked_numbers():
    assert FLAT_PNL == pytest.approx(WORKED_PNL, abs=1e-7)
    assert WORKED_PNL / 100 * 250 == pytest.approx(-0.999001, abs=1e-6)


def test_a_signals_cost_is_its_pnl_entries_and_scales_its_pnl_cost_not_its_percent():
    run, events = backtest(
        Script({START: long_signal(cost=250), START + 10: long_signal()}), minutes=20
    )
    first, second = (c["pnl"] for c in events["closed"])
    assert (
        first["pnl_percentage"] == second["pnl_percentage"] == pytest.approx(WORKED_PNL, abs=1e-7)
    )
    assert first["pnl_entries"] == 250.0 and first["pnl_cost"] == pytest.approx(-0.999001, abs=1e-6)
    # without a cost: CC_POSITION_ENTRY_COST (100)
    assert second["pnl_entries"] == 100.0
    assert second["pnl_cost"] == pytest.approx(-0.3996004, abs=1e-6)
    # the closed record, as Backtest.run hands it over, carries the cost it was given
    closed = ClosedResult.model_validate(events["closed"][0])
    assert closed.signal.cost == 250.0 and closed.signal.entries[0].cost == 250.0
    assert ClosedResult.model_validate(events["closed"][1]).signal.cost is None


@pytest.mark.parametrize("cost", [0, -5, math.inf, math.nan, "100", True])
def test_a_cost_that_is_not_a_positive_number_of_dollars_refuses_the_signal(cost):
    run, events = backtest(Script({START: long_signal(cost=cost)}), minutes=10)
    assert "closed" not in events
    (reason,) = run.core.rejections
    assert (
        "cost must be a finite number of dollars > 0, or None for CC_POSITION_ENTRY_COST" in reason
    )
    assert repr(cost) in reason


def test_a_portfolio_pays_each_entry_its_signals_cost_from_the_capital():
    register_market(("SA", "SB", "SC"))
    for symbol in ("SA", "SB", "SC"):
        member(f"m-{symbol}", Script({START: long_signal(cost=400)}))
    run, emitted = portfolio_run(
        [(s, f"m-{s}") for s in ("SA", "SB", "SC")], capital=1000, listen=True
    )
    # two entries of 400 fit in 1,000; the third is refused by the capital
    assert [len(m.closed) for m in run.members] == [1, 1, 0]
    (refusal,) = [rec for kind, rec in emitted if kind == "risk"][:1]
    assert refusal["rejection_id"] == "capital"
    assert "the entry costs 400.00 and 200.00 of the capital is free" in refusal["rejection_note"]
    equity = run.equity()
    assert equity["final_equity"] == pytest.approx(1000 + 2 * FLAT_PNL / 100 * 400, abs=1e-12)

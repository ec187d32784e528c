"""shared/engine/portfolio_capital.py: a portfolio's capital pays each entry and gets it back at the
close, with worked numbers on flat markets (portfolio_market.py: every long loses FLAT_PNL %)."""

from __future__ import annotations

import pytest

from .portfolio_market import (
    FLAT_PNL,
    START,
    Script,
    long_signal,
    member,
    minute,
    opened_minutes,
    portfolio_run,
    register_market,
)
from .risk_market import every_minute

pytestmark = pytest.mark.unit

COST = 100.0  # CC_POSITION_ENTRY_COST, dollars


def minutes(values) -> list[int]:
    return [(v - minute(0)) // 60_000 for v in values]


def test_an_entry_that_does_not_fit_is_refused_until_the_capital_comes_back():
    """Capital 250, entries of 100. A and B open at 15: 250 - 100 - 100 = 50 free. C offers every
    minute: refused at 15 .. 20 (50 free), A and B close with candle 20, each giving back
    100 + pnl_cost (pnl_cost = 100 x FLAT_PNL / 100 = -0.3996004 dollars), so at 21 free is
    50 + 2 x 99.6003996 = 249.2007992 and C opens. C closes with candle 26; the final equity is
    250 + 3 x pnl_cost = 248.8011988."""
    register_market()
    member("pf-a", Script({START: long_signal()}))
    member("pf-b", Script({START: long_signal()}))
    member("pf-c", Script(every_minute()))
    run, emitted = portfolio_run([("SA", "pf-a"), ("SB", "pf-b"), ("SC", "pf-c")], capital=250)
    pnl_cost = COST * FLAT_PNL / 100
    assert pnl_cost == pytest.approx(-0.3996004, abs=1e-7)
    rejections = [rec for kind, rec in emitted if kind == "risk"]
    assert minutes(r["timestamp"] for r in rejections) == [15, 16, 17, 18, 19, 20]
    first = rejections[0]
    assert (first["strategy_name"], first["risk_name"], first["rejection_id"]) == (
        "pf-c",
        "capital",
        "capital",
    )
    assert first["rejection_note"] == (
        'the entry costs 100.00 and 50.00 of the capital is free (portfolio "flat-p": '
        "capital 250.00, 200.00 held by 2 open signals)"
    )
    assert opened_minutes(run, 2)[:2] == [21, 27]
    equity = run.equity()
    curve = equity["curve"]
    assert minutes(t for t, _ in curve[:4]) == [15, 20, 20, 26]
    assert [v for _, v in curve[:4]] == pytest.approx(
        [250, 250 + pnl_cost, 250 + 2 * pnl_cost, 250 + 3 * pnl_cost]
    )
    trades = len(run.closed)
    assert equity["final_equity"] == pytest.approx(250 + trades * pnl_cost)
    assert equity["free_capital"] == pytest.approx(equity["final_equity"])  # every position closed
    assert equity["return_percent"] == pytest.approx(trades * pnl_cost / 250 * 100)
    assert run.walk.rejections_by[("SC:pf-c", "capital", "capital")] == len(rejections)


def test_the_capital_is_checked_after_every_risk():
    """C is refused by its risk (max_positions 2) first: the capital's note never shows."""
    register_market()
    member("pf-a", Script({START: long_signal()}))
    member("pf-b", Script({START: long_signal()}))
    member("pf-c", Script({START: long_signal()}))
    _, emitted = portfolio_run(
        [("SA", "pf-a"), ("SB", "pf-b"), ("SC", "pf-c")],
        capital=200,
        risk={"risk_name": "pf-two", "max_positions": 2},
    )
    [rejection] = [rec for kind, rec in emitted if kind == "risk"]
    assert (rejection["risk_name"], rejection["rejection_id"]) == ("pf-two", "max_positions")


def test_an_entry_costing_exactly_the_free_capital_fits():
    register_market()
    member("pf-a", Script({START: long_signal()}))
    member("pf-b", Script({START: long_signal()}))
    run, emitted = portfolio_run([("SA", "pf-a"), ("SB", "pf-b")], capital=200)
    assert [opened_minutes(run, k) for k in (0, 1)] == [[15], [15]]
    assert not [rec for kind, rec in emitted if kind == "risk"]


def test_a_limit_entry_holds_its_cost_while_it_waits_and_a_cancel_gives_it_back():
    """Capital 100. A schedules a long at 99.5 at 15 (the price stays at 100: it waits until the
    120 minutes run out with candle 135). B offers every minute and is refused until the cancel
    gives the 100 back: B opens at 136. A cancel has no PnL: the equity curve only moves at closes.
    B's trade loses, leaving 99.60: from then on no entry of 100 fits."""
    register_market(minutes=200)
    member("pf-a", Script({START: long_signal(price_open=99.5)}))
    member("pf-b", Script(every_minute(300)))
    run, emitted = portfolio_run([("SA", "pf-a"), ("SB", "pf-b")], capital=100)
    cancelled = [rec for kind, rec in emitted if kind == "cancelled"]
    assert [(r["cancel_reason"], minutes([r["close_timestamp"]])[0]) for r in cancelled] == [
        ("timeout", 135)
    ]
    refused = [r for kind, r in emitted if kind == "risk"]
    assert minutes(r["timestamp"] for r in refused[:121]) == list(range(15, 136))
    assert opened_minutes(run, 1) == [136]
    assert minutes([refused[121]["timestamp"]]) == [142]
    assert (
        "the entry costs 100.00 and 99.60 of the capital is free" in refused[121]["rejection_note"]
    )
    first_close = run.members[1].closed[0]
    assert run.equity()["curve"][1] == [
        first_close["close_timestamp"],
        pytest.approx(100 + FLAT_PNL),
    ]


def test_without_capital_nothing_is_refused_for_money():
    register_market()
    member("pf-a", Script(every_minute()))
    member("pf-b", Script(every_minute()))
    run, emitted = portfolio_run([("SA", "pf-a"), ("SB", "pf-b")])
    assert run.equity() is None and not [rec for kind, rec in emitted if kind == "risk"]
    assert opened_minutes(run, 0) == opened_minutes(run, 1)

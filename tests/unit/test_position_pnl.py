"""SEMANTICS.md 9, PnL with entries and partials (shared/engine/pnl.py), with the worked example."""

from __future__ import annotations

import pytest

from btfarm.shared.engine.pnl import (
    effective_entry,
    entries_at_partials,
    pnl_percentage,
    position_pnl,
    remaining_basis,
)

pytestmark = pytest.mark.unit

WORKED_ENTRY = 106.4500676075939


def entry(price: float, cost: float = 100.0, ts: int = 0) -> dict:
    return {"price": price, "cost": cost, "timestamp": ts}


def partial(kind: str, percent: float, price: float, basis: float, count: int, ts: int = 0) -> dict:
    return {
        "type": kind,
        "percent": percent,
        "current_price": price,
        "cost_basis_at_close": basis,
        "entry_count_at_close": count,
        "timestamp": ts,
    }


def test_the_worked_example_to_the_last_digit():
    # 50 % closed at a loss, then 50 % of the rest at a profit, the last quarter expires
    partials = [
        partial("loss", 50, 105.9428532869578, 100.0, 1),
        partial("profit", 50, 106.96507878723776, 50.0, 1),
    ]
    pnl, final_entry, invested = position_pnl(
        "long", [entry(WORKED_ENTRY)], partials, 107.20268437688293, 0.1, 0.1
    )
    assert pnl == -0.3403142180138897
    assert (final_entry, invested) == (WORKED_ENTRY, 100.0)


def test_the_worked_example_legs_have_the_grosses_semantics_gives():
    opened = WORKED_ENTRY * 1.001
    grosses = [
        (price * 0.999 - opened) / opened * 100
        for price in (105.9428532869578, 106.96507878723776, 107.20268437688293)
    ]
    assert grosses == pytest.approx([-0.675329165433, 0.283038560033, 0.505801080087], abs=1e-12)


def test_without_partials_it_is_the_round_trip_to_the_last_bit():
    for side in ("long", "short"):
        for close in (99.1234, 100.0, 101.987):
            assert position_pnl(side, [entry(100.37)], [], close, 0.1, 0.1)[0] == pnl_percentage(
                side, 100.37, close, 0.1, 0.1
            )


def test_effective_entry_is_the_cost_weighted_harmonic_mean():
    entries = [entry(100.0), entry(98.0), entry(96.0, cost=50.0)]
    assert effective_entry(entries, []) == pytest.approx(250 / (1 + 100 / 98 + 50 / 96), rel=1e-15)
    assert effective_entry(entries[:1], []) == 100.0  # one entry: its price, the same double


def test_a_partial_leaves_the_entry_and_later_entries_merge_with_the_basis_left():
    # 100 at 100, close 50 % (basis 50 left, 0.5 coins), then 100 more at 90
    entries = [entry(100.0), entry(90.0)]
    partials = [partial("loss", 50, 95.0, 100.0, 1)]
    assert effective_entry(entries[:1], partials) == 100.0
    assert effective_entry(entries, partials) == pytest.approx(150 / (0.5 + 100 / 90), rel=1e-15)
    assert remaining_basis(entries, partials) == 150.0
    # a second partial stands at the merged entry; its weight is of all the dollars invested
    second = partial("profit", 50, 99.0, 150.0, 2)
    assert entries_at_partials(entries, [*partials, second])[1] == pytest.approx(
        150 / (0.5 + 100 / 90), rel=1e-15
    )


def test_blended_pnl_weights_each_leg_by_its_dollars():
    entries = [entry(100.0), entry(90.0)]
    partials = [partial("loss", 50, 95.0, 100.0, 1), partial("profit", 50, 99.0, 150.0, 2)]
    pnl, final_entry, invested = position_pnl("long", entries, partials, 101.0, 0.1, 0.1)
    merged = 150 / (0.5 + 100 / 90)
    legs = [(50 / 200, 100.0, 95.0), (75 / 200, merged, 99.0), (75 / 200, merged, 101.0)]

    def gross_and_ratio(at, price):
        o, c = at * 1.001, price * 0.999
        return (c - o) / o * 100, c / o

    expected = sum(w * gross_and_ratio(e, p)[0] for w, e, p in legs) - 0.1 * (
        1 + sum(w * gross_and_ratio(e, p)[1] for w, e, p in legs)
    )
    assert pnl == pytest.approx(expected, abs=1e-12)
    assert (final_entry, invested) == (pytest.approx(merged, rel=1e-15), 200.0)


def test_a_short_gains_when_the_price_falls_on_every_leg():
    partials = [partial("profit", 50, 99.0, 100.0, 1)]
    pnl, _, _ = position_pnl("short", [entry(100.0)], partials, 98.0, 0.1, 0.1)
    o = 100 * 0.999
    legs = [(0.5, 99.0), (0.5, 98.0)]
    expected = sum(w * (o - p * 1.001) / o * 100 for w, p in legs) - 0.1 * (
        1 + sum(w * p * 1.001 / o for w, p in legs)
    )
    assert pnl == pytest.approx(expected, abs=1e-12) and pnl > 0


def test_everything_closed_by_partials_ignores_the_close_price():
    partials = [partial("profit", 100, 101.0, 100.0, 1)]
    at_any = {
        position_pnl("long", [entry(100.0)], partials, close, 0.1, 0.1)[0]
        for close in (50.0, 150.0)
    }
    assert len(at_any) == 1
    assert at_any.pop() == pytest.approx(pnl_percentage("long", 100.0, 101.0, 0.1, 0.1), abs=1e-12)

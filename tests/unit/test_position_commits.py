"""SEMANTICS.md 9, the commits: what each applies, and every rule that refuses it.

A long opens at 100 at minute 10 (TP 102, SL 98); ``at`` scripts the
commits made in the hook of given minutes. Prices are one per minute
(tests/unit/position_market.py): p, the price of partials, breakeven and
average buys, is the previous minute's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from btfarm.orchestrator import (
    commit_activate_scheduled,
    commit_average_buy,
    commit_breakeven,
    commit_cancel_scheduled,
    commit_close_pending,
    commit_partial_loss,
    commit_partial_profit,
    commit_trailing_stop,
    commit_trailing_take,
)
from btfarm.shared import events
from btfarm.shared.engine.pnl import position_pnl

from .market import minute
from .position_market import CFG, LONG, SHORT, drive, only_closed, prices, when_ms

pytestmark = pytest.mark.unit

Commit = Callable[[str, float], bool]  # (symbol, the hook's current_price) -> applied


@pytest.fixture(autouse=True)
def _no_listeners():
    events.clear()
    yield
    events.clear()


def scripted(m, at: dict[int, list[Commit]], signal=LONG, end_minute=None, cfg=CFG):
    """Run ``signal`` at minute 10 with the commits of ``at``; (results by minute, events)."""
    results: dict[int, list[bool]] = {}

    def ping(symbol, sig, price, when, backtest):
        k = (when_ms(when) - minute(0)) // 60_000
        for commit in at.get(k, []):
            results.setdefault(k, []).append(commit(symbol, price))

    _, ev = drive(m, {10: signal}, {"on_active_ping": ping}, end_minute=end_minute, cfg=cfg)
    return results, ev


# ---- trailing stop --------------------------------------------------------------


def test_trailing_stop_is_measured_from_the_original_stop():
    m = prices(60, {11: 101.0})
    results, ev = scripted(
        m,
        {
            11: [lambda s, p: commit_trailing_stop(s, -1.0, p)],  # 2 % - 1 -> 99
            12: [lambda s, p: commit_trailing_stop(s, -1.5, p)],
        },
        end_minute=13,
    )
    assert results == {11: [True], 12: [True]}
    # from the original 2 %: 0.5 % -> 99.5 (from the trailed 1 % it would be 100.5)
    assert only_closed(ev)["signal"]["price_stop_loss"] == 100 * (1 - 0.5 / 100)


@pytest.mark.parametrize(
    "shift, price, why",
    [
        (-0.5, 101.0, None),  # applied: 98.5
        (-2.5, 100.25, "the price is already past the new stop 100.5"),
        (
            -4.5,
            103.0,
            "the new stop 102.5 would cross the take profit 102",
        ),  # (the price as the caller gives it)
    ],
)
def test_trailing_stop_refusals(shift, price, why):
    m = prices(60, {11: 101.0})
    results, ev = scripted(
        m, {11: [lambda s, p: commit_trailing_stop(s, shift, price)]}, end_minute=12
    )
    assert results == {11: [why is None]}
    assert "error" not in ev  # a refusal is a plain False


def test_a_later_trailing_stop_must_be_tighter():
    m = prices(60, {11: 101.0})
    results, ev = scripted(
        m,
        {
            11: [
                lambda s, p: commit_trailing_stop(s, -1.0, p),  # 99
                lambda s, p: commit_trailing_stop(s, -0.5, p),  # 98.5: looser
                lambda s, p: commit_trailing_stop(s, -1.0, p),  # 99: not tighter
                lambda s, p: commit_trailing_stop(s, -1.25, p),
            ]
        },
        end_minute=12,
    )
    assert results == {11: [True, False, False, True]}
    assert only_closed(ev)["signal"]["price_stop_loss"] == 100 * (1 - 0.75 / 100)


def test_a_short_trails_its_stop_downwards():
    m = prices(60, {11: 99.0})
    results, ev = scripted(
        m,
        {
            11: [
                lambda s, p: commit_trailing_stop(s, -1.0, p),  # 102 -> 101
                lambda s, p: commit_trailing_stop(s, -0.5, p),
            ]
        },  # 101.5: looser
        signal=SHORT,
        end_minute=12,
    )
    assert results == {11: [True, False]}
    assert only_closed(ev)["signal"]["price_stop_loss"] == 100 * (1 + 1 / 100)


# ---- trailing take ----------------------------------------------------------------


def test_trailing_take_mirrors_it_from_the_original_take_profit():
    m = prices(60, {11: 100.25})
    results, ev = scripted(
        m,
        {
            11: [
                lambda s, p: commit_trailing_take(s, -1.0, p),  # 102 -> 101
                lambda s, p: commit_trailing_take(s, -0.5, p),  # 101.5: farther
                lambda s, p: commit_trailing_take(s, -1.5, p),  # 100.5: closer
                lambda s, p: commit_trailing_take(s, -1.9, p),
            ]
        },  # 100.1: price past it
        end_minute=12,
    )
    assert results == {11: [True, False, True, False]}
    assert only_closed(ev)["signal"]["price_take_profit"] == 100 * (1 + 0.5 / 100)


def test_a_trailed_take_profit_closes_the_position_at_its_level():
    m = prices(60, {11: 100.25, 14: 100.5})
    _, ev = scripted(m, {11: [lambda s, p: commit_trailing_take(s, -1.5, p)]})
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "take_profit",
        minute(14),
        100 * (1 + 0.5 / 100),
    )


# ---- partials ----------------------------------------------------------------------


def test_partials_close_a_percent_of_what_remains():
    m = prices(60, {11: 100.5, 13: 101.0})
    results, ev = scripted(
        m,
        {
            12: [lambda s, p: commit_partial_profit(s, 50)],  # at p = 100.5
            14: [lambda s, p: commit_partial_profit(s, 50)],
        },
        end_minute=15,
    )  # at 101
    c = only_closed(ev)
    assert results == {12: [True], 14: [True]}
    assert [
        (q["percent"], q["current_price"], q["cost_basis_at_close"])
        for q in c["signal"]["partials"]
    ] == [(50, 100.5, 100.0), (50, 101.0, 50.0)]
    assert c["signal"]["total_partials"] == 2
    expected, _, _ = position_pnl(
        "long", c["signal"]["entries"], c["signal"]["partials"], c["current_price"], 0.1, 0.1
    )
    assert c["pnl"]["pnl_percentage"] == expected and c["pnl"]["pnl_entries"] == 100.0
    assert c["pnl"]["pnl_cost"] == pytest.approx(expected)  # percent of 100 dollars


@pytest.mark.parametrize(
    "at_p, kind, applied",
    [
        (100.5, "profit", True),
        (100.0, "profit", False),
        (99.5, "profit", False),  # not in profit
        (99.5, "loss", True),
        (100.0, "loss", False),
        (100.5, "loss", False),  # not at a loss
    ],
)
def test_partials_need_their_side_of_the_entry_and_short_of_the_level(at_p, kind, applied):
    m = prices(60, {11: at_p, 12: 100.0})  # p at minute 12 is P[11]
    commit = commit_partial_profit if kind == "profit" else commit_partial_loss
    results, _ = scripted(m, {12: [lambda s, p: commit(s, 30)]}, end_minute=13)
    assert results == {12: [applied]}


def test_a_partial_profit_is_refused_at_the_take_profit():
    m = prices(60, {11: 101.0, 12: 100.25})
    results, _ = scripted(
        m,
        {
            12: [
                lambda s, p: commit_trailing_take(s, -1.5, p),  # TP 100.5 <= p = 101
                lambda s, p: commit_partial_profit(s, 30),
            ]
        },
        end_minute=13,
    )
    assert results == {12: [True, False]}


def test_a_partial_loss_is_refused_at_the_stop():
    m = prices(60, {11: 99.25, 12: 99.75})
    results, _ = scripted(
        m,
        {
            12: [
                lambda s, p: commit_trailing_stop(s, -1.5, p),  # SL 99.5 >= p = 99.25
                lambda s, p: commit_partial_loss(s, 30),
            ]
        },
        end_minute=13,
    )
    assert results == {12: [True, False]}
    results, _ = scripted(m, {12: [lambda s, p: commit_partial_loss(s, 30)]}, end_minute=13)
    assert results == {12: [True]}  # with the original stop it applies


def test_closing_everything_by_partials_ends_the_position_on_the_next_candle():
    m = prices(60, {11: 100.5})
    results, ev = scripted(
        m,
        {
            12: [
                lambda s, p: commit_partial_profit(s, 100),
                lambda s, p: commit_partial_profit(s, 1),
            ]
        },
    )
    c = only_closed(ev)
    assert results == {12: [True, False]}
    assert (c["close_reason"], c["close_timestamp"]) == ("closed", minute(13))
    assert c["pnl"]["pnl_percentage"] == pytest.approx(
        position_pnl("long", c["signal"]["entries"], c["signal"]["partials"], 0.0, 0.1, 0.1)[0]
    )


@pytest.mark.parametrize("percent", [math.nan, -10, 0, 100.5, math.inf, "50", True])
def test_a_bad_percent_is_refused_with_the_reason_on_listen_error(percent):
    m = prices(60, {11: 100.5})
    results, ev = scripted(m, {12: [lambda s, p: commit_partial_profit(s, percent)]}, end_minute=13)
    assert results == {12: [False]}
    (error,) = ev["error"]
    assert error["timestamp"] == minute(12) and error["kind"] == "SignalError"
    assert error["message"].startswith(
        'strategy "s" on SYM at 2025-01-01 00:12: commit_partial_profit('
    )
    assert "percent must be a number with 0 < percent <= 100" in error["message"]
    assert only_closed(ev)["signal"]["partials"] == []


@pytest.mark.parametrize(
    "shift, price", [(math.nan, 101.0), (0, 101.0), (-150, 101.0), (-1, -5.0), (-1, math.nan)]
)
def test_a_bad_trailing_argument_is_refused_with_the_reason(shift, price):
    m = prices(60, {11: 101.0})
    results, ev = scripted(
        m, {11: [lambda s, p: commit_trailing_stop(s, shift, price)]}, end_minute=12
    )
    assert results == {11: [False]} and len(ev["error"]) == 1
    assert (
        "commit_trailing_stop(" in ev["error"][0]["message"]
        and "refused" in ev["error"][0]["message"]
    )


def test_a_commit_for_another_symbol_is_refused():
    m = prices(60, {11: 101.0})
    results, ev = scripted(
        m, {11: [lambda s, p: commit_trailing_stop("OTHER", -1, p)]}, end_minute=12
    )
    assert results == {11: [False]}
    assert "this hook runs for 'SYM', not 'OTHER'" in ev["error"][0]["message"]


# ---- breakeven -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "p, applied", [(100.5, False), (100.625, True)]
)  # threshold 0.6 % -> 100.6
def test_breakeven_needs_the_lagged_price_past_the_threshold(p, applied):
    m = prices(60, {11: p, 12: 100.75})
    results, ev = scripted(m, {12: [commit_breakeven_only]}, end_minute=13)
    assert results == {12: [applied]}
    assert only_closed(ev)["signal"]["price_stop_loss"] == (100.0 if applied else 98.0)


def commit_breakeven_only(symbol, price):
    return commit_breakeven(symbol)


def test_breakeven_keeps_a_stop_trailed_past_the_entry_and_refuses_once_at_the_entry():
    m = prices(60, {11: 101.0})
    results, ev = scripted(
        m,
        {
            11: [lambda s, p: commit_trailing_stop(s, -2.5, p)],  # SL 100.5
            12: [commit_breakeven_only],
        },
        end_minute=13,
    )
    assert results == {11: [True], 12: [True]}
    assert only_closed(ev)["signal"]["price_stop_loss"] == 100 * (1 + 0.5 / 100)
    results, ev = scripted(m, {12: [commit_breakeven_only, commit_breakeven_only]}, end_minute=13)
    assert results == {12: [True, False]}  # the second: the stop is at the entry already


def test_breakeven_cost_threshold_follows_the_config():
    from btfarm.shared.engine_config import EngineConfig
    from tests.unit.position_market import CFG

    assert (
        2 * (CFG.CC_PERCENT_SLIPPAGE + CFG.CC_PERCENT_FEE) + CFG.CC_BREAKEVEN_THRESHOLD
    ) == pytest.approx(0.6)
    assert EngineConfig().CC_BREAKEVEN_THRESHOLD == 0.2


# ---- average buy ---------------------------------------------------------------------


def test_average_buy_adds_an_entry_below_every_entry_and_moves_the_effective_entry():
    m = prices(60, {11: 99.0, 13: 98.5, 15: 99.5})
    results, ev = scripted(
        m,
        {
            12: [lambda s, p: commit_average_buy(s)],  # at 99
            14: [lambda s, p: commit_average_buy(s, cost=50)],  # at 98.5
            16: [lambda s, p: commit_average_buy(s)],
        },
        end_minute=17,
    )  # 99.5: not below
    c = only_closed(ev)
    assert results == {12: [True], 14: [True], 16: [False]}
    assert [(e["price"], e["cost"], e["timestamp"]) for e in c["signal"]["entries"]] == [
        (100.0, 100.0, minute(10)),
        (99.0, 100.0, minute(12)),
        (98.5, 50.0, minute(14)),
    ]
    assert c["signal"]["price_open"] == pytest.approx(250 / (1 + 100 / 99 + 50 / 98.5), rel=1e-15)
    assert c["signal"]["original_price_open"] == 100.0 and c["signal"]["total_entries"] == 3
    assert (c["signal"]["price_stop_loss"], c["signal"]["price_take_profit"]) == (
        98.0,
        102.0,
    )  # unmoved
    assert c["pnl"]["pnl_entries"] == 250.0 and c["pnl"]["price_open"] == c["signal"]["price_open"]


def test_a_short_averages_only_above_every_entry():
    m = prices(60, {11: 99.5, 13: 100.5})
    results, _ = scripted(
        m,
        {12: [lambda s, p: commit_average_buy(s)], 14: [lambda s, p: commit_average_buy(s)]},
        signal=SHORT,
        end_minute=15,
    )
    assert results == {12: [False], 14: [True]}


@pytest.mark.parametrize("cost", [0, -100, math.nan, "100"])
def test_a_bad_cost_is_refused_with_the_reason(cost):
    m = prices(60, {11: 99.0})
    results, ev = scripted(m, {12: [lambda s, p: commit_average_buy(s, cost=cost)]}, end_minute=13)
    assert (
        results == {12: [False]}
        and "cost must be a finite number of dollars > 0" in ev["error"][0]["message"]
    )


# ---- a user's close ---------------------------------------------------------------------


def test_a_users_close_fills_on_the_next_candle_at_its_vwap_before_its_checks():
    m = prices(60, {13: 99.25})
    m["low"][13] = 97.0  # candle 13 touches the stop: the user's close comes first
    commits: list[dict] = []
    events.listen_strategy_commit(commits.append)
    results, ev = scripted(
        m,
        {
            12: [
                lambda s, p: commit_close_pending(s, id="mine", note="why"),
                lambda s, p: commit_close_pending(s, id="again"),
                lambda s, p: commit_trailing_stop(s, -1, p),
            ]
        },
    )
    c = only_closed(ev)
    assert results == {12: [True, False, False]}  # closing: nothing else applies
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "closed",
        minute(13),
        m["close"][13] * 0 + (97.0 + 99.25 * 2) / 3,
    )
    assert c["signal"]["close_id"] == "mine"
    assert c["pnl"]["pnl_percentage"] == pytest.approx(
        position_pnl("long", c["signal"]["entries"], [], c["current_price"], 0.1, 0.1)[0]
    )
    assert [(e["action"], e["timestamp"], e["id"], e["note"]) for e in commits] == [
        ("close_pending", minute(12), "mine", "why")
    ]


def test_commit_events_carry_the_action_its_price_and_the_time():
    m = prices(60, {11: 100.75})
    commits: list[dict] = []
    events.listen_strategy_commit(commits.append)
    scripted(
        m,
        {
            12: [
                lambda s, p: commit_partial_profit(s, 25),
                lambda s, p: commit_trailing_stop(s, -1, p),
            ]
        },
        end_minute=13,
    )
    assert [
        (e["action"], e["timestamp"], e["commit_price"], e["symbol"], e["strategy_name"])
        for e in commits
    ] == [
        ("partial_profit", minute(12), 100.75, "SYM", "s"),
        ("trailing_stop", minute(12), 100.75, "SYM", "s"),
    ]
    assert commits[0]["percent"] == 25 and commits[1]["percent_shift"] == -1
    assert (
        commits[1]["signal"]["price_stop_loss"] == 99.0
        and len(commits[1]["signal"]["partials"]) == 1
    )


# ---- a scheduled signal ------------------------------------------------------------------

SCHEDULED = {
    "position": "long",
    "price_open": 99.0,
    "price_take_profit": 102.0,
    "price_stop_loss": 97.0,
    "minute_estimated_time": 60,
}


@pytest.mark.parametrize("action", ["cancel", "activate", "nothing"])
def test_on_schedule_may_cancel_or_activate_it_on_the_next_candle(action):
    m = prices(60)
    seen = []

    def on_schedule(symbol, signal, price, backtest):
        if action == "cancel":
            seen.append(commit_cancel_scheduled(symbol, id="c1"))
        elif action == "activate":
            seen.append(commit_activate_scheduled(symbol, id="a1"))
        seen.append(commit_close_pending(symbol))  # nothing open yet: refused

    _, ev = drive(m, {10: SCHEDULED}, {"on_schedule": on_schedule}, end_minute=40)
    if action == "cancel":
        (c,) = ev["cancelled"]
        assert seen == [True, False]
        assert (c["cancel_reason"], c["close_timestamp"], c["signal"]["close_id"]) == (
            "user",
            minute(11),
            "c1",
        )
        assert "opened" not in ev
    elif action == "activate":
        (o,) = ev["opened"]
        assert seen == [True, False]
        assert (o["signal"]["pending_at"], o["current_price"]) == (minute(11), 99.0)
        assert (
            only_closed(ev)["close_reason"] == "time_expired"
        )  # checked from 12 on, expires 60 later
    else:
        assert seen == [False] and "opened" not in ev
        assert ev["cancelled"][0]["cancel_reason"] == "timeout"


def test_scheduled_commits_are_refused_on_an_open_position():
    m = prices(60, {11: 101.0})
    results, _ = scripted(
        m,
        {11: [lambda s, p: commit_cancel_scheduled(s), lambda s, p: commit_activate_scheduled(s)]},
        end_minute=12,
    )
    assert results == {11: [False, False]}


# ---- backtest-kit's switches ------------------------------------------------------------


@pytest.mark.parametrize(
    "switch, commit, at_p",
    [
        ("CC_ENABLE_DCA_EVERYWHERE", lambda s, p: commit_average_buy(s), 100.5),  # above the entry
        ("CC_ENABLE_PPPL_EVERYWHERE", lambda s, p: commit_partial_profit(s, 20), 99.5),  # at a loss
    ],
)
def test_the_everywhere_switches_lift_the_side_rules(switch, commit, at_p):
    m = prices(60, {11: at_p})
    results, _ = scripted(m, {12: [commit]}, end_minute=13)
    assert results == {12: [False]}
    results, _ = scripted(
        m, {12: [commit]}, end_minute=13, cfg=CFG.model_copy(update={switch: True})
    )
    assert results == {12: [True]}


def test_trailing_everywhere_lets_a_later_stop_loosen():
    m = prices(60, {11: 101.0})
    at = {
        11: [
            lambda s, p: commit_trailing_stop(s, -1.0, p),
            lambda s, p: commit_trailing_stop(s, -0.5, p),
        ]
    }
    results, ev = scripted(
        m, at, end_minute=12, cfg=CFG.model_copy(update={"CC_ENABLE_TRAILING_EVERYWHERE": True})
    )
    assert results == {11: [True, True]}
    assert only_closed(ev)["signal"]["price_stop_loss"] == 100 * (1 - 1.5 / 100)

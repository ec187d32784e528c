"""A position plan's schema (shared/position_plan.py): what registration refuses, and the plan's
state across a Live restart.

Bad plans are refused at ``add_strategy`` with the field, the value (and the
param it came from) and the fix; a plan and a hook that both move the stop
are refused naming both, at registration when the callback's code calls the
commit, and when the commit is made otherwise (from a listener) it is
refused on ``listen_error`` and changes nothing.
"""

from __future__ import annotations

import json

import pytest

from btfarm.orchestrator import commit_breakeven, commit_trailing_stop, commit_trailing_take
from btfarm.shared import events
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine.lifecycle import StrategyCore
from btfarm.shared.errors import SchemaError
from btfarm.shared.fingerprint import source_hash
from btfarm.shared.position_plan import PositionPlan
from btfarm.shared.registry import add_strategy, registry
from btfarm.shared.schemas import StrategySchema

from .market import Script, candles, minute
from .position_market import CFG, LONG, prices
from .sim_data import load_sim

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _clean():
    events.clear()
    yield
    events.clear()
    registry.clear()


def register(plan, params=None, callbacks=None):
    return add_strategy(
        strategy_name="planned",
        interval="5m",
        get_signal=sma_cross_signal,
        override=True,
        position_plan=plan,
        params=params or {},
        callbacks=callbacks or {},
    )


@pytest.mark.parametrize(
    "plan, params, message",
    [
        (
            {"trailing_stop": [(0.5, -1.0), (0.25, -0.75)]},
            {},
            r"trailing_stop\[1\]\.threshold = 0\.25: not above the rung before \(0\.5\): the thresholds of "
            r"trailing_stop ascend .*reorder the rungs",
        ),
        (
            {"trailing_take": [(-0.5, -0.5), (-0.2, -0.3)]},
            {},
            r"trailing_take\[1\]\.threshold = -0\.2: not below the rung before \(-0\.5\).*descend \(each rung further "
            r"into the loss\)",
        ),
        (
            {"partial_profit": [(60, 50), (30, 50)]},
            {},
            r"partial_profit\[1\]\.level = 30: not above the level before "
            r"\(60\).*levels of partial_profit ascend",
        ),
        (
            {"partial_loss": [(50, 120)]},
            {},
            r"partial_loss\[0\]\.percent = 120: a percent of what remains, "
            r"0 < percent <= 100",
        ),
        ({"partial_loss": [(50, 0)]}, {}, r"partial_loss\[0\]\.percent = 0: a percent"),
        (
            {"partial_profit": [(55, 50)]},
            {},
            r"partial_profit\[0\]\.level = 55: a level is one of 10, 20",
        ),
        (
            {"trailing_stop": [(0.3, 0)]},
            {},
            r"trailing_stop\[0\]\.shift = 0: a shift is percent points in -100\.\.100 "
            r"other than 0",
        ),
        (
            {"trailing_stop": [("trail", -0.5)]},
            {"trial": 0.3},
            r"trailing_stop\[0\]\.threshold names param 'trail', which is not one of the strategy's params \(trial\)\. "
            r"Did you mean \"trial\"\? Declare it with its default",
        ),
        (
            {"trailing_stop": [(0.25, -0.75), ("next", -1.0)]},
            {"next": 0.2},
            r"trailing_stop\[1\]\.threshold = 0\.2 \(param 'next'\): not above the rung before",
        ),
        (
            {"average_buy": {"step": 0.5, "max_entries": 1}},
            {},
            r"average_buy\.max_entries = 1: .* 2\.\.1000",
        ),
        (
            {"average_buy": {"step": -0.5, "max_entries": 3}},
            {},
            r"average_buy\.step = -0\.5: a step is the percent "
            r"beyond the effective entry, > 0",
        ),
        (
            {"close_losing_after": "wait"},
            {"wait": "soon"},
            r"close_losing_after = 'soon' \(param 'wait'\): give a "
            r"finite number",
        ),
        ({"breakeven": "even"}, {"even": 1}, r"breakeven = 1 \(param 'even'\): give True or False"),
        (
            {"trailing_stop": [(0.25, True)]},
            {},
            r"True is neither a number nor the name of a param",
        ),
        (
            {"trailing_stop": [(0.25, -0.5, 3)]},
            {},
            r"a rung is a pair \(threshold, shift\), got 3 items",
        ),
        ({"trailing_stops": []}, {}, r"position_plan\.trailing_stops: unknown field"),
    ],
)
def test_a_bad_plan_is_refused_at_registration_naming_the_field_value_and_fix(
    plan, params, message
):
    with pytest.raises(SchemaError, match=message):
        register(plan, params)


def test_a_plan_and_a_callback_that_both_move_the_stop_are_refused_naming_both():
    def ping(symbol, signal, price, when, backtest):
        if price > signal["price_open"]:
            commit_trailing_stop(symbol, -0.5, price)

    with pytest.raises(
        SchemaError,
        match=r"the plan moves the stop loss \(breakeven\) and callback on_active_ping "
        r"calls commit_trailing_stop: both would move it",
    ):
        register({"breakeven": True}, callbacks={"on_active_ping": ping})
    with pytest.raises(
        SchemaError,
        match=r"moves the stop loss \(trailing_stop\) and callback on_breakeven calls "
        r"commit_breakeven",
    ):
        register(
            {"trailing_stop": [(0.3, -0.5)]},
            callbacks={"on_breakeven": lambda symbol, *rest: commit_breakeven(symbol)},
        )
    with pytest.raises(
        SchemaError,
        match=r"moves the take profit \(trailing_take\) and callback on_active_ping "
        r"calls commit_trailing_take",
    ):
        register(
            {"trailing_take": [(-0.3, -0.5)]},
            callbacks={"on_active_ping": lambda s, sig, p, *rest: commit_trailing_take(s, -0.2, p)},
        )
    # a callback that moves what the plan does not move is allowed
    register({"partial_profit": [(50, 50)]}, callbacks={"on_active_ping": ping})


def test_a_stop_moved_by_a_listener_beside_a_plan_is_refused_on_listen_error_and_changes_nothing():
    exchange, frame, sim_candles = load_sim("sim-plan-conflict")
    plan = {"trailing_stop": [(0.25, -0.75)], "breakeven": True}
    strategy = StrategySchema(
        strategy_name="p",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        position_plan=plan,
    )
    alone = BacktestRun(strategy, exchange, frame, "SIMUSDT", sim_candles)
    alone.run()
    refused = []
    events.listen_active_ping(
        lambda e: refused.append(commit_trailing_stop(e["symbol"], -0.9, e["current_price"]))
    )
    errors = []  # (what Backtest puts on listen_error)
    both = BacktestRun(
        strategy,
        exchange,
        frame,
        "SIMUSDT",
        sim_candles,
        listener=lambda kind, record: errors.append(record) if kind == "error" else None,
    )
    both.run()
    assert refused and not any(refused)
    assert len(errors) == len(refused)
    assert (
        "commit_trailing_stop" in errors[0]["message"]
        and "position_plan moves the stop loss" in errors[0]["message"]
        and "a hook and a plan may not both move it" in errors[0]["message"]
    )
    assert [c["signal"]["price_stop_loss"] for c in both.closed] == [
        c["signal"]["price_stop_loss"] for c in alone.closed
    ]
    assert both.core.commit_counts["trailing_stop"][1] >= len(refused)


def test_a_variant_whose_params_break_the_plan_is_a_schema_error_naming_it():
    exchange, frame, sim_candles = load_sim("sim-plan-variant")
    strategy = StrategySchema(
        strategy_name="p",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"first": 0.25, "second": 0.5},
        position_plan={"trailing_stop": [("first", -0.75), ("second", -1.0)]},
    )
    with pytest.raises(
        SchemaError,
        match=r'strategy "p\[first=0.7\]": position_plan\.trailing_stop\[1\]\.threshold '
        r"= 0\.5 \(param 'second'\): not above the rung before \(0\.7\)",
    ):
        BacktestRun(
            strategy,
            exchange,
            frame,
            "SIMUSDT",
            sim_candles,
            params={"first": 0.7, "second": 0.5},
            strategy_name="p[first=0.7]",
        )


def test_a_plan_is_json_and_rungs_may_be_written_as_pairs_or_dicts():
    plan = PositionPlan(
        trailing_stop=[(0.25, -0.75), {"threshold": "t", "shift": -1.0}],
        partial_loss=[[50, 50]],
        average_buy={"step": 0.5, "max_entries": 3},
        breakeven=True,
        close_losing_after=30,
    )
    again = PositionPlan.model_validate(json.loads(json.dumps(plan.model_dump())))
    assert again == plan
    assert again.resolve({"t": 0.5}).trailing_stop == ((0.25, -0.75), (0.5, -1.0))
    assert PositionPlan().resolve({}) is None  # no rule: nothing to run


def test_the_plan_is_part_of_the_strategy_code_a_worker_must_share():
    """A worker whose plan differs from the orchestrator's fails its variants (the code check
    compares source hashes), as one whose get_signal differs does."""

    def hashed(plan):
        return source_hash(
            StrategySchema(
                strategy_name="p", interval="5m", get_signal=sma_cross_signal, position_plan=plan
            )
        )

    assert hashed(None) == source_hash(
        StrategySchema(strategy_name="q", interval="1m", get_signal=sma_cross_signal)
    )
    assert (
        len(
            {
                hashed(None),
                hashed({"breakeven": True}),
                hashed({"breakeven": False}),
                hashed({"trailing_stop": [(0.25, -0.75)]}),
            }
        )
        == 4
    )


# ---- Live: the plan's state is persisted with the position -----------------------

N = 60
M = prices(N, {11: 101.2, 20: 100.2})
PLAN = {
    "trailing_stop": [(0.5, -1.5)],
    "partial_profit": [(50, 50)],
    "breakeven": True,
    "close_losing_after": 30,
}


def new_core(closed):
    strategy = StrategySchema(
        strategy_name="s", interval="1m", get_signal=Script({10: dict(LONG)}), position_plan=PLAN
    )
    return StrategyCore(
        strategy,
        "SYM",
        "x",
        CFG,
        lambda kind, record: closed.append(record) if kind == "closed" else None,
        mode="live",
    )


def drive(core, c, first, last):
    for i in range(first, last):
        core.tick(minute(i) + 7, c, i)  # candles [0, i) have closed


def test_a_restored_position_keeps_what_its_plan_did():
    """Each rule acts once: the partial's level fired at minute 11 (refused there, priced a candle
    behind at 100) and is not asked again; breakeven, refused at 11, is applied at 12; the
    losing close is asked at 40 (30 minutes in, 100.2 loses after costs) and closes at 41."""
    c = candles(M)
    closed = []
    whole_core = new_core(closed)
    drive(whole_core, c, 0, N)
    (whole,) = closed
    assert (whole["close_reason"], whole["close_timestamp"]) == ("closed", minute(41))
    assert whole["signal"]["partials"] == [] and whole["signal"]["price_stop_loss"] == 100.0
    assert whole_core.commit_counts == {
        "trailing_stop": [1, 0],
        "partial_profit": [0, 1],
        "breakeven": [1, 1],
        "close_pending": [1, 0],
    }
    for cut in range(11, 42):
        first = []
        core = new_core(first)
        drive(core, c, 0, cut)
        state = json.loads(json.dumps(core.snapshot()))  # what Live writes and reads back
        if cut > 12:  # (candle 11 is settled by the tick that sees it closed: cut 12's last)
            assert (
                state["position"]["plan"]["profit"] == 1 and state["position"]["plan"]["stop"] == 1
            ), cut
        rest = []
        again = new_core(rest)
        again.restore(state)
        drive(again, c, cut, N)
        assert first + rest == [whole], cut

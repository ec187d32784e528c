"""Issue 31's acceptance scenarios on the reference data, the event lane against a second simulator.

Each scenario (tests/support/position_reference.py) is run twice: by the
engine, its hooks calling btfarm's commit functions, and by the reference
simulator written from SEMANTICS.md's text alone. Closed signals, entries,
partials, final SL/TP and PnL must agree trade by trade; the counts each
scenario pins come from the reference and say the rule was really exercised.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import pytest

from btfarm.orchestrator import get_average_price, get_candles
from btfarm.shared import events
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.frames import frame_bounds
from btfarm.shared.schemas import StrategySchema
from tests.support import position_reference as ref
from tests.support.commit_api import API
from tests.support.reference_data import SIM_CSV
from tests.support.reference_trades import PINNED, differences, reference_view

from .sim_data import load_sim

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sim():
    return load_sim("sim-positions")


@pytest.fixture(scope="module")
def csv_candles():
    return ref.read_candles(SIM_CSV)


@pytest.fixture(autouse=True)
def _no_listeners():
    events.clear()
    yield
    events.clear()


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def engine_trades(
    sim, scenario: ref.Scenario, cfg: EngineConfig | None = None, force_hooks: bool = False
):
    """The scenario through BacktestRun, its closed signals as the reference writes them."""
    exchange, frame, candles = sim

    def get_signal(symbol, when):
        closes = get_candles(symbol, "1m", 35).close.tolist()
        return scenario.entry(closes, get_average_price(symbol))

    callbacks = {}
    if scenario.uses_ping or force_hooks:
        callbacks["on_active_ping"] = lambda symbol, signal, price, when, backtest: scenario.ping(
            API, symbol, signal, price, _ms(when)
        )
    if scenario.uses_breakeven:
        callbacks["on_breakeven"] = lambda symbol, signal, price, when, backtest: (
            scenario.breakeven(API, symbol, signal, price, _ms(when))
        )
    if scenario.uses_levels:
        events.listen_partial_profit_available(
            lambda e: scenario.profit_level(API, e["symbol"], e["level"], e["signal"])
        )
        events.listen_partial_loss_available(
            lambda e: scenario.loss_level(API, e["symbol"], e["level"], e["signal"])
        )
    strategy = StrategySchema(
        strategy_name="scenario", interval="5m", get_signal=get_signal, callbacks=callbacks
    )
    run = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, cfg=cfg or EngineConfig())
    closed = run.run()
    return reference_view(closed), run


def reference_trades(sim, csv_candles, scenario: ref.Scenario):
    start, end = frame_bounds(sim[1])
    return ref.Reference(csv_candles, start, end, scenario).run()


def assert_twins(engine, reference):
    found = differences(engine, reference)
    assert not found, "engine vs reference:\n" + "\n".join(found[:10])


def test_trailing_ladder_and_trailing_take(sim, csv_candles):
    engine, run = engine_trades(sim, ref.Trailing())
    reference = reference_trades(sim, csv_candles, ref.Trailing())
    assert_twins(engine, reference)
    trailed = [
        t
        for t in reference
        if not math.isclose(
            t["price_stop_loss"],
            t["entries"][0][0] * (0.99 if t["position"] == "long" else 1.01),
            rel_tol=1e-12,
        )
    ]
    in_profit = [
        t
        for t in reference
        if t["close_reason"] == "stop_loss"
        and (t["price_stop_loss"] > t["price_open"]) == (t["position"] == "long")
    ]
    taken_closer = [
        t for t in reference if abs(t["price_take_profit"] / t["price_open"] - 1) < 0.0051
    ]
    counts = run.core.commit_counts
    # derived by the reference simulator from the rules (and pinned, so a drift shows)
    assert (len(reference), len(trailed), len(in_profit), len(taken_closer)) == PINNED["trailing"]
    assert counts["trailing_stop"][0] > 0 and counts["trailing_take"][0] > 0
    assert counts["trailing_stop"][0] + counts["trailing_stop"][1] >= counts["trailing_stop"][0]


def test_partial_50_on_both_sides(sim, csv_candles):
    engine, _ = engine_trades(sim, ref.Partials())
    reference = reference_trades(sim, csv_candles, ref.Partials())
    assert_twins(engine, reference)
    kinds = Counter(q[0] for t in reference for q in t["partials"])
    both = sum(1 for t in reference if {q[0] for q in t["partials"]} == {"profit", "loss"})
    assert (len(reference), kinds["profit"], kinds["loss"], both) == PINNED["partials"]
    # a partial closes half of what remains: the second one of a trade is on half the basis
    assert all(
        t["partials"][1][3] == pytest.approx(50.0) for t in reference if len(t["partials"]) == 2
    )


def test_breakeven_retried_until_applied(sim, csv_candles):
    engine_scenario = ref.Breakeven()
    engine, _ = engine_trades(sim, engine_scenario)
    reference_scenario = ref.Breakeven()
    reference = reference_trades(sim, csv_candles, reference_scenario)
    assert_twins(engine, reference)
    assert engine_scenario.results == reference_scenario.results
    at_entry = sum(
        1 for t in reference if t["price_stop_loss"] == pytest.approx(t["price_open"], rel=1e-12)
    )
    first_calls = reference_scenario.results  # on_breakeven itself is refused: p lags one candle
    assert (len(reference), at_entry, first_calls.count(True), first_calls.count(False)) == PINNED[
        "breakeven"
    ]


def test_average_buy_up_to_three_entries(sim, csv_candles):
    engine, _ = engine_trades(sim, ref.Averaging())
    reference = reference_trades(sim, csv_candles, ref.Averaging())
    assert_twins(engine, reference)
    by_entries = Counter(len(t["entries"]) for t in reference)
    assert max(by_entries) == 3
    assert (len(reference), by_entries[1], by_entries[2], by_entries[3]) == PINNED["averaging"]
    three = next(t for t in reference if len(t["entries"]) == 3)
    prices = [e[0] for e in three["entries"]]
    assert three["price_open"] == pytest.approx(300 / sum(100 / p for p in prices), rel=1e-12)
    assert three["pnl_entries"] == 300.0


def test_user_close_after_30_minutes_losing(sim, csv_candles):
    engine, _ = engine_trades(sim, ref.UserClose())
    reference = reference_trades(sim, csv_candles, ref.UserClose())
    assert_twins(engine, reference)
    closed = [t for t in reference if t["close_reason"] == "closed"]
    assert all(t["close_id"] == f"user-close-{t['pending_at']}" for t in closed)
    assert all(t["close_timestamp"] - t["pending_at"] >= 31 * ref.MINUTE for t in closed)
    assert (len(reference), len(closed)) == PINNED["user_close"]


@pytest.mark.parametrize("force_hooks", [False, True], ids=["numpy-scan", "candle-walk"])
def test_no_expiry(sim, csv_candles, force_hooks):
    cfg = EngineConfig(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)
    engine, run = engine_trades(sim, ref.NoExpiry(), cfg=cfg, force_hooks=force_hooks)
    reference = reference_trades(sim, csv_candles, ref.NoExpiry())
    assert_twins(engine, reference)
    assert run.lane == "event"
    reasons = Counter(t["close_reason"] for t in reference)
    longest = max(t["close_timestamp"] - t["pending_at"] for t in reference) // ref.MINUTE
    assert reasons["time_expired"] <= 1  # only the last, when the candles run out
    assert longest > 120
    assert (len(reference), reasons["take_profit"], reasons["stop_loss"]) == PINNED["no_expiry"]

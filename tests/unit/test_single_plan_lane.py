"""A plan-only strategy's backtest in the event lane walks its positions in the compiled loop
(position_walk._walk_compiled); these hold it to the walk in Python with the plan's hooks.

For plans that use every rule (and their refusals: a breakeven asked again on every later
candle, a partial cap, DCA beside an expiry), on the reference data and on a volatile market
with gaps, the closed signals are identical float for float, and so are the commit counts,
kind by kind and in the order the kinds first committed (``Backtest.get_data`` shows both).
A listener of a position event, a hook callback, or BTFARM_NATIVE=0 keeps the walk in Python.
"""

from __future__ import annotations

import pytest

from btfarm.shared import events
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.engine import batch_kernel, position_walk
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, StrategySchema

from .market import candles as make_candles
from .sim_data import load_sim
from .test_walk_invariants import event_twin, market

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(not batch_kernel.available(), reason="the C loop is not built"),
]

PLANS = {
    "ladder": {"trailing_stop": [(0.25, -0.75), (0.5, -1.0), (0.75, -1.25)]},
    "every_rule": {
        "trailing_stop": [(0.3, -0.5)],
        "trailing_take": [(-0.5, -0.5)],
        "partial_profit": [(30, 50), (60, 50)],
        "partial_loss": [(50, 50)],
        "breakeven": True,
    },
    "averaging": {"average_buy": {"step": 0.3, "max_entries": 3}, "close_losing_after": 30},
    "full_closes": {"partial_loss": [(30, 100)], "trailing_take": [(-0.3, -0.6)]},
    "breakeven_waits": {"breakeven": True, "trailing_take": [(-0.2, -0.4)]},
}


def _strategy(plan: dict, get_signal=sma_cross_signal, **extra) -> StrategySchema:
    return StrategySchema(
        strategy_name="plan-lane",
        interval="5m",
        get_signal=get_signal,
        params={"fast": 10, "slow": 30},
        position_plan=plan,
        **extra,
    )


def _run(strategy, exchange, frame, candles, python: bool, monkeypatch) -> BacktestRun:
    with monkeypatch.context() as patch:
        if python:  # (the switch BTFARM_NATIVE=0 turns: batch_kernel.available() False)
            patch.setattr(batch_kernel, "available", lambda: False)
        run = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles)
        run.run()
    return run


def _same(compiled: BacktestRun, python: BacktestRun) -> None:
    assert compiled.closed == python.closed
    assert list(compiled.core.commit_counts.items()) == list(python.core.commit_counts.items())


def _spy(monkeypatch) -> list[int]:
    """Counts the positions the compiled loop walks."""
    walked: list[int] = []
    real = position_walk._walk_compiled

    def spy(*args):
        done = real(*args)
        walked.append(done)
        return done

    monkeypatch.setattr(position_walk, "_walk_compiled", spy)
    return walked


@pytest.mark.parametrize("name", sorted(PLANS))
def test_reference_data_compiled_equals_hooks(name, monkeypatch):
    exchange, frame, candles = load_sim("plan-lane-sim")
    strategy = _strategy(PLANS[name])
    python = _run(strategy, exchange, frame, candles, True, monkeypatch)
    walked = _spy(monkeypatch)
    compiled = _run(strategy, exchange, frame, candles, False, monkeypatch)
    # every position took the compiled loop (the last may outlive the candles: then the walk in Python)
    assert sum(walked) >= len(compiled.closed) - 1 > 100
    _same(compiled, python)
    assert compiled.core.commit_counts  # the plan committed something


@pytest.mark.parametrize("seed", [3, 11])
@pytest.mark.parametrize("name", ["every_rule", "averaging", "breakeven_waits"])
def test_volatile_market_with_gaps(name, seed, monkeypatch):
    data = market(seed, 6000, 0.01)
    candles = make_candles(data)
    exchange = dataframe_exchange("plan-lane-gaps", {})
    frame = FrameSchema(
        frame_name="plan-lane",
        interval="1m",
        start_date=int(data["timestamp"][60]),
        end_date=int(data["timestamp"][-1]),
    )
    strategy = _strategy(PLANS[name], get_signal=event_twin(data, seed))
    python = _run(strategy, exchange, frame, candles, True, monkeypatch)
    walked = _spy(monkeypatch)
    compiled = _run(strategy, exchange, frame, candles, False, monkeypatch)
    assert len(compiled.closed) > 20
    assert sum(walked) >= len(compiled.closed) - 1  # (the last may outlive the candles)
    _same(compiled, python)


def test_a_position_listener_or_a_hook_keeps_python(monkeypatch):
    exchange, frame, candles = load_sim("plan-lane-sim")
    walked = _spy(monkeypatch)
    seen: list[dict] = []
    unsubscribe = events.subscribe("strategy_commit", seen.append)
    try:
        _run(_strategy(PLANS["ladder"]), exchange, frame, candles, False, monkeypatch)
    finally:
        unsubscribe()
    assert seen and not walked
    hooked = _strategy(PLANS["ladder"], callbacks={"on_breakeven": lambda *args: None})
    _run(hooked, exchange, frame, candles, False, monkeypatch)
    assert not walked
    _run(_strategy(PLANS["ladder"]), exchange, frame, candles, False, monkeypatch)
    assert walked


def _with_cost(get_signal, cost: float):
    def costed(symbol, when):
        signal = get_signal(symbol, when)
        return None if signal is None else {**signal, "cost": cost}

    return costed


@pytest.mark.parametrize("name", ["every_rule", "averaging"])
def test_a_signal_with_its_own_cost_gives_the_same_trades_in_both_walks(name, monkeypatch):
    """A signal's cost prices its first entry (pnl_entries, pnl_cost, a partial's cost basis):
    the compiled loop walks such a position too, and must not price it at
    CC_POSITION_ENTRY_COST instead."""
    exchange, frame, candles = load_sim("plan-lane-sim")
    strategy = _strategy(PLANS[name], get_signal=_with_cost(sma_cross_signal, 250.0))
    python = _run(strategy, exchange, frame, candles, True, monkeypatch)
    walked = _spy(monkeypatch)
    compiled = _run(strategy, exchange, frame, candles, False, monkeypatch)
    assert python.closed and python.closed[0]["pnl"]["pnl_entries"] >= 250.0
    assert sum(walked) >= len(compiled.closed) - 1 > 100  # (the last may outlive the candles)
    _same(compiled, python)

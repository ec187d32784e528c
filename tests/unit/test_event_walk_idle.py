"""The event walk's inlined idle ask (event_walk._walk_idle) is the general walk, faster.

Over random gapless markets, a strategy that reads its helpers, returns valid and
invalid signals and raises now and then, under a risk that refuses some signals
(which gives the throttle bucket back), walked once by ``walk_events`` (the
inlined lane) and once by ``_walk`` (every tick through ``StrategyCore.tick``):
the same asks with the same ``when`` and cursor, the same events, the same
closed signals, the same rejections, and the walk ends where it should.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfarm.shared.context import get_average_price, get_candles, get_date
from btfarm.shared.engine import event_walk
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, RiskSchema, StrategySchema

from .market import T0, candles

pytestmark = pytest.mark.unit
CFG = EngineConfig(CC_PERCENT_FEE=0.1, CC_PERCENT_SLIPPAGE=0.05)


def market(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    spread = np.abs(rng.normal(0, 0.003, n)) * close
    return {
        "timestamp": T0 + np.arange(n, dtype=np.int64) * 60_000,
        "open": close,
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": rng.uniform(0.5, 2.0, n),
    }


def recording_strategy(seed: int, asks: list):
    rng = np.random.default_rng(seed)
    draws = rng.random(100_000)

    def get_signal(symbol, when):
        window = get_candles(symbol, "1m", 20)
        assert get_candles(symbol, "1m", 20) is window  # the same call in one ask: the same window
        closes = window.close
        asks.append(
            (when, get_date(), int(window.timestamp[-1]) if len(window) else None, len(window))
        )
        draw = draws[len(asks) % len(draws)]
        if draw < 0.02:
            raise ValueError("a bug in the strategy")
        if draw < 0.04:
            return {"position": "long", "price_take_profit": -1.0}  # refused by the rules
        if draw < 0.15 and len(closes) >= 20:
            price = get_average_price(symbol)
            side = 1 if closes[-1] > closes.mean() else -1
            return {
                "position": "long" if side > 0 else "short",
                "price_take_profit": price * (1 + side * 0.006),
                "price_stop_loss": price * (1 - side * 0.006),
                "minute_estimated_time": 45,
            }
        return None

    return get_signal


def walked(data, seed: int, interval: str, general: bool, with_risk: bool):
    asks, events = [], []
    strategy = StrategySchema(
        strategy_name="r", interval=interval, get_signal=recording_strategy(seed, asks)
    )
    frame = FrameSchema(
        frame_name="f",
        interval="1m",
        start_date=int(data["timestamp"][30]),
        end_date=int(data["timestamp"][-1]),
    )
    risk = (
        RiskSchema(
            risk_name="odd",
            validations=[lambda p: "odd minute" if p["timestamp"] // 60_000 % 7 == 3 else None],
        )
        if with_risk
        else None
    )
    run = BacktestRun(
        strategy,
        dataframe_exchange("x", {}),
        frame,
        "SYM",
        candles(data),
        cfg=CFG,
        risk=risk,
        listener=lambda kind, record: events.append((kind, record.get("timestamp"))),
    )
    walk = (
        event_walk._walk(run.core, run.candles, run.ticks, 60_000, True, None)
        if general
        else event_walk.walk_events(run.core, run.candles, run.ticks)
    )
    done = list(walk)
    assert done == sorted(done) and all(0 < d <= len(run.ticks) + 1 for d in done)
    return asks, events, run.closed, run.core.rejected, run.core.rejections


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(600, 3_000),
    interval=st.sampled_from(["1m", "5m", "15m"]),
    with_risk=st.booleans(),
)
def test_the_inlined_idle_ask_walks_as_the_core_does(seed, n, interval, with_risk):
    data = market(seed, n)
    fast = walked(data, seed, interval, general=False, with_risk=with_risk)
    slow = walked(data, seed, interval, general=True, with_risk=with_risk)
    assert fast[0] and fast[2], "a market this long is asked and trades"
    assert fast == slow
    for when, date, _, _ in fast[0]:
        assert when == date and when.tzinfo is not None


def test_the_inlined_lane_is_the_one_a_plain_run_takes(monkeypatch):
    """(else the test above compares the general walk with itself)"""
    taken = []
    inner = event_walk._walk_idle
    monkeypatch.setattr(event_walk, "_walk_idle", lambda *a: taken.append(1) or inner(*a))
    data = market(1, 500)
    strategy = StrategySchema(strategy_name="r", interval="5m", get_signal=lambda s, w: None)
    frame = FrameSchema(
        frame_name="f",
        interval="1m",
        start_date=int(data["timestamp"][0]),
        end_date=int(data["timestamp"][-1]),
    )
    run = BacktestRun(strategy, dataframe_exchange("x", {}), frame, "SYM", candles(data), cfg=CFG)
    run.run()
    assert run.lane == "event" and taken == [1]

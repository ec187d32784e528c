"""An invariant of every walk, held over random markets with gaps (issue: trust).

No closed signal closes before it opened (``close_timestamp < pending_at``),
and none closes after the last candle the exchange returned: the event-driven
walk, the vectorised walk, the batch lane with records, and the stats-only
batch lane in Python and in C.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, StrategySchema
from btfarm.shared.settings import get_settings

from .market import T0, candles

pytestmark = pytest.mark.unit
CFG = EngineConfig(CC_PERCENT_FEE=0.1, CC_PERCENT_SLIPPAGE=0.05)


def market(seed: int, n: int, gap_share: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    spread = np.abs(rng.normal(0, 0.003, n)) * close
    steps = np.where(
        rng.random(n) < gap_share, rng.integers(2, 240, n), 1
    )  # holes of up to 4 hours
    steps[0] = 0
    minutes = np.cumsum(steps).astype(np.int64)
    return {
        "timestamp": T0 + minutes * 60_000,
        "open": close,
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": rng.uniform(0.5, 2.0, n),
    }


def intents(candles_, price, params):
    rng = np.random.default_rng(params["seed"])
    n = len(candles_)
    position = rng.choice([-1, 0, 0, 1], n)
    distance = rng.choice([0.002, 0.005, 0.02], n)
    return {
        "position": position,
        "price_take_profit": price * (1 + position * distance),
        "price_stop_loss": price * (1 - position * distance),
        "minute_estimated_time": rng.choice([5.0, 60.0, 600.0, 1440.0], n),
    }


def event_twin(data: dict[str, np.ndarray], seed: int):
    """``get_signal`` deciding what ``intents`` decides for the candle at or after ``when``."""
    c = candles(data)
    vwap = c.vwap(CFG.CC_AVG_PRICE_CANDLES_COUNT)
    price = np.concatenate([[np.nan], vwap[:-1]])
    rows = intents(c, price, {"seed": seed})

    def get_signal(symbol, when):
        k = int(np.searchsorted(c.timestamp, int(when.timestamp() * 1000), "left"))
        if k >= len(c) or rows["position"][k] == 0:
            return None
        return {
            "position": "long" if rows["position"][k] > 0 else "short",
            "price_take_profit": float(rows["price_take_profit"][k]),
            "price_stop_loss": float(rows["price_stop_loss"][k]),
            "minute_estimated_time": int(rows["minute_estimated_time"][k]),
        }

    return get_signal


def spans(run: BacktestRun) -> list[tuple[int, int]]:
    if run.columns is not None:
        return list(zip(run.columns["pending_at"], run.columns["close_timestamp"], strict=True))
    return [(r["signal"]["pending_at"], r["close_timestamp"]) for r in run.closed]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(400, 2_500),
    gap_share=st.sampled_from([0.0, 0.01, 0.05]),
    interval=st.sampled_from(["1m", "5m", "15m"]),
)
def test_no_walk_closes_a_signal_before_it_opened_or_after_the_last_candle(
    seed, n, gap_share, interval
):
    data = market(seed, n, gap_share)
    last = int(data["timestamp"][-1])
    frame = FrameSchema(
        frame_name="f", interval="1m", start_date=int(data["timestamp"][60]), end_date=last
    )
    exchange = dataframe_exchange("x", {})
    params = {"seed": seed}
    walks = {
        "event": dict(
            strategy=StrategySchema(
                strategy_name="r",
                interval=interval,
                get_signal=event_twin(data, seed),
                params=params,
            )
        ),
        "vector": dict(batch_lane=False),
        "batch": dict(),
        "batch-python": dict(stats_only=True, native=False),
        "batch-c": dict(stats_only=True, native=True),
    }
    vector_strategy = StrategySchema(
        strategy_name="r", interval=interval, get_signals=intents, params=params
    )
    seen = {}
    for name, options in walks.items():
        native = options.pop("native", True)
        strategy = options.pop("strategy", vector_strategy)
        run = BacktestRun(strategy, exchange, frame, "SYM", candles(data), cfg=CFG, **options)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("BTFARM_NATIVE", "1" if native else "0")
            get_settings.cache_clear()
            try:
                run.run()
            finally:
                get_settings.cache_clear()
        seen[name] = spans(run)
        for pending, closed in seen[name]:
            assert pending <= closed <= last, (name, pending, closed, last)
    assert seen["event"], "a market this long always trades"
    assert (
        seen["batch-c"] == seen["batch-python"] == seen["batch"] == seen["vector"] == seen["event"]
    )

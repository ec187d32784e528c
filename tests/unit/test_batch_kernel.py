"""The C batch loop (shared/engine/_batch_kernel.c) gives the Python loop's columns, float for float."""

from __future__ import annotations

import numpy as np
import pytest

from btfarm.shared.demo import sma_cross_signals
from btfarm.shared.engine import batch_kernel
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, StrategySchema
from btfarm.shared.settings import get_settings

from .market import T0, candles, minute
from .sim_data import GRID53, GRID53_IDS, load_sim

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sim():
    return load_sim("sim-kernel")


def columns_of(run_: BacktestRun, monkeypatch, native: bool, should_stop=None) -> dict[str, list]:
    monkeypatch.setenv("BTFARM_NATIVE", "1" if native else "0")
    get_settings.cache_clear()
    try:
        for _ in run_.steps(should_stop):
            pass
    finally:
        get_settings.cache_clear()
    assert run_.lane == "batch"
    return {k: np.asarray(v).tolist() for k, v in run_.columns.items()}  # the C lane keeps arrays


def test_the_c_loop_is_built_by_the_install():
    assert batch_kernel.unavailable_reason() is None, batch_kernel.unavailable_reason()


@pytest.mark.parametrize("fast, slow", GRID53, ids=GRID53_IDS)
def test_grid53_columns_are_identical_in_c_and_python(sim, monkeypatch, fast, slow):
    exchange, frame, sim_candles = sim
    strategy = StrategySchema(
        strategy_name="sma",
        interval="5m",
        get_signals=sma_cross_signals,
        params={"fast": fast, "slow": slow},
    )

    def run_():
        return BacktestRun(strategy, exchange, frame, "SIMUSDT", sim_candles, stats_only=True)

    in_c, in_python = run_(), run_()
    c_columns = columns_of(in_c, monkeypatch, native=True)
    assert len(c_columns["pnl"]) > 50
    assert c_columns == columns_of(in_python, monkeypatch, native=False)
    assert in_c.statistics() == in_python.statistics()
    assert in_c.core.settled_ms == in_python.core.settled_ms
    assert in_c.core.last_bucket == in_python.core.last_bucket


def random_market(seed: int, n: int, gaps: bool) -> dict[str, np.ndarray]:
    """A random walk of 1m candles; with ``gaps``, some minutes are missing (non-contiguous)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    spread = np.abs(rng.normal(0, 0.003, n)) * close
    minutes = np.arange(n, dtype=np.int64)
    if gaps:
        minutes = np.sort(rng.choice(np.arange(int(n * 1.2)), n, replace=False)).astype(np.int64)
    return {
        "timestamp": T0 + minutes * 60_000,
        "open": close,
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": rng.uniform(0.5, 2.0, n),
    }


def random_intents(candles_, price, params):
    """Entries with every kind of flaw the rules reject: NaN, wrong side, too close, bad expiry."""
    rng = np.random.default_rng(params["seed"])
    n = len(candles_)
    position = rng.choice([-1, 0, 0, 0, 1], n)
    distance = rng.choice([0.001, 0.004, 0.01, 0.03, 0.3], n)
    take_profit = price * (1 + position * distance)
    stop_loss = price * (1 - position * rng.choice([0.002, 0.006, 0.02, 0.5], n))
    take_profit[rng.random(n) < 0.05] = np.nan
    stop_loss[rng.random(n) < 0.05] *= 3  # on the wrong side for longs
    expiry = rng.choice([5.0, 30.0, 120.0, 90.5, 0.0, 10**6], n)
    return {
        "position": position,
        "price_take_profit": take_profit,
        "price_stop_loss": stop_loss,
        "minute_estimated_time": expiry,
    }


@pytest.mark.parametrize(
    "seed, gaps, interval",
    [
        (1, False, "1m"),
        (2, False, "5m"),
        (3, True, "1m"),
        (4, True, "15m"),
        (5, False, "1h"),
        (6, True, "3m"),
    ],
)
def test_random_intents_on_random_markets_give_identical_columns(monkeypatch, seed, gaps, interval):
    market = random_market(seed, 6_000, gaps)
    frame = FrameSchema(
        frame_name="f", interval="1m", start_date=minute(60), end_date=minute(5_500)
    )
    strategy = StrategySchema(
        strategy_name="rand", interval=interval, get_signals=random_intents, params={"seed": seed}
    )
    cfg = EngineConfig(CC_PERCENT_FEE=0.1, CC_PERCENT_SLIPPAGE=0.05)

    def run_():
        return BacktestRun(
            strategy,
            dataframe_exchange("x", {}),
            frame,
            "SYM",
            candles(market),
            cfg=cfg,
            stats_only=True,
        )

    c_run, python_run = run_(), run_()
    in_c = columns_of(c_run, monkeypatch, native=True)
    assert len(in_c["pnl"]) >= (
        20 if interval in ("1m", "3m", "5m") else 3
    )  # fewer calls on a slow throttle
    assert in_c == columns_of(python_run, monkeypatch, native=False)
    # what was refused is counted and described alike, and as the vector walk (one
    # lifecycle.consider per refused signal) counts and describes it
    vector_run = BacktestRun(
        strategy,
        dataframe_exchange("x", {}),
        frame,
        "SYM",
        candles(market),
        cfg=cfg,
        batch_lane=False,
    )
    vector_run.run()
    assert vector_run.lane == "vector"
    assert c_run.core.rejected == python_run.core.rejected == vector_run.core.rejected > 0
    assert c_run.core.rejections == python_run.core.rejections == vector_run.core.rejections
    assert len(c_run.core.rejections) >= 2
    batch_stats, vector_stats = c_run.statistics(), vector_run.statistics()
    assert batch_stats.rejected_signals == vector_stats.rejected_signals
    assert batch_stats.avg_peak_pnl == pytest.approx(vector_stats.avg_peak_pnl, rel=1e-12)
    assert batch_stats.avg_fall_pnl == pytest.approx(vector_stats.avg_fall_pnl, rel=1e-12)


def test_a_stop_between_segments_ends_the_walk_early(sim, monkeypatch):
    exchange, frame, sim_candles = sim
    strategy = StrategySchema(
        strategy_name="sma",
        interval="5m",
        get_signals=sma_cross_signals,
        params={"fast": 10, "slow": 30},
    )
    monkeypatch.setattr(batch_kernel, "SEGMENT_TICKS", 5_000)
    full = columns_of(
        BacktestRun(strategy, exchange, frame, "SIMUSDT", sim_candles, stats_only=True),
        monkeypatch,
        native=True,
    )
    checks = iter([False, False, True])
    stopped = BacktestRun(strategy, exchange, frame, "SIMUSDT", sim_candles, stats_only=True)
    part = columns_of(stopped, monkeypatch, native=True, should_stop=lambda: next(checks, True))
    assert stopped.stopped
    assert 0 < len(part["pnl"]) < len(full["pnl"])
    assert (
        part["pnl"] == full["pnl"][: len(part["pnl"])]
    )  # segments cut between trades, never inside one


@pytest.mark.parametrize(
    "wrong, message",
    [
        ({"vwap": np.ones(6)}, "vwap, low and high need one entry per candle"),
        ({"blocks": 2}, "one entry per BLOCK candles"),
        ({"offered_row": np.zeros(3, np.int64)}, "offered and offered_row differ in length"),
        ({"take_profit": np.ones(2)}, "one entry per row"),
        ({"offered": np.array([3, 10**9], np.int64)}, "an offered tick is out of range"),
        ({"offered_row": np.array([7, 0], np.int64)}, "row or output out of range"),
        ({"span": (0, 1, 0)}, "an arithmetic span needs even ticks and a throttle"),
    ],
)
def test_a_wrong_call_is_a_value_error_not_a_crash(wrong, message):
    ticks = np.arange(10, dtype=np.int64) * 60_000
    candle = np.full(5, 100.0)
    rows = np.ones(3)
    call = {
        "offered": np.array([3, 4], np.int64),
        "offered_row": np.array([0, 1], np.int64),
        "take_profit": rows * 101,
        "vwap": candle,
        "blocks": 1,
        "span": None,
    }
    call.update(wrong)
    with pytest.raises(ValueError, match=message):
        batch_kernel.settle(
            0,
            10,
            -1,
            ticks // 300_000,
            np.ones(10, bool),
            np.full(10, 2, np.int64),
            ticks,
            call["offered"],
            call["offered_row"],
            np.ones(3, np.int8),
            call["take_profit"],
            rows * 99,
            None,
            call["vwap"],
            candle,
            candle,
            ticks[:5],
            True,
            True,
            int(ticks[-1]),
            120,
            (0.1, 0.1, 10, 0, 0),
            (np.empty(3), np.empty(3, np.int64), np.empty(3, np.int64)),
            0,
            (np.empty(3), np.empty(3)),
            np.empty(3, np.int64),
            0,
            tuple(np.ones(call["blocks"]) for _ in range(4)),
            call["span"],
        )


def test_candles_contiguous_by_their_ends_but_off_the_minute_grid_have_their_close_times_read(
    monkeypatch,
):
    from btfarm.shared.engine.walk_grid import minute_grid

    market = random_market(8, 3_000, gaps=False)
    market["timestamp"] = market["timestamp"].copy()
    market["timestamp"][1:-1:2] += (
        30_000  # every other candle half a minute late; the ends stay put
    )
    frame = FrameSchema(
        frame_name="f", interval="1m", start_date=minute(60), end_date=minute(2_900)
    )
    strategy = StrategySchema(
        strategy_name="rand", interval="1m", get_signals=random_intents, params={"seed": 8}
    )

    def run_():
        return BacktestRun(
            strategy, dataframe_exchange("x", {}), frame, "SYM", candles(market), stats_only=True
        )

    c_run = run_()
    assert c_run.candles.contiguous and not minute_grid(c_run.candles)
    in_c = columns_of(c_run, monkeypatch, native=True)
    assert len(in_c["pnl"]) > 20
    assert in_c == columns_of(run_(), monkeypatch, native=False)
    assert {t % 60_000 for t in in_c["close_timestamp"]} == {
        0,
        30_000,
    }  # the late ones were read, not computed
    assert minute_grid(candles(random_market(8, 3_000, gaps=False)))

"""The vectorised strategy form simulates the same lifecycle as get_signal (issue: performance)."""

from __future__ import annotations

import numpy as np
import pytest

from btfarm.shared.demo import sma_cross_signal, sma_cross_signals
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.errors import SignalError
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, StrategySchema
from btfarm.shared.stats import compute_statistics

from .market import Script, candles, flat, minute, run
from .sim_data import GRID53, GRID53_IDS, load_sim

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sim():
    return load_sim("sim-vec")


def closed(run_):
    return [
        (
            c["signal"]["pending_at"],
            c["signal"]["position"],
            c["signal"]["price_open"],
            c["close_timestamp"],
            c["close_reason"],
            c["pnl"]["pnl_percentage"],
        )
        for c in run_.run()
    ]


def test_grid53_has_53_variants():
    assert len(GRID53) == 53


@pytest.mark.parametrize("fast, slow", GRID53, ids=GRID53_IDS)
def test_both_forms_give_identical_closed_signals(sim, fast, slow):
    exchange, frame, candles = sim
    strategy = StrategySchema(
        strategy_name="sma",
        interval="5m",
        get_signal=sma_cross_signal,
        get_signals=sma_cross_signals,
        params={"fast": fast, "slow": slow},
    )
    event = closed(BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, form="event"))
    walked = closed(
        BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, form="vector", batch_lane=False)
    )
    batched = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, form="vector")
    assert len(event) > 50
    assert walked == event
    assert closed(batched) == event
    assert batched.lane == "batch"  # a quiet run takes the batch lane
    stats_only = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, stats_only=True)
    assert stats_only.run() == [] and stats_only.lane == "batch"
    assert stats_only.statistics() == compute_statistics(batched.closed)


def intents_of(signals):
    """A get_signals returning the scripted signal dicts at their minutes."""

    def get_signals(candles, price, params):
        n = len(candles)
        out = {
            "position": np.zeros(n),
            "price_take_profit": np.full(n, np.nan),
            "price_stop_loss": np.full(n, np.nan),
            "minute_estimated_time": np.full(n, 60.0),
        }
        for i, sig in signals.items():
            out["position"][i] = 1 if sig["position"] == "long" else -1
            out["price_take_profit"][i] = sig["price_take_profit"]
            out["price_stop_loss"][i] = sig["price_stop_loss"]
            out["minute_estimated_time"][i] = sig.get("minute_estimated_time", 60)
        return out

    return get_signals


LONG = {
    "position": "long",
    "price_take_profit": 101.0,
    "price_stop_loss": 99.0,
    "minute_estimated_time": 60,
}


@pytest.mark.parametrize(
    "signals, low_at",
    [
        ({5: LONG, 23: LONG}, {22: 98.9, 30: 98.9}),  # resume off the grid after a close
        ({5: LONG, 7: LONG}, {6: 98.9}),  # close inside the same bucket: the next call waits
        ({5: {**LONG, "price_take_profit": 99.5}, 10: LONG}, {}),  # rejected: bucket used up
    ],
)
def test_vector_walk_follows_the_throttle_rules(signals, low_at):
    m = flat(80)
    for i, low in low_at.items():
        m["low"][i] = low
    _, by_event = run(m, Script(signals), interval="5m", start_minute=5, end_minute=60)
    frame = FrameSchema(frame_name="f", interval="1m", start_date=minute(5), end_date=minute(60))
    strategy = StrategySchema(strategy_name="s", interval="5m", get_signals=intents_of(signals))
    by_vector: dict[str, list] = {}
    BacktestRun(
        strategy,
        dataframe_exchange("x", {}),
        frame,
        "SYM",
        candles(m),
        cfg=EngineConfig(),
        listener=lambda kind, record: by_vector.setdefault(kind, []).append(record),
    ).run()

    def summary(events):
        return (
            [
                (c["signal"]["scheduled_at"], c["close_timestamp"], c["close_reason"])
                for c in events.get("closed", [])
            ],
            [e["timestamp"] for e in events.get("error", [])],
        )

    assert summary(by_vector) == summary(by_event)
    assert by_event.get("closed")


def test_bad_intents_shape_is_a_clear_error(sim):
    exchange, frame, candles = sim
    strategy = StrategySchema(
        strategy_name="bad",
        interval="5m",
        get_signals=lambda c, p, params: {
            "position": np.zeros(3),
            "price_take_profit": 1,
            "price_stop_loss": 1,
        },
    )
    with pytest.raises(SignalError, match=r"get_signals\['position'\] has shape \(3,\)"):
        BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run()


def dense_of(get_signals):
    """The same intents as ``get_signals`` gives in the sparse form, one entry per candle."""

    def dense(candles_, price, params):
        sparse = get_signals(candles_, price, params)
        n, rows = len(candles_), sparse["rows"]
        out = {"position": np.zeros(n)}
        for key in ("position", "price_take_profit", "price_stop_loss"):
            out[key] = np.zeros(n)
            out[key][rows] = sparse[key]
        out["minute_estimated_time"] = sparse["minute_estimated_time"]
        return out

    return dense


@pytest.mark.parametrize("fast, slow", [(5, 20), (10, 30), (20, 60)])
def test_the_sparse_and_dense_forms_give_the_same_signals_on_every_lane(sim, fast, slow):
    exchange, frame, candles = sim
    results = []
    for get_signals in (sma_cross_signals, dense_of(sma_cross_signals)):
        strategy = StrategySchema(
            strategy_name="sma",
            interval="5m",
            get_signals=get_signals,
            params={"fast": fast, "slow": slow},
        )
        walked = closed(
            BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, batch_lane=False)
        )
        batched = closed(BacktestRun(strategy, exchange, frame, "SIMUSDT", candles))
        stats_only = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, stats_only=True)
        stats_only.run()
        results.append((walked, batched, stats_only.statistics()))
    assert len(results[0][0]) > 50
    assert results[0] == results[1]
    assert results[0][0] == results[0][1]


@pytest.mark.parametrize(
    "rows, levels, message",
    [
        (np.array([5, 3]), 2, r"strictly increasing candle indices"),
        (np.array([-1, 3]), 2, r"strictly increasing candle indices"),
        (np.array([1.0, 3.0]), 2, r"1-D array of candle indices \(integers\)"),
        (
            np.array([1, 3]),
            3,
            r"get_signals\['price_take_profit'\] has shape \(3,\); expected \(2,\), one per "
            r"entry of 'rows'",
        ),
    ],
)
def test_bad_sparse_intents_are_a_clear_error(sim, rows, levels, message):
    exchange, frame, candles = sim
    strategy = StrategySchema(
        strategy_name="bad",
        interval="5m",
        get_signals=lambda c, p, params: {
            "rows": rows,
            "position": 1,
            "price_take_profit": np.ones(levels),
            "price_stop_loss": 1.0,
        },
    )
    with pytest.raises(SignalError, match=message):
        BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run()


@pytest.mark.parametrize(
    "position",
    [
        np.array([1, 0, -3, 2], dtype=np.int8),
        np.array([1, 0, -3, 2]),
        np.array([1.0, np.nan, -3.0, 2.0]),
        np.array([1, 0, 3, 2], dtype=np.uint8),
    ],
)
def test_sparse_positions_of_any_number_type_give_the_same_intents(position):
    from btfarm.shared.engine.intents import _sparse

    rows = np.array([3, 7, 9, 12])
    intents = _sparse(
        {
            "rows": rows,
            "position": position,
            "price_take_profit": np.arange(4.0) + 10,
            "price_stop_loss": 5.0,
        },
        20,
        "test",
    )
    expected_side = np.sign(np.nan_to_num(position.astype(float)))
    taken = expected_side != 0
    assert intents.side.dtype == np.int8 and intents.side.tolist() == expected_side[taken].tolist()
    assert intents.rows.tolist() == rows[taken].tolist()
    assert intents.row_take_profit.tolist() == (np.arange(4.0) + 10)[taken].tolist()


def test_float_positions_read_as_their_sign_with_nan_as_none():
    """A float ``position`` (dense or sparse) is read as np.sign(np.nan_to_num(position)):
    NaN takes no position, infinities and the tiniest numbers take their side."""
    from btfarm.shared.engine.intents import _sides

    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e308, -2.5])
    drawn = np.random.default_rng(31).choice(specials, 1000) * np.random.default_rng(7).random(1000)
    for position in (specials, drawn):
        got = _sides(position)
        assert got.dtype == np.int8
        assert got.tolist() == np.sign(np.nan_to_num(position)).astype(np.int8).tolist()

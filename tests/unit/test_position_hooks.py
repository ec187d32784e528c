"""SEMANTICS.md 9, the per-candle hook: when it runs, in which order, what it sees, the lag.

Prices are one per minute (tests/unit/position_market.py): the hook of
candle u has current_price P[u], and get_average_price inside it is P[u-1].
"""

from __future__ import annotations

import math

import pytest

from btfarm.orchestrator import (
    commit_breakeven,
    commit_partial_profit,
    commit_trailing_stop,
    get_average_price,
    get_candles,
    get_date,
)
from btfarm.shared import events
from btfarm.shared.demo import sma_cross_signal, sma_cross_signals
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.errors import UsageError
from btfarm.shared.schemas import StrategySchema

from .market import minute
from .position_market import LONG, SHORT, drive, only_closed, prices, when_ms
from .sim_data import load_sim

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_listeners():
    events.clear()
    yield
    events.clear()


def test_the_hook_runs_from_the_entry_candle_to_the_one_before_the_close():
    seen = []
    m = prices(40, {15: 102.5})  # VWAP_15 >= TP 102: closes at 15
    _, ev = drive(
        m,
        {10: LONG},
        {"on_active_ping": lambda s, sig, price, when, bt: seen.append(when_ms(when))},
    )
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"]) == ("take_profit", minute(15))
    assert seen == [minute(k) for k in range(10, 15)]  # the entry candle on, never the closing one


def test_order_on_one_candle_listeners_first_then_callbacks_commits_last():
    log = []
    m = prices(
        40, {11: 100.875}
    )  # candle 11: +0.875 %, past breakeven (0.6 %), 43.75 % of the way to TP

    def ping(symbol, signal, price, when, backtest):
        log.append(("on_active_ping", price))
        if when_ms(when) == minute(11):
            assert commit_trailing_stop(symbol, -1.0, price)  # SL 98 -> 99

    events.listen_active_ping(lambda e: log.append(("listen_active_ping", e["current_price"])))
    events.listen_breakeven_available(
        lambda e: log.append(("listen_breakeven_available", e["timestamp"]))
    )
    events.listen_partial_profit_available(lambda e: log.append(("level", e["level"])))
    events.listen_strategy_commit(lambda e: log.append(("commit", e["action"], e["timestamp"])))
    callbacks = {
        "on_active_ping": ping,
        "on_breakeven": lambda s, sig, price, when, bt: log.append(
            ("on_breakeven", sig["price_stop_loss"])
        ),
        "on_partial_profit": lambda s, sig, price, pct, when, bt: log.append(
            ("on_partial_profit", pct)
        ),
    }
    drive(m, {10: LONG}, callbacks, end_minute=12)
    at_11 = log[2 : log.index(("commit", "trailing_stop", minute(11))) + 1]
    assert log[:2] == [
        ("listen_active_ping", 100.0),
        ("on_active_ping", 100.0),
    ]  # the entry candle: neither side
    assert at_11 == [
        ("listen_active_ping", 100.875),
        ("on_active_ping", 100.875),
        ("listen_breakeven_available", minute(11)),
        ("on_breakeven", 99.0),  # the trail is seen at once
        ("level", 10),
        ("level", 20),
        ("level", 30),
        ("level", 40),
        ("on_partial_profit", 43.75),
        ("commit", "trailing_stop", minute(11)),
    ]
    # candle 12: no new level, breakeven fired once per position; the raw percent every profit candle
    assert log[len(at_11) + 2 :] == [
        ("listen_active_ping", 100.875),
        ("on_active_ping", 100.875),
        ("on_partial_profit", 43.75),
    ]


def test_loss_side_levels_and_callback_with_the_raw_percent():
    log = []
    m = prices(40, {11: 99.5, 12: 98.875})  # 25 % then 56.25 % of the way to SL 98
    events.listen_partial_loss_available(
        lambda e: log.append(("level", e["level"], e["current_price"]))
    )
    callbacks = {
        "on_partial_loss": lambda s, sig, price, pct, when, bt: log.append(("pct", round(pct, 6))),
        "on_partial_profit": lambda *a: log.append("profit?"),
    }
    drive(m, {10: LONG}, callbacks, end_minute=13)
    assert log == [
        ("level", 10, 99.5),
        ("level", 20, 99.5),
        ("pct", 25.0),
        ("level", 30, 98.875),
        ("level", 40, 98.875),
        ("level", 50, 98.875),
        ("pct", 56.25),
        ("pct", 56.25),
    ]


def test_a_short_mirrors_the_sides():
    log = []
    m = prices(
        40, {11: 99.5, 12: 100.5}
    )  # a short at 100: 99.5 is its profit side, 100.5 its loss side
    callbacks = {
        "on_partial_loss": lambda s, sig, price, pct, when, bt: log.append(("loss", pct)),
        "on_partial_profit": lambda s, sig, price, pct, when, bt: log.append(("profit", pct)),
    }
    drive(m, {10: SHORT}, callbacks, end_minute=12)
    assert log == [("profit", 25.0), ("loss", 25.0)]


def test_events_carry_the_fields_of_semantics_9():
    got = {}
    m = prices(40, {11: 101.0})
    for name in ("active_ping", "breakeven_available", "partial_profit_available"):
        getattr(events, f"listen_{name}_once")(
            lambda e: True, lambda e, name=name: got.setdefault(name, e)
        )
    drive(m, {10: LONG}, end_minute=12)
    assert got["partial_profit_available"]["level"] == 10
    for e in got.values():
        assert {
            "symbol",
            "strategy_name",
            "exchange_name",
            "frame_name",
            "current_price",
            "timestamp",
            "signal",
            "backtest",
        } <= set(e)
        assert (e["symbol"], e["strategy_name"], e["backtest"]) == ("SYM", "s", True)
    assert got["breakeven_available"]["timestamp"] == minute(11)
    signal = got["active_ping"]["signal"]
    assert (
        signal["price_open"],
        signal["original_price_stop_loss"],
        signal["entries"],
        signal["partials"],
    ) == (100.0, 98.0, [{"price": 100.0, "cost": 100.0, "timestamp": minute(10)}], [])


def test_commits_are_priced_one_candle_behind_the_hooks_current_price():
    seen = {}
    m = prices(40, {11: 100.8, 12: 101.2})

    def ping(symbol, signal, price, when, backtest):
        if when_ms(when) == minute(12):
            seen["inside"] = (
                price,
                get_average_price(symbol),
                get_date(),
                get_candles(symbol, "1m", 1).close[-1],
            )
            assert commit_partial_profit(symbol, 25)

    _, ev = drive(m, {10: LONG}, {"on_active_ping": ping}, end_minute=14)
    assert seen["inside"][:2] == (101.2, 100.8)  # current_price is VWAP_12, the price p is VWAP_11
    assert (
        when_ms(seen["inside"][2]) == minute(12) and seen["inside"][3] == 100.8
    )  # candle 12 not visible
    partial = only_closed(ev)["signal"]["partials"][0]
    assert partial == {
        "type": "profit",
        "percent": 25,
        "current_price": 100.8,
        "cost_basis_at_close": 100.0,
        "entry_count_at_close": 1,
        "timestamp": minute(12),
    }


def test_breakeven_from_on_breakeven_is_refused_then_applied_on_the_next_candle():
    results = []
    m = prices(40, {11: 100.7, 14: 99.9})

    def on_breakeven(symbol, signal, price, when, backtest):
        results.append(("on_breakeven", when_ms(when), commit_breakeven(symbol)))

    def ping(symbol, signal, price, when, backtest):
        if results and not results[-1][2]:
            results.append(("ping", when_ms(when), commit_breakeven(symbol)))

    _, ev = drive(m, {10: LONG}, {"on_breakeven": on_breakeven, "on_active_ping": ping})
    # at 11 p = P[10] = 100 is short of the threshold 100.6; at 12 p = P[11] = 100.7 passes
    assert results == [("on_breakeven", minute(11), False), ("ping", minute(12), True)]
    c = only_closed(ev)  # the stop at the entry: candle 14's low 99.9 touches it
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "stop_loss",
        minute(14),
        100.0,
    )
    assert (
        c["signal"]["price_stop_loss"] == 100.0 and c["signal"]["original_price_stop_loss"] == 98.0
    )


def test_a_commit_changes_the_rest_of_the_candle_and_the_next_candles_checks():
    seen = []
    m = prices(40, {11: 100.8})
    m["low"][13] = 100.4  # touches a stop trailed to 100.5, not the original 98

    def ping(symbol, signal, price, when, backtest):
        if when_ms(when) == minute(11):
            assert commit_trailing_stop(symbol, -2.5, price)  # 2 % + (-2.5) -> SL at 100.5

    callbacks = {
        "on_active_ping": ping,
        "on_partial_profit": lambda s, sig, p, pct, when, bt: seen.append(sig["price_stop_loss"]),
    }
    _, ev = drive(m, {10: LONG}, callbacks)
    c = only_closed(ev)
    stop = 100 * (1 - (2 - 2.5) / 100)  # 100.5 (to the last bit as the rule computes it)
    assert seen[0] == stop  # the same candle's later hook sees the trailed stop
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "stop_loss",
        minute(13),
        stop,
    )
    assert c["pnl"]["pnl_percentage"] == pytest.approx(
        (100.5 * 0.999 - 100.1) / 100.1 * 100 - 0.1 * (1 + 100.5 * 0.999 / 100.1)
    )


def test_a_commit_outside_a_hook_is_one_clear_error():
    with pytest.raises(
        UsageError,
        match=r"commit_trailing_stop was called outside a position hook "
        r"\(no strategy runs in this thread\).*on_active_ping.*listen_active_ping",
    ):
        commit_trailing_stop("SYM", -1.0, 100.0)
    caught = []

    def get_signal(symbol, when):
        try:
            commit_breakeven(symbol)
        except UsageError as exc:
            caught.append(str(exc))
        return None

    from btfarm.shared.engine.backtest_run import BacktestRun as Run
    from btfarm.shared.exchanges import dataframe_exchange
    from btfarm.shared.schemas import FrameSchema

    from .market import candles

    frame = FrameSchema(frame_name="f", interval="1m", start_date=minute(0), end_date=minute(3))
    Run(
        StrategySchema(strategy_name="s", interval="1m", get_signal=get_signal),
        dataframe_exchange("x", {}),
        frame,
        "SYM",
        candles(prices(6)),
    ).run()
    assert (
        caught
        and "commit_breakeven was called outside a position hook (get_signal and the other "
        "callbacks cannot commit)"
        in caught[0]
    )


def test_a_listener_of_the_close_cannot_commit():
    caught = []

    def on_close(symbol, signal, price, backtest):
        try:
            commit_trailing_stop(symbol, -1.0, price)
        except UsageError as exc:
            caught.append(str(exc))

    m = prices(40, {15: 102.5})
    _, ev = drive(m, {10: LONG}, {"on_active_ping": lambda *a: None, "on_close": on_close})
    assert only_closed(ev)["close_reason"] == "take_profit"
    assert len(caught) == 1 and "outside a position hook" in caught[0]


def test_a_raising_hook_is_reported_and_the_position_goes_on():
    m = prices(40, {15: 102.5})

    def ping(symbol, signal, price, when, backtest):
        raise RuntimeError("boom")

    _, ev = drive(m, {10: LONG}, {"on_active_ping": ping})
    assert only_closed(ev)["close_reason"] == "take_profit"
    assert (
        len(ev["error"]) == 5
        and "callback on_active_ping raised RuntimeError: boom" in ev["error"][0]["message"]
    )


# ---- a strategy without hooks, and hooks that do nothing, give what they gave before ----


def _closed(run):
    return run.run()


@pytest.fixture(scope="module")
def sim():
    return load_sim("sim-hooks")


def test_hooks_that_commit_nothing_give_the_numpy_scans_results_exactly(sim):
    exchange, frame, candles = sim
    plain = StrategySchema(strategy_name="sma", interval="5m", get_signal=sma_cross_signal)
    pinged = StrategySchema(
        strategy_name="sma",
        interval="5m",
        get_signal=sma_cross_signal,
        callbacks={"on_active_ping": lambda *a: None},
    )
    before = _closed(BacktestRun(plain, exchange, frame, "SIMUSDT", candles))
    with_callback = _closed(BacktestRun(pinged, exchange, frame, "SIMUSDT", candles))
    events.listen_strategy_commit(lambda e: None)  # a listener alone walks the candles too
    walked = BacktestRun(plain, exchange, frame, "SIMUSDT", candles)
    with_listener = _closed(walked)
    assert walked.core.manages_positions() and len(before) > 300
    assert with_callback == before
    assert with_listener == before


def test_the_vector_form_runs_the_same_hooks(sim):
    exchange, frame, candles = sim

    def trail(symbol, signal, price, when, backtest):
        if (price - signal["price_open"]) / signal["price_open"] * (
            1 if signal["position"] == "long" else -1
        ) > 0.003:
            commit_trailing_stop(symbol, -0.7, price)

    strategy = StrategySchema(
        strategy_name="sma",
        interval="5m",
        get_signal=sma_cross_signal,
        get_signals=sma_cross_signals,
        callbacks={"on_active_ping": trail},
    )
    event = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, form="event")
    vector = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, form="vector")
    by_vector, by_event = _closed(vector), _closed(event)
    for record in by_event:
        record["signal"]["note"] = None  # (the vector form's signals have no note)
    assert by_vector == by_event
    assert (event.lane, vector.lane) == ("event", "vector")  # hooks keep a run off the batch lane
    assert event.core.commit_counts["trailing_stop"][0] > 50


def test_a_listener_keeps_a_quiet_vector_run_off_the_batch_lane(sim):
    exchange, frame, candles = sim
    strategy = StrategySchema(strategy_name="sma", interval="5m", get_signals=sma_cross_signals)
    quiet = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles)
    quiet.run()
    assert quiet.lane == "batch"
    events.listen_active_ping(lambda e: None)
    run = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles)
    run.run()
    assert run.lane == "vector"


def test_no_expiry_in_the_candle_walk_closes_only_by_levels_or_the_data_end():
    from btfarm.shared.engine_config import EngineConfig

    cfg = EngineConfig(CC_AVG_PRICE_CANDLES_COUNT=1, CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)
    m = prices(3000)
    _, ev = drive(
        m,
        {10: {**LONG, "minute_estimated_time": math.inf}},
        {"on_active_ping": lambda *a: None},
        cfg=cfg,
        end_minute=2998,
    )
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"]) == ("time_expired", minute(2999))
    assert c["signal"]["minute_estimated_time"] == math.inf

"""shared/engine/portfolio_walk.py and portfolio_run.py: members walked minute by minute together.

Two kinds of market: the reference data (examples/data, SIMUSDT) for members whose trades are
compared with their backtests alone, and flat markets (portfolio_market.py) where every time
follows by hand.
"""

from __future__ import annotations

import pytest

from btfarm.shared.demo import pullback_signal, sma_cross_signal, sma_cross_signals
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine.portfolio_run import PortfolioRun
from btfarm.shared.exchanges import csv_exchange
from btfarm.shared.registry import (
    add_exchange,
    add_frame,
    add_portfolio,
    add_risk,
    add_strategy,
    get_exchange,
    get_frame,
    get_strategy,
)
from tests.support.reference_data import SIM_CSV

from .portfolio_market import (
    START,
    Script,
    long_signal,
    member,
    minute,
    opened_minutes,
    portfolio_run,
    register_market,
)
from .risk_market import every_minute

pytestmark = pytest.mark.unit

SYMBOL = "SIMUSDT"


@pytest.fixture(scope="module")
def reference():
    add_exchange(csv_exchange("pf-sim", files={SYMBOL: SIM_CSV}), override=True)
    add_frame(
        frame_name="pf-jan",
        interval="1m",
        start_date="2025-01-01T00:00:00Z",
        end_date="2025-01-30T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name="pf-sma",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        override=True,
    )
    add_strategy(
        strategy_name="pf-sma-vector",
        interval="5m",
        get_signals=sma_cross_signals,
        params={"fast": 5, "slow": 20},
        override=True,
    )
    add_strategy(
        strategy_name="pf-pullback", interval="15m", get_signal=pullback_signal, override=True
    )


def alone(strategy_name: str, **options) -> list[dict]:
    """The strategy's closed signals in a backtest of it alone (no risk)."""
    exchange, frame = get_exchange("pf-sim"), get_frame("pf-jan")
    from btfarm.shared.engine.backtest_run import load_frame_candles

    run = BacktestRun(
        get_strategy(strategy_name),
        exchange,
        frame,
        SYMBOL,
        load_frame_candles(exchange, frame, SYMBOL),
        **options,
    )
    return run.run()


def trade(record: dict) -> tuple:
    """What makes two closed signals the same trade."""
    return (
        record["strategy_name"],
        record["signal"]["id"],
        record["signal"]["pending_at"],
        record["signal"]["price_open"],
        record["close_timestamp"],
        record["close_reason"],
        record["pnl"]["pnl_percentage"],
    )


def reference_portfolio(names: list[str], risk_name: str | None = None, **extra) -> PortfolioRun:
    schema = add_portfolio(
        portfolio_name="pf-ref",
        exchange_name="pf-sim",
        frame_name="pf-jan",
        members=[{"symbol": SYMBOL, "strategy_name": n} for n in names],
        risk_name=risk_name,
        override=True,
        **extra,
    )
    return PortfolioRun(schema).run()


def never_two_at_once(closed: list[dict]) -> bool:
    """No position opened while another was open (a position holds its candles pending_at ..
    close_timestamp)."""
    spans = sorted((c["signal"]["pending_at"], c["close_timestamp"]) for c in closed)
    return all(later[0] > earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


# ---- members that share nothing are their backtests alone ------------------------------------


def test_members_without_a_shared_risk_trade_as_they_do_alone(reference):
    """Three members (get_signal at 5m and 15m, get_signals) with nothing shared: each member's
    trades are, one for one, those of its backtest alone, and the portfolio's closed signals
    are all of them, in close order."""
    names = ["pf-sma", "pf-sma-vector", "pf-pullback"]
    run = reference_portfolio(names)
    for k, name in enumerate(names):
        expected = [trade(c) for c in alone(name, batch_lane=False)]
        assert expected and [trade(c) for c in run.members[k].closed] == expected
    assert [m.intents is not None for m in run.members] == [False, True, False]  # both lanes ran
    assert sorted(map(trade, run.closed)) == sorted(trade(c) for m in run.members for c in m.closed)
    closes = [c["close_timestamp"] for c in run.closed]
    assert closes == sorted(closes)
    assert run.walk.max_open == 3 and run.walk.risk_events == 0


def test_a_member_asked_through_its_core_trades_as_it_does_alone(reference):
    """on_idle (called at asks, so not strict) keeps a get_signal member off the inlined ask:
    it is asked through StrategyCore.tick, in the portfolio as alone."""
    idle = []
    add_strategy(
        strategy_name="pf-sma-idle",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        callbacks={"on_idle": lambda *args: idle.append(1)},
        override=True,
    )
    run = reference_portfolio(["pf-sma-idle", "pf-pullback"])
    assert [(m.idle_ask, m.strict) for m in run.members] == [(False, False), (True, False)]
    asked = len(idle)
    assert [trade(c) for c in run.members[0].closed] == [trade(c) for c in alone("pf-sma-idle")]
    assert asked == len(idle) - asked > 0  # as many idle asks as the backtest alone


def test_a_member_with_callbacks_is_walked_tick_by_tick_to_the_same_trades(reference):
    add_strategy(
        strategy_name="pf-sma-called",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        callbacks={"on_close": lambda *args: None},
        override=True,
    )
    run = reference_portfolio(["pf-sma-called", "pf-pullback"])
    assert [m.strict for m in run.members] == [True, False]
    assert [trade(c)[2:] for c in run.members[0].closed] == [
        trade(c)[2:] for c in alone("pf-sma")
    ]  # (ids name the strategy)
    assert [trade(c) for c in run.members[1].closed] == [trade(c) for c in alone("pf-pullback")]


# ---- one position at a time ------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["max_positions", "validation"])
def test_two_strategies_sharing_a_one_position_risk(reference, rule):
    """sma-cross and pullback under one risk that allows one position (as data, or as a Python
    validation on active_position_count): the portfolio never holds two positions at once, signals
    are refused, and each member trades as it does alone up to its first rejection: every trade
    it opened before then is the same trade."""
    if rule == "max_positions":
        add_risk(risk_name="pf-one", max_positions=1, override=True)
    else:
        add_risk(
            risk_name="pf-one",
            override=True,
            validations=[
                lambda p: "one position at a time" if p["active_position_count"] >= 1 else None
            ],
        )
    run = reference_portfolio(["pf-sma", "pf-pullback"], risk_name="pf-one")
    assert never_two_at_once(run.closed)
    assert run.walk.max_open == 1
    assert run.walk.risk_events > 0
    rejected_at = run.walk.first_rejection_ms
    assert set(rejected_at) == {0, 1}  # both members were refused at some point
    for k, name in enumerate(["pf-sma", "pf-pullback"]):
        first = rejected_at[k]
        before = [trade(c) for c in run.members[k].closed if c["signal"]["pending_at"] < first]
        expected = [trade(c) for c in alone(name) if c["signal"]["pending_at"] < first]
        assert expected and before == expected
        # and the rejection changed what followed: the rest is not the backtest alone's
        assert [trade(c) for c in run.members[k].closed] != [trade(c) for c in alone(name)]
    assert run.members[0].core.rejected + run.members[1].core.rejected == run.walk.risk_events


# ---- lockstep, by hand on flat markets --------------------------------------------------------


def test_within_a_minute_the_first_listed_member_is_asked_first():
    """A and B both offer a long at every minute under a one-position risk. Listed A, B: A opens
    at 15 and, its position over with candle 20, again at 21; B is refused every minute. Listed
    B, A: the reverse."""
    register_market()
    member("pf-a", Script(every_minute()))
    member("pf-b", Script(every_minute()))
    risk = {"risk_name": "pf-flat-one", "max_positions": 1}
    run, _ = portfolio_run([("SA", "pf-a"), ("SB", "pf-b")], risk=risk)
    assert opened_minutes(run, 0)[:3] == [15, 21, 27] and opened_minutes(run, 1) == []
    run, _ = portfolio_run([("SB", "pf-b"), ("SA", "pf-a")], risk=risk)
    assert opened_minutes(run, 0)[:3] == [15, 21, 27] and opened_minutes(run, 1) == []
    assert run.members[0].core.name == "pf-b"


def test_a_risk_sees_the_other_members_positions_at_the_same_simulated_time():
    """A opens at 15 (open through candle 20). B's validation is asked at 15 .. 20 seeing A's
    position (B is refused, so asked again the next minute), and at 21 sees nothing and opens."""
    register_market()
    seen = []

    def one_at_a_time(payload):
        seen.append(
            (
                (payload["timestamp"] - minute(0)) // 60_000,
                payload["strategy_name"],
                [p["strategy_name"] for p in payload["active_positions"]],
            )
        )
        return "one at a time" if payload["active_position_count"] else None

    member("pf-a", Script({START: long_signal()}))
    member("pf-b", Script(every_minute()))
    run, emitted = portfolio_run(
        [("SA", "pf-a"), ("SB", "pf-b")],
        risk={"risk_name": "pf-seen", "validations": [one_at_a_time]},
    )
    assert seen[0] == (15, "pf-a", [])
    assert seen[1:8] == [(m, "pf-b", ["pf-a"]) for m in range(15, 21)] + [(21, "pf-b", [])]
    rejections = [rec for kind, rec in emitted if kind == "risk"]
    assert [(r["timestamp"] - minute(0)) // 60_000 for r in rejections][:6] == list(range(15, 21))
    assert opened_minutes(run, 1)[0] == 21


def test_the_largest_number_of_positions_open_at_once():
    """A opens at 15 (through candle 20), B at 17 (through 22), C at 21 (through 26), D at 21 too:
    open at 15: 1, 17: 2, 21: A is over, B, C and D: 3, 23: 2. The most is 3, first at 21. Under a
    risk of max_positions 2, D is refused at 21 and 22 and opens at 23."""
    register_market()
    member("pf-a", Script({START: long_signal()}))
    member("pf-b", Script({17: long_signal()}))
    member("pf-c", Script({21: long_signal()}))
    member("pf-d", Script({m: long_signal() for m in range(21, 40)}))
    members = [("SA", "pf-a"), ("SB", "pf-b"), ("SC", "pf-c"), ("SD", "pf-d")]
    run, _ = portfolio_run(members)
    assert (run.walk.max_open, (run.walk.max_open_at - minute(0)) // 60_000) == (3, 21)
    run, _ = portfolio_run(members, risk={"risk_name": "pf-two", "max_positions": 2})
    assert run.walk.max_open == 2
    assert opened_minutes(run, 3)[0] == 23
    assert run.walk.rejections_by == {("SD:pf-d", "pf-two", "max_positions"): 2}


def test_a_members_callbacks_run_in_simulated_order_with_the_other_members():
    """A (with on_close) opens at 15 and closes with candle 20; B's get_signal is asked every
    minute. A's on_close runs after B's call at 20 and before B's call at 21, as it would live."""
    register_market()
    log = []

    class Logged(Script):
        def __call__(self, symbol, when):
            log.append(("B asked", (int(when.timestamp() * 1000) - minute(0)) // 60_000))
            return super().__call__(symbol, when)

    member(
        "pf-a",
        Script({START: long_signal()}),
        callbacks={
            "on_close": lambda symbol, signal, price, backtest: log.append(("A closed", None))
        },
    )
    member("pf-b", Logged({}))
    run, _ = portfolio_run([("SA", "pf-a"), ("SB", "pf-b")])
    assert run.members[0].strict and not run.members[1].strict
    at = log.index(("A closed", None))
    assert log[at - 1] == ("B asked", 20) and log[at + 1] == ("B asked", 21)


def test_events_reach_the_listener_in_simulated_order():
    register_market()
    member("pf-a", Script({START: long_signal(), 30: long_signal()}))
    member("pf-b", Script({17: long_signal()}))
    _, emitted = portfolio_run([("SA", "pf-a"), ("SB", "pf-b")])
    order = [
        (kind, rec["strategy_name"], (rec["timestamp"] - minute(0)) // 60_000)
        for kind, rec in emitted
        if kind in ("opened", "closed")
    ]
    assert order == [
        ("opened", "pf-a", 15),
        ("opened", "pf-b", 17),
        ("closed", "pf-a", 20),
        ("closed", "pf-b", 22),
        ("opened", "pf-a", 30),
        ("closed", "pf-a", 35),
    ]


def test_a_stop_ends_the_walk_at_a_tick():
    register_market(minutes=6000)
    member("pf-a", Script(every_minute(6000)))
    schema = add_portfolio(
        portfolio_name="pf-stop",
        exchange_name="flat-x",
        frame_name="flat-f",
        members=[{"symbol": "SA", "strategy_name": "pf-a"}],
        override=True,
    )
    run = PortfolioRun(schema)
    done = list(run.steps(lambda: True))
    assert run.stopped and done[-1] <= 2048 < run.total_ticks  # asked at the first progress yield
    assert 0 < opened_minutes(run, 0)[-1] < START + 2048


def test_a_runs_record_is_json_and_the_same_for_the_same_schema_and_params(reference):
    """What a worker task would return for a portfolio variant: plain JSON, equal run to run."""
    import json

    from btfarm.shared.daily_pnl import dense

    add_risk(risk_name="pf-one", max_positions=1, override=True)
    schema = add_portfolio(
        portfolio_name="pf-rec",
        exchange_name="pf-sim",
        frame_name="pf-jan",
        risk_name="pf-one",
        capital=1000,
        override=True,
        members=[
            {"symbol": SYMBOL, "strategy_name": "pf-sma"},
            {"symbol": SYMBOL, "strategy_name": "pf-pullback"},
        ],
    )
    params = {"max_positions": 2, "members": {f"{SYMBOL}:pf-sma": {"fast": 5, "slow": 20}}}
    first, second = PortfolioRun(schema, params).run(), PortfolioRun(schema, params).run()
    record = first.record()
    assert json.loads(json.dumps(record)) == record == second.record()
    assert record["max_open_positions"] == 2 and record["params"] == params
    assert record["stats"]["total_signals"] == len(first.closed)
    assert [m["stats"]["total_signals"] for m in record["members"]] == [
        len(m.closed) for m in first.members
    ]
    daily = dense(record["daily_pnl"])
    assert daily.sum() == pytest.approx(sum(c["pnl"]["pnl_percentage"] for c in first.closed))

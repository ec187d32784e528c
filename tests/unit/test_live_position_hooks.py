"""Live's managed positions at the core: the journaled hook (PositionHook.run_live) is the
backtest's hook, and a crash right after any moment it persisted loses nothing and repeats
nothing.

The core is driven tick by tick over the reference candles with only closed candles
visible, as ``Live`` drives it. ``checkpoint`` stands for Live's store: it keeps a JSON round
trip of every state persisted, with how much the strategy had heard by then. "The process
died right after checkpoint k" is a new core restored from that state, ticked on from the
same minute with fresh hooks: what it hears must be exactly what the uninterrupted run heard
after k, up to the close of the position that was open.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from btfarm.orchestrator import (
    commit_average_buy,
    commit_breakeven,
    commit_cancel_scheduled,
    commit_close_pending,
    commit_partial_loss,
    commit_partial_profit,
    commit_trailing_stop,
    commit_trailing_take,
    get_average_price,
    get_candles,
    get_date,
)
from btfarm.shared import events
from btfarm.shared.engine.lifecycle import StrategyCore
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.position_plan import PositionPlan
from btfarm.shared.schemas import StrategySchema
from tests.support import position_reference as ref

from .market import Script, candles, minute
from .position_market import CFG, prices
from .sim_data import load_sim

pytestmark = pytest.mark.unit

FIRST, LAST = 40, 40 + 16 * 60  # the minutes (candle indexes of the reference file) ticked
# rungs close together, so one candle's step often makes several commits (a crash between them
# must not lose the later ones)
PLAN = PositionPlan(
    trailing_stop=[(0.15, -0.5), (0.2, -0.6), (0.25, -0.7)],
    trailing_take=[(-0.4, -0.3)],
    partial_profit=[(20, 25), (30, 25), (60, 50)],
    partial_loss=[(30, 20), (40, 30)],
    breakeven=True,
    average_buy={"step": 0.3, "max_entries": 4, "cost": 50.0},
    close_losing_after=45,
)


@pytest.fixture(scope="module")
def sim_candles():
    return load_sim("sim-live-hooks")[2]


@pytest.fixture(autouse=True)
def _no_listeners():
    events.clear()
    yield
    events.clear()


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class Strategy:
    """Hooks in every place SEMANTICS 9 has, each making at most one commit, as its last act,
    decided from what it is given (the signal, the price): a restarted process decides alike.
    Everything heard is kept, in order, in ``heard`` of the current ``Strategy``."""

    current: Strategy | None = None

    def __init__(self, with_commits: bool) -> None:
        self.heard: list[tuple] = []
        self.commits = with_commits

    def hear(self, *item) -> None:
        self.heard.append(item)

    # ---- callbacks ---------------------------------------------------------

    def get_signal(self, symbol, when):
        closes = get_candles(symbol, "1m", 35).close.tolist()
        return ref.cross_entry(closes, get_average_price(symbol), 90)

    def hear_ping(self, symbol, signal, price, when, backtest):
        # what the hook reads: current_price (VWAP_u), the lagged price and the time
        self.hear(
            "on_active_ping",
            dict(signal),
            price,
            _ms(when),
            backtest,
            get_average_price(symbol),
            _ms(get_date()),
            len(get_candles(symbol, "1m", 3)),
        )

    def ping(self, symbol, signal, price, when, backtest):
        self.hear_ping(symbol, signal, price, when, backtest)
        move = ref.side_move(signal, price)
        if move >= 0.3 and signal["price_stop_loss"] == signal["original_price_stop_loss"]:
            commit_trailing_stop(symbol, -0.5, price)
        elif len(signal["entries"]) < 3 and move <= -0.35:
            commit_average_buy(symbol)
        elif _ms(when) - signal["pending_at"] >= 60 * MINUTE_MS and move < -0.2:
            commit_close_pending(symbol, id=f"late-{signal['pending_at']}")

    def hear_breakeven(self, symbol, signal, price, when, backtest):
        self.hear("on_breakeven", dict(signal), price, _ms(when))

    def breakeven(self, symbol, signal, price, when, backtest):
        self.hear_breakeven(symbol, signal, price, when, backtest)
        commit_breakeven(symbol)  # refused (the price lags one candle), the ping does not retry

    def hear_profit(self, symbol, signal, price, percent, when, backtest):
        self.hear("on_partial_profit", dict(signal), price, percent, _ms(when))

    def profit(self, symbol, signal, price, percent, when, backtest):
        self.hear_profit(symbol, signal, price, percent, when, backtest)
        if percent >= 50 and not any(q["type"] == "profit" for q in signal["partials"]):
            commit_partial_profit(symbol, 40)

    def loss(self, symbol, signal, price, percent, when, backtest):
        self.hear("on_partial_loss", dict(signal), price, percent, _ms(when))

    def callbacks(self) -> dict:
        if (
            not self.commits
        ):  # beside a position plan: hear only (a plan and a hook may not both move the stop)
            return {
                "on_active_ping": self.hear_ping,
                "on_breakeven": self.hear_breakeven,
                "on_partial_profit": self.hear_profit,
                "on_partial_loss": self.loss,
            }
        return {
            "on_active_ping": self.ping,
            "on_breakeven": self.breakeven,
            "on_partial_profit": self.profit,
            "on_partial_loss": self.loss,
        }

    # ---- listeners (registered once; they reach the current Strategy) --------

    @staticmethod
    def listen() -> None:
        def to_current(topic):
            return lambda e: Strategy.current.on_event(topic, e)

        for topic, listen in (
            ("active_ping", events.listen_active_ping),
            ("breakeven_available", events.listen_breakeven_available),
            ("partial_profit_available", events.listen_partial_profit_available),
            ("partial_loss_available", events.listen_partial_loss_available),
            ("strategy_commit", events.listen_strategy_commit),
        ):
            listen(to_current(topic))

    def on_event(self, topic: str, e: dict) -> None:
        self.hear(topic, {k: (dict(v) if isinstance(v, dict) else v) for k, v in e.items()})
        if not self.commits:
            return
        signal = e.get("signal") or {}
        if (
            topic == "partial_profit_available"
            and e["level"] == 30
            and signal["price_take_profit"] == signal["original_price_take_profit"]
        ):
            commit_trailing_take(e["symbol"], -0.3, e["current_price"])
        elif topic == "partial_loss_available" and e["level"] == 50 and not signal["partials"]:
            commit_partial_loss(e["symbol"], 50)


def new_core(strategy: Strategy, plan: PositionPlan | None = None) -> StrategyCore:
    schema = StrategySchema(
        strategy_name="s",
        interval="5m",
        get_signal=strategy.get_signal,
        callbacks=strategy.callbacks(),
        position_plan=plan,
    )
    Strategy.current = strategy

    def emit(kind, record):
        if kind == "error":
            strategy.hear("error", record["message"])
        elif kind != "idle":
            strategy.hear(kind, record)

    return StrategyCore(schema, "SIMUSDT", "x", EngineConfig(), emit, mode="live")


class Journal:
    """Live's store in a list: each persisted state (as JSON) with where the run was."""

    def __init__(self, core: StrategyCore, strategy: Strategy) -> None:
        self.core, self.strategy, self.states, self.minute = core, strategy, [], 0
        core.hooks.checkpoint = self.save

    def save(self) -> None:
        closes = sum(1 for item in self.strategy.heard if item[0] == "closed")
        self.states.append(
            (
                self.minute,
                json.dumps(self.core.snapshot(), allow_nan=False),
                len(self.strategy.heard),
                closes,
            )
        )


def drive(
    core: StrategyCore,
    c,
    first: int,
    last: int,
    journal: Journal | None = None,
    until_closes: int | None = None,
    strategy: Strategy | None = None,
) -> None:
    for i in range(first, last):
        if journal is not None:
            journal.minute = i
        core.tick(
            int(c.timestamp[i]) + 7, c, i
        )  # a few ms after the minute: candles [0, i) have closed
        if (
            until_closes is not None
            and sum(1 for item in strategy.heard if item[0] == "closed") >= until_closes
        ):
            return


def whole_run(sim_candles, plan, journaled: bool):
    strategy = Strategy(with_commits=plan is None)
    Strategy.listen()
    core = new_core(strategy, plan)
    journal = Journal(core, strategy) if journaled else None
    drive(core, sim_candles, FIRST, LAST, journal)
    return strategy, core, journal


@pytest.mark.parametrize("plan", [None, PLAN], ids=["hooks", "plan"])
def test_the_journaled_hook_is_the_backtest_hook(sim_candles, plan):
    plain, plain_core, _ = whole_run(sim_candles, plan, journaled=False)
    events.clear()
    live, live_core, journal = whole_run(sim_candles, plan, journaled=True)
    assert live.heard == plain.heard
    assert live_core.commit_counts == plain_core.commit_counts
    # the run exercised what it claims to: every place, every commit, persisted mid-hook
    kinds = {item[0] for item in live.heard}
    assert {
        "on_active_ping",
        "on_breakeven",
        "on_partial_profit",
        "on_partial_loss",
        "active_ping",
        "breakeven_available",
        "partial_profit_available",
        "partial_loss_available",
        "strategy_commit",
        "opened",
        "closed",
    } <= kinds
    applied = {kind for kind, (ok, _) in live_core.commit_counts.items() if ok}
    wanted = {
        "trailing_stop",
        "trailing_take",
        "average_buy",
        "close_pending",
        "partial_profit",
        "partial_loss",
    }
    assert wanted <= applied, applied
    if plan is not None:
        assert "breakeven" in applied
    mid_hook = [s for _, s, *_ in journal.states if '"hook_todo"' in s]
    assert len(mid_hook) > 10
    # every candle's hook ends persisted
    assert len(journal.states) - len(mid_hook) == sum(
        1 for item in live.heard if item[0] == "on_active_ping"
    )


@pytest.mark.parametrize("plan", [None, PLAN], ids=["hooks", "plan"])
def test_a_crash_after_any_persisted_moment_loses_nothing_and_repeats_nothing(sim_candles, plan):
    whole, _, journal = whole_run(sim_candles, plan, journaled=True)
    closes_heard = [
        n + 1 for n, item in enumerate(whole.heard) if item[0] == "closed"
    ]  # heard up to each close
    # every state persisted inside a hook, and every fifth at a candle's end
    picked = [s for k, s in enumerate(journal.states) if '"hook_todo"' in s[1] or k % 5 == 0]
    assert len(picked) > 100
    resumed_mid_hook = 0
    for minute_at, state, heard_then, closes_then in picked:
        if closes_then >= len(closes_heard):
            continue  # the last position never closes inside the run
        events.clear()
        again = Strategy(with_commits=plan is None)
        Strategy.listen()
        core = new_core(again, plan)
        core.restore(json.loads(state))
        resumed_mid_hook += core.position is not None and core.position.hook_todo is not None
        drive(core, sim_candles, minute_at, LAST, until_closes=1, strategy=again)
        expected = whole.heard[heard_then : closes_heard[closes_then]]
        assert again.heard == expected, f"restarted at minute {minute_at} after {heard_then} heard"
    assert resumed_mid_hook > 10


def test_a_commit_is_persisted_before_it_returns_true_and_its_step_is_not_run_again():
    """The brief's kill: the strategy acts on True (a marker) and dies; the restarted core has
    the partial once and does not call that callback for that candle again."""
    m = prices(50, {12: 101.0})
    c = candles(m)
    seen: list[tuple] = []
    persisted: list[str] = []

    def ping(symbol, signal, price, when, backtest):
        k = (_ms(when) - minute(0)) // MINUTE_MS
        seen.append(("ping", k))
        if k == 14:
            ok = commit_partial_profit(symbol, 50)
            seen.append(("committed", k, ok, len(persisted)))
            raise SystemExit("killed right after the commit returned")  # stands for SIGKILL

    long = {
        "position": "long",
        "price_take_profit": 102.0,
        "price_stop_loss": 98.0,
        "minute_estimated_time": 30,
    }
    schema = StrategySchema(
        strategy_name="s",
        interval="1m",
        get_signal=Script({10: long}),
        callbacks={"on_active_ping": ping},
    )
    closed: list[dict] = []
    core = StrategyCore(
        schema,
        "SYM",
        "x",
        CFG,
        lambda kind, r: closed.append(r) if kind == "closed" else None,
        mode="live",
    )
    core.hooks.checkpoint = lambda: persisted.append(json.dumps(core.snapshot()))
    with pytest.raises(SystemExit):
        for i in range(40):
            core.tick(minute(i) + 7, c, i)
    assert seen[-1] == ("committed", 14, True, len(persisted))  # persisted before True came back
    state = json.loads(persisted[-1])
    assert [q["timestamp"] for q in state["signal"]["partials"]] == [minute(14)]
    assert state["next_ms"] == minute(15)  # candle 14's checks are done
    assert [step[0] for step in state["position"]["hook_todo"]["todo"]] == [
        "plan_ping",
        "side",
        "flush",
    ]
    assert state["position"]["hook_todo"]["queue"][0]["action"] == "partial_profit"

    seen.clear()
    commits: list[dict] = []
    events.listen_strategy_commit(commits.append)
    again = StrategyCore(
        schema,
        "SYM",
        "x",
        CFG,
        lambda kind, r: closed.append(r) if kind == "closed" else None,
        mode="live",
    )
    again.hooks.checkpoint = lambda: None
    again.restore(state)
    for i in range(15, 50):  # the restarted process's first tick is a minute later
        again.tick(minute(i) + 7, c, i)
    assert ("ping", 14) not in seen and seen[0] == ("ping", 15)
    assert [(e["action"], e["timestamp"]) for e in commits] == [
        ("partial_profit", minute(14))
    ]  # emitted once, now
    (trade,) = closed
    assert [(q["type"], q["percent"], q["timestamp"]) for q in trade["signal"]["partials"]] == [
        ("profit", 50, minute(14))
    ]
    assert (trade["close_reason"], trade["close_timestamp"]) == ("time_expired", minute(40))


def test_a_pending_close_persisted_at_the_commit_closes_on_the_next_candle_after_a_restart():
    m = prices(40, {12: 99.0})
    c = candles(m)
    persisted: list[str] = []

    def ping(symbol, signal, price, when, backtest):
        if (_ms(when) - minute(0)) // MINUTE_MS == 13:
            commit_close_pending(symbol, id="bye", note="losing")

    long = {
        "position": "long",
        "price_take_profit": 102.0,
        "price_stop_loss": 98.0,
        "minute_estimated_time": 30,
    }
    schema = StrategySchema(
        strategy_name="s",
        interval="1m",
        get_signal=Script({10: long}),
        callbacks={"on_active_ping": ping},
    )
    core = StrategyCore(schema, "SYM", "x", CFG, lambda kind, r: None, mode="live")
    core.hooks.checkpoint = lambda: persisted.append(json.dumps(core.snapshot()))
    for i in range(15):  # ticks up to minute 14: candle 13's hook committed the close
        core.tick(minute(i) + 7, c, i)
    state = json.loads(persisted[-1])
    assert state["position"]["pending"] == {
        "action": "close",
        "id": "bye",
        "note": "losing",
        "at": minute(13),
    }
    assert state["position"].get("hook_todo") is None and state["next_ms"] == minute(14)

    closed: list[dict] = []
    again = StrategyCore(
        schema,
        "SYM",
        "x",
        CFG,
        lambda kind, r: closed.append(r) if kind == "closed" else None,
        mode="live",
    )
    again.restore(state)
    for i in range(
        20, 40
    ):  # restarted minutes later: the close is on candle 14, not at the restart
        again.tick(minute(i) + 7, c, i)
    (trade,) = closed
    assert (trade["close_reason"], trade["close_timestamp"], trade["signal"]["close_id"]) == (
        "closed",
        minute(14),
        "bye",
    )
    assert trade["current_price"] == 99.0


def test_a_scheduled_cancel_committed_in_on_schedule_is_persisted_with_it():
    c = candles(prices(40))
    persisted: list[str] = []

    def on_schedule(symbol, signal, price, backtest):
        commit_cancel_scheduled(symbol, id="not-now")

    limit = {
        "position": "long",
        "price_open": 99.0,
        "price_take_profit": 102.0,
        "price_stop_loss": 97.0,
        "minute_estimated_time": 30,
    }
    schema = StrategySchema(
        strategy_name="s",
        interval="1m",
        get_signal=Script({10: limit}),
        callbacks={"on_schedule": on_schedule},
    )
    core = StrategyCore(schema, "SYM", "x", CFG, lambda kind, r: None, mode="live")
    core.hooks.checkpoint = lambda: persisted.append(json.dumps(core.snapshot()))
    for i in range(11):
        core.tick(minute(i) + 7, c, i)
    (saved,) = persisted
    state = json.loads(saved)
    assert state["phase"] == "scheduled" and state["position"]["pending"]["action"] == "cancel"

    cancelled: list[dict] = []
    again = StrategyCore(
        schema,
        "SYM",
        "x",
        CFG,
        lambda kind, r: cancelled.append(r) if kind == "cancelled" else None,
        mode="live",
    )
    again.restore(state)
    for i in range(11, 20):
        again.tick(minute(i) + 7, c, i)
    (gone,) = cancelled
    assert (gone["cancel_reason"], gone["close_timestamp"], gone["signal"]["close_id"]) == (
        "user",
        minute(11),
        "not-now",
    )


@pytest.mark.parametrize(
    "bad", [{"u": "x"}, {"u": 1, "price": 1.0, "entry": None, "todo": [["jump"]], "queue": []}]
)
def test_a_corrupt_hook_todo_is_refused_naming_it(bad):
    from btfarm.shared.errors import PersistenceError

    core = StrategyCore(
        StrategySchema(strategy_name="s", interval="1m", get_signal=Script({})),
        "SYM",
        "x",
        CFG,
        lambda kind, r: None,
        mode="live",
    )
    signal = {
        "id": "a",
        "position": "long",
        "price_open": 100.0,
        "price_take_profit": 102.0,
        "price_stop_loss": 98.0,
        "minute_estimated_time": 30,
        "symbol": "SYM",
        "strategy_name": "s",
        "exchange_name": "x",
        "scheduled_at": minute(0),
        "pending_at": minute(0),
    }
    with pytest.raises(PersistenceError, match="hook_todo"):
        core.restore(
            {
                "phase": "active",
                "signal": signal,
                "next_ms": minute(1),
                "peak": [100.0, 0.0],
                "fall": [100.0, -0.4],
                "position": {"hook_todo": bad},
            }
        )

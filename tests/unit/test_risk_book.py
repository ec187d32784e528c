"""A risk's book of open positions (shared/risk_book.py): what ``active_positions`` lists.

The cores here are driven as Live drives them, one tick a minute with only the closed candles
in sight (``tick(t, candles, limit=t)``): candle u is settled at the tick of u + 1. Two cores
handed the same books are two members run minute by minute together, as a portfolio will.
"""

from __future__ import annotations

import pytest

from btfarm.shared.engine.lifecycle import StrategyCore
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.risk_book import new_books
from btfarm.shared.schemas import RiskSchema, StrategySchema

from .market import candles, flat
from .risk_market import START, Script, every_minute, long_signal, minute, minutes_of

pytestmark = pytest.mark.unit


def core_of(name: str, symbol: str, script, risk, books=None, emitted=None) -> StrategyCore:
    strategy = StrategySchema(strategy_name=name, interval="1m", get_signal=script)
    emit = (
        (lambda kind, rec: emitted.append((kind, rec)))
        if emitted is not None
        else (lambda kind, rec: None)
    )
    return StrategyCore(
        strategy,
        symbol,
        "x",
        EngineConfig(),
        emit,
        frame_name="f",
        mode="live",
        risk=risk,
        risk_books=books,
    )


def held(core: StrategyCore) -> list[tuple[str, str, float, int]]:
    """(strategy, symbol, price_open, open minute) of each position in the core's first book."""
    return [
        (p["strategy_name"], p["symbol"], p["price_open"], minutes_of([p["open_timestamp"]])[0])
        for p in core.risk_gates[0].book.positions()
    ]


def test_the_strategys_own_position_is_in_the_book_from_its_scheduling_to_its_close():
    """A limit long at 99.5 offered at 15 waits (the price is 100); candle 18 dips to 99.4 and
    activates it (pending_at 18); its 5 minutes end with candle 23. The book holds it from 15
    (a limit entry holds its place while it waits), re-entered at 18, gone after the close."""
    columns = flat(60)
    columns["low"][18] = 99.4
    risk = RiskSchema(risk_name="r", max_positions=1)
    core = core_of("s", "SYM", Script({START: long_signal(price_open=99.5)}), risk)
    c = candles(columns)
    seen = {}
    for t in range(START, 26):
        core.tick(minute(t), c, limit=t)
        seen[t] = (core.phase, held(core))
    assert seen[15] == ("scheduled", [("s", "SYM", 99.5, 15)])
    assert seen[18] == ("scheduled", [("s", "SYM", 99.5, 15)])
    assert seen[19] == (
        "active",
        [("s", "SYM", 99.5, 18)],
    )  # candle 18, settled at 19, activated it
    assert seen[23] == ("active", [("s", "SYM", 99.5, 18)])
    assert seen[24] == ("idle", [])  # candle 23 expired it


def test_two_members_sharing_a_book_see_each_others_positions():
    """A opens a long at 15 (lives to candle 20, settled at the tick of 21); B offers a long every
    minute under a validation that allows one position at a time. Ticking A then B each minute:
    B is rejected at 15 .. 20, each time seeing A's position, and opens at 21."""
    payloads: list[dict] = []

    def one_at_a_time(payload):
        payloads.append(payload)
        return "one at a time" if payload["active_position_count"] >= 1 else None

    risk = RiskSchema(risk_name="budget", validations=[one_at_a_time])
    books = new_books(["budget"], shared=True)
    emitted: list = []
    a = core_of("a", "SYM-A", Script({START: long_signal()}), risk, books)
    b_script = Script(every_minute())
    b = core_of("b", "SYM-B", b_script, risk, books, emitted)
    ca, cb = candles(flat(60)), candles(flat(60))
    for t in range(START, 24):
        a.tick(minute(t), ca, limit=t)
        b.tick(minute(t), cb, limit=t)
    assert b.risk_in_python  # a shared book can bite: no compiled lane for such a member
    a_position = {
        "strategy_name": "a",
        "exchange_name": "x",
        "frame_name": "f",
        "symbol": "SYM-A",
        "position": "long",
        "price_open": 100.0,
        "price_stop_loss": 99.0,
        "price_take_profit": 101.0,
        "minute_estimated_time": 5,
        "open_timestamp": minute(START),
    }
    # A's own check (at 15, before it opened) saw nothing; B's checks at 15 .. 20 saw A's position
    assert (payloads[0]["strategy_name"], payloads[0]["active_positions"]) == ("a", [])
    b_checks = [p for p in payloads if p["strategy_name"] == "b"]
    assert [minutes_of([p["timestamp"]])[0] for p in b_checks] == list(range(15, 22))
    assert all(
        p["active_positions"] == [a_position] and p["active_position_count"] == 1
        for p in b_checks[:-1]
    )
    assert b_checks[-1]["active_positions"] == []  # at 21 A has closed: B opens
    rejected = [rec for kind, rec in emitted if kind == "risk"]
    assert [minutes_of([r["timestamp"]])[0] for r in rejected] == list(range(15, 21))
    assert {r["active_position_count"] for r in rejected} == {1}
    assert b_script.calls[:7] == list(
        range(15, 22)
    )  # asked every minute: each rejection gave the bucket back
    assert held(b) == [("b", "SYM-B", 100.0, 21)]


def test_max_positions_counts_the_positions_of_every_member():
    risk = RiskSchema(risk_name="cap", max_positions=2)
    books = new_books(["cap"], shared=True)
    emitted: list = []
    members = [
        core_of(name, f"SYM-{name}", Script({START: long_signal()}), risk, books, emitted)
        for name in ("a", "b", "c")
    ]
    c = candles(flat(60))
    for member in members:
        member.tick(minute(START), c, limit=START)
    assert [m.phase for m in members] == ["active", "active", "idle"]
    [rejection] = [rec for kind, rec in emitted if kind == "risk"]
    assert (
        rejection["strategy_name"],
        rejection["rejection_id"],
        rejection["active_position_count"],
    ) == ("c", "max_positions", 2)
    assert rejection["rejection_note"] == "2 positions open, max_positions is 2"


def test_each_run_owns_fresh_books_unless_given_them():
    risk = RiskSchema(risk_name="r", max_positions=1)
    first = core_of("s", "SYM", Script({}), risk)
    second = core_of("s", "SYM", Script({}), risk)
    assert first.risk_gates[0].book is not second.risk_gates[0].book
    assert not first.risk_in_python  # data alone, over its own book: the compiled lane may run it


def test_a_restored_signal_takes_its_place_in_the_book_again():
    """Live restarts: the persisted active signal is monitored, never re-opened, and its risk
    sees it again (backtest-kit persists a live risk's positions for the same reason)."""
    risk = RiskSchema(risk_name="r", max_positions=1)
    c = candles(flat(60))
    before = core_of("s", "SYM", Script({START: long_signal()}), risk)
    before.tick(minute(START), c, limit=START)
    state = before.snapshot()
    after = core_of("s", "SYM", Script({}), risk)
    after.restore(state)
    assert held(after) == held(before) == [("s", "SYM", 100.0, 15)]

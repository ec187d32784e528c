"""A managed position's state survives a snapshot (what Live persists), and results carry it.

The core is driven tick by tick with only closed candles visible, as Live
drives it; a core restored from a JSON round trip of any tick's snapshot
must end exactly as the one that never stopped: the same entries, partials,
trailed levels, fired levels and a close still waiting for its candle.
"""

from __future__ import annotations

import json

import pytest

from btfarm.orchestrator import (
    __all__ as public,
)
from btfarm.orchestrator import (
    commit_average_buy,
    commit_close_pending,
    commit_partial_loss,
    commit_trailing_stop,
    listen_active_ping_once,
)
from btfarm.shared import events
from btfarm.shared.engine.lifecycle import StrategyCore
from btfarm.shared.results import ClosedResult, to_model
from btfarm.shared.schemas import StrategySchema

from .market import Script, candles, minute
from .position_market import CFG, LONG, prices, when_ms

pytestmark = pytest.mark.unit

N = 60
M = prices(N, {11: 99.5, 13: 99.0, 15: 100.75, 17: 100.25})


def hooks(log):
    def ping(symbol, signal, price, when, backtest):
        k = (when_ms(when) - minute(0)) // 60_000
        if k == 12:
            log.append(("dca", commit_average_buy(symbol)))  # at 99.5
        if k == 14:
            log.append(("partial", commit_partial_loss(symbol, 40)))  # at 99
        if k == 16:
            log.append(("trail", commit_trailing_stop(symbol, -1.5, price)))
        if k == 18:
            log.append(("close", commit_close_pending(symbol, id="bye")))

    return {"on_active_ping": ping}


def new_core(log, closed):
    strategy = StrategySchema(
        strategy_name="s", interval="1m", get_signal=Script({10: dict(LONG)}), callbacks=hooks(log)
    )
    return StrategyCore(
        strategy,
        "SYM",
        "x",
        CFG,
        lambda kind, record: closed.append(record) if kind == "closed" else None,
        mode="live",
    )


def drive(core, c, first, last):
    for i in range(first, last):
        core.tick(minute(i) + 7, c, i)  # candles [0, i) have closed


def test_a_restored_managed_position_ends_as_the_uninterrupted_one():
    c = candles(M)
    log, closed = [], []
    drive(new_core(log, closed), c, 0, N)
    assert [k for k, _ in log] == ["dca", "partial", "trail", "close"] and all(ok for _, ok in log)
    (whole,) = closed
    assert (whole["close_reason"], whole["close_timestamp"], whole["signal"]["close_id"]) == (
        "closed",
        minute(19),
        "bye",
    )
    for cut in range(11, 20):
        first_log, first_closed = [], []
        core = new_core(first_log, first_closed)
        drive(core, c, 0, cut)
        state = json.loads(json.dumps(core.snapshot()))  # what Live writes and reads back
        rest_log, rest_closed = [], []
        again = new_core(rest_log, rest_closed)
        again.restore(state)
        drive(again, c, cut, N)
        assert first_log + rest_log == log, cut
        assert rest_closed == [whole], cut


def test_the_closed_result_model_carries_the_managed_fields():
    c = candles(M)
    log, closed = [], []
    drive(new_core(log, closed), c, 0, N)
    model = to_model(closed[0])
    assert isinstance(model, ClosedResult)
    s = model.signal
    assert (s.total_entries, s.total_partials, s.close_id, model.close_reason) == (
        2,
        1,
        "bye",
        "closed",
    )
    assert [e.price for e in s.entries] == [100.0, 99.5] and s.partials[0].type == "loss"
    assert (s.original_price_open, s.original_price_stop_loss) == (100.0, 98.0)
    assert s.price_open == pytest.approx(200 / (1 + 100 / 99.5)) and s.price_stop_loss > 98.0
    assert model.pnl.pnl_entries == 200.0
    assert model.pnl.pnl_cost == pytest.approx(model.pnl.pnl_percentage * 2)


def test_a_plain_signal_model_fills_its_originals_and_one_entry_count():
    record = {
        "id": "a",
        "position": "long",
        "price_open": 1.0,
        "price_take_profit": 1.1,
        "price_stop_loss": 0.9,
        "minute_estimated_time": 5,
        "symbol": "S",
        "strategy_name": "s",
        "exchange_name": "e",
        "scheduled_at": 0,
        "pending_at": 0,
    }
    from btfarm.shared.trade_signal import SignalRow

    row = SignalRow.model_validate(record)
    assert (
        row.original_price_open,
        row.original_price_take_profit,
        row.total_entries,
        row.total_partials,
    ) == (1.0, 1.1, 1, 0)


def test_every_new_name_is_exported_with_its_once_form():
    events.clear()
    for topic in (
        "active_ping",
        "partial_profit_available",
        "partial_loss_available",
        "breakeven_available",
        "strategy_commit",
    ):
        assert f"listen_{topic}" in public and f"listen_{topic}_once" in public
    for kind in (
        "trailing_stop",
        "trailing_take",
        "partial_profit",
        "partial_loss",
        "breakeven",
        "average_buy",
        "close_pending",
        "cancel_scheduled",
        "activate_scheduled",
    ):
        assert f"commit_{kind}" in public
    got = []
    cancel = listen_active_ping_once(lambda e: e > 1, got.append)
    for payload in (1, 2, 3):
        events.emit("active_ping", payload)
    cancel()
    assert got == [2]
    events.clear()

"""orchestrator/reporting/scheduled_entries.py: ``Schedule`` on a market built so its five
limit entries are known (tests/support/reporting_markets.py), the rates' "only outcomes
whose scheduling is in the buffer" rule, and the report's columns."""

from __future__ import annotations

import pytest

from btfarm.orchestrator import Backtest, Schedule
from btfarm.orchestrator.reporting.scheduled_entries import (
    DEFAULT_SCHEDULE_COLUMNS,
    ScheduledEvent,
    schedule_figures,
)
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared import events
from btfarm.shared.errors import NotRegisteredError, ReportError, UsageError
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.results import to_model
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from tests.support import reporting_markets as markets

pytestmark = pytest.mark.unit


@pytest.fixture
def schedule(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    markets.register()
    Schedule.enable()
    yield Schedule
    Schedule.disable()
    reset_state()


def run_limit_dip() -> list:
    return list(Backtest.run(markets.SYMBOL, "limit-dip", markets.EXCHANGE, markets.FRAME))


def test_five_limit_entries_give_the_worked_figures(schedule):
    closed = run_limit_dip()
    assert [c.signal.note for c in closed] == [
        "limit 00:00",
        "limit 12:00",
        "limit 16:00",
    ]  # A, D, E
    data = Schedule.get_data(markets.SYMBOL, "limit-dip")
    figures = data.model_dump(exclude={"symbol", "strategy_name", "backtest", "events"})
    assert figures == markets.SCHEDULE_EXPECTED
    assert [
        (e.action, (e.timestamp - markets.DAY_MS) // MINUTE_MS) for e in data.events
    ] == markets.SCHEDULE_ACTIONS
    cancelled = [e for e in data.events if e.action == "cancelled"]
    assert [(e.cancel_reason, e.duration) for e in cancelled] == [
        ("timeout", 120.0),
        ("price_reject", 20.0),
    ]
    assert all(
        e.note != "limit 12:00" for e in data.events
    )  # D never waited: not a scheduled entry


def test_a_second_run_replaces_the_first(schedule):
    run_limit_dip()
    run_limit_dip()
    assert Schedule.get_data(markets.SYMBOL, "limit-dip").total_events == 8


def event(action: str, signal_id: str, scheduled_min: int, at_min: int) -> ScheduledEvent:
    extra = {
        "opened": {"pending_at": at_min * MINUTE_MS},
        "cancelled": {"close_timestamp": at_min * MINUTE_MS, "cancel_reason": "timeout"},
    }.get(action, {})
    return ScheduledEvent(
        timestamp=at_min * MINUTE_MS,
        action=action,
        symbol="S",
        strategy_name="x",
        exchange_name="e",
        signal_id=signal_id,
        position="long",
        price_open=99.0,
        price_take_profit=103.0,
        price_stop_loss=95.0,
        scheduled_at=scheduled_min * MINUTE_MS,
        duration=None if action == "scheduled" else float(at_min - scheduled_min),
        backtest=True,
        **extra,
    )


def test_the_rates_count_only_outcomes_whose_scheduling_is_in_the_buffer():
    buffer = [
        event(
            "opened", "c", 0, 30
        ),  # its scheduling left the buffer: in the counts, not in the rates
        event("cancelled", "d", 0, 60),  # the same
        event("scheduled", "a", 100, 100),
        event("opened", "a", 100, 110),
        event("scheduled", "b", 200, 200),
        event("cancelled", "b", 200, 320),
        event("scheduled", "e", 400, 400),  # no outcome yet: in the raw count only
    ]
    figures = schedule_figures(buffer)
    assert figures == {
        "total_events": 7,
        "total_scheduled": 3,
        "total_opened": 2,
        "total_cancelled": 2,
        "activation_rate": 50.0,
        "cancellation_rate": 50.0,
        "avg_activation_time": 20.0,  # (30 + 10) / 2: every opened event
        "avg_wait_time": 90.0,
    }  # (60 + 120) / 2: every cancelled one
    unmatched = schedule_figures(buffer[:2])
    assert unmatched["activation_rate"] is None and unmatched["cancellation_rate"] is None
    assert unmatched["avg_activation_time"] == 30.0 and unmatched["avg_wait_time"] == 60.0


def emit(action: str, signal_id: str, scheduled_at: int, at: int) -> None:
    signal = {
        "id": signal_id,
        "position": "long",
        "price_open": 99.0,
        "price_take_profit": 103.0,
        "price_stop_loss": 95.0,
        "minute_estimated_time": 30,
        "symbol": "EVUSDT",
        "strategy_name": "limit-dip",
        "exchange_name": "e",
        "scheduled_at": scheduled_at,
        "pending_at": at if action == "opened" else scheduled_at,
    }
    record = {
        "action": action,
        "symbol": "EVUSDT",
        "strategy_name": "limit-dip",
        "exchange_name": "e",
        "backtest": True,
        "timestamp": at,
        "signal": signal,
        "current_price": 100.0,
    }
    if action == "cancelled":
        record.update(cancel_reason="timeout", close_timestamp=at)
    events.emit("signal.backtest", to_model(record))


def test_an_outcome_whose_scheduling_was_pushed_out_of_the_full_buffer_leaves_the_rates(schedule):
    cap = keys.REPORT_LOG_MAX_ROWS
    emit("scheduled", "s0", 0, 0)
    pairs = cap // 2  # each a scheduling and its cancel
    for i in range(1, pairs + 1):
        emit("scheduled", f"s{i}", i * 1000, i * 1000)
        emit("cancelled", f"s{i}", i * 1000, i * 1000 + 120)
    emit("opened", "s0", 0, 10 * 1000 * pairs)  # s0 opens last: its scheduling (and s1's) fell out
    data = Schedule.get_data("EVUSDT", "limit-dip")
    assert data.total_events == cap
    assert (data.total_scheduled, data.total_opened, data.total_cancelled) == (pairs - 1, 1, pairs)
    # counted raw, s0's opening would give 1 / pairs; it is not matched, nor is s1's cancel
    assert (data.activation_rate, data.cancellation_rate) == (0.0, 100.0)
    assert data.events[0].action == "cancelled" and data.events[0].signal_id == "s1"


BACKTEST_KIT_LABELS = [  # backtest-kit's schedule_columns, less "PNL (net)" and "Partial Executed %"
    "Timestamp",
    "Action",
    "Symbol",
    "Signal ID",
    "Position",
    "Note",
    "Current Price",
    "Entry Price",
    "Take Profit",
    "Stop Loss",
    "Original TP",
    "Original SL",
    "Original Entry",
    "DCA Entries",
    "Partial Closes",
    "Wait Time (min)",
    "Cancel Reason",
    "Cancel ID",
    "Pending At",
    "Scheduled At",
]


def test_the_report_has_backtest_kits_columns_and_the_figures(schedule):
    run_limit_dip()
    assert [c.label for c in DEFAULT_SCHEDULE_COLUMNS] == BACKTEST_KIT_LABELS
    report = Schedule.get_report(markets.SYMBOL, "limit-dip")
    header = next(line for line in report.splitlines() if line.startswith("| Timestamp"))
    assert [h.strip() for h in header.strip("|").split("|")] == BACKTEST_KIT_LABELS
    rows = [line for line in report.splitlines() if line.startswith("| 2025-03-01")]
    assert len(rows) == 8 and "| CANCELLED |" in rows[3] and "| TIMEOUT |" in rows[3]
    assert "| PRICE_REJECT |" in rows[5] and "| 120 |" in rows[3] and "| 20 |" in rows[5]
    for line in (
        "| Activation rate | 50.00% | higher is better |",
        "| Cancellation rate | 50.00% | lower is better |",
        "| Average activation time | 5.00 minutes |",
        "| Average wait time (cancelled) | 70.00 minutes |",
    ):
        assert line in report


def test_columns_may_be_chosen_and_a_bad_one_is_named(schedule):
    run_limit_dip()
    report = Schedule.get_report(
        markets.SYMBOL,
        "limit-dip",
        columns=[
            {"key": "action", "label": "What", "format": lambda r: r["action"]},
            {"key": "wait", "label": "Waited", "format": lambda r: str(r["duration"])},
        ],
    )
    assert "| What | Waited |" in report and "| opened | 10.0 |" in report
    with pytest.raises(ReportError, match='schedule column 0 \\("action"\\)'):
        Schedule.get_report(markets.SYMBOL, "limit-dip", columns=[{"key": "action", "label": "A"}])


def test_dump_writes_the_report_and_its_html_twin(schedule):
    run_limit_dip()
    path = Schedule.dump(markets.SYMBOL, "limit-dip")
    assert path.name == "limit-dip.schedule.md" and path.parent.name == "backtest"
    assert path.read_text() == Schedule.get_report(markets.SYMBOL, "limit-dip")
    assert "<table>" in path.with_suffix(".html").read_text()


def test_bad_calls_say_what_to_do(schedule):
    with pytest.raises(NotRegisteredError, match='strategy "limit-dp" not found.*limit-dip'):
        Schedule.get_data(markets.SYMBOL, "limit-dp")
    with pytest.raises(UsageError, match="backtest must be True"):
        Schedule.get_data(markets.SYMBOL, "limit-dip", backtest="live")
    Schedule.disable()
    with pytest.raises(UsageError, match=r"call Schedule.enable\(\) before the backtests"):
        Schedule.get_data(markets.SYMBOL, "limit-dip")


def test_nothing_listens_until_enabled(redis_client, redis_server, monkeypatch):
    Schedule.disable()
    assert not events.has_listeners("signal.backtest")  # a backtest builds no event model for it
    Schedule.enable()
    try:
        assert events.has_listeners("signal.backtest") and events.has_listeners("signal.live")
    finally:
        Schedule.disable()
    assert not events.has_listeners("signal")

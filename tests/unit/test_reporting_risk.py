"""orchestrator/reporting/risk_rejections.py: ``Risk`` on a flat market where a risk refuses
the three shorts a strategy tries (tests/support/reporting_markets.py), run boundaries,
the figures and the report's columns."""

from __future__ import annotations

import threading

import pytest

from btfarm.orchestrator import Backtest, Risk, add_strategy
from btfarm.orchestrator.reporting.feed import risk_in_backtest
from btfarm.orchestrator.reporting.risk_rejections import (
    DEFAULT_RISK_COLUMNS,
    risk_event,
    risk_figures,
)
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.errors import UsageError
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.settings import get_settings
from tests.support import reporting_markets as markets

pytestmark = pytest.mark.unit

SYMBOL = "PLAINUSDT"


@pytest.fixture
def risk(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    markets.register()
    Risk.enable()
    yield Risk
    Risk.disable()
    reset_state()


def run() -> list:
    return list(Backtest.run(SYMBOL, "short-rejecter", markets.EXCHANGE, markets.FRAME))


def test_three_refused_shorts_are_the_three_rejections(risk):
    closed = run()
    assert [c.signal.note for c in closed] == ["long 02:00"]  # the long passed the risk
    data = Risk.get_data(SYMBOL, "short-rejecter")
    assert data.total_rejections == 3
    assert data.by_symbol == {SYMBOL: 3} and data.by_strategy == {"short-rejecter": 3}
    assert [
        (e.timestamp - markets.DAY_MS) // MINUTE_MS for e in data.events
    ] == markets.RISK_EXPECTED_TIMES
    assert {
        (e.position, e.current_price, e.risk_name, e.exchange_name, e.backtest) for e in data.events
    } == {("short", 100.0, "no-shorts", markets.EXCHANGE, True)}
    assert all("no shorts here" in e.rejection_note for e in data.events)
    assert [e.note for e in data.events] == ["short 01:00", "short 03:00", "short 05:00"]
    assert (
        Backtest.get_data(SYMBOL, "short-rejecter").stats.rejected_signals == 3
    )  # the engine agrees


def test_each_run_replaces_the_last_even_one_with_no_rejection(risk):
    run()
    run()
    assert Risk.get_data(SYMBOL, "short-rejecter").total_rejections == 3  # not 6
    add_strategy(
        strategy_name="short-rejecter",
        interval="1m",
        risk_name="no-shorts",
        override=True,
        get_signal=lambda symbol, when: None,
    )
    run()  # no event at all: the run's end empties what the last run left
    assert Risk.get_data(SYMBOL, "short-rejecter").total_rejections == 0


def record(symbol: str, strategy: str, minute: int) -> dict:
    return {
        "symbol": symbol,
        "strategy_name": strategy,
        "exchange_name": "e",
        "timestamp": minute * MINUTE_MS,
        "signal": {
            "position": "long",
            "price_open": None,
            "price_take_profit": 103.0,
            "price_stop_loss": 97.0,
            "note": None,
            "id": None,
        },
        "current_price": 100.0,
        "risk_name": "r",
        "reason": "too many",
        "message": "...",
    }


def test_the_figures_count_by_symbol_and_by_strategy():
    events = [
        risk_event(record(s, n, i), True)
        for i, (s, n) in enumerate([("A", "x"), ("B", "x"), ("A", "y"), ("A", "x")])
    ]
    assert risk_figures(events) == {
        "total_rejections": 4,
        "by_symbol": {"A": 3, "B": 1},
        "by_strategy": {"x": 3, "y": 1},
    }
    assert risk_figures([]) == {"total_rejections": 0, "by_symbol": {}, "by_strategy": {}}


def test_a_risk_event_says_its_mode_or_its_thread_does():
    assert risk_in_backtest({**record("A", "x", 0), "backtest": False}) is False
    assert risk_in_backtest({**record("A", "x", 0), "backtest": True}) is True
    assert risk_in_backtest(record("A", "x", 0)) is True  # today's records carry no mode
    seen = []
    live = threading.Thread(
        target=lambda: seen.append(risk_in_backtest(record("A", "x", 0))), name="btfarm-live-A:x"
    )  # the name Live's run thread has
    live.start()
    live.join()
    assert seen == [False]


def test_the_report_lists_each_rejection_under_the_totals(risk):
    run()
    report = Risk.get_report(SYMBOL, "short-rejecter")
    assert "- Total rejections: 3" in report
    assert f"| {SYMBOL} | 3 |" in report and "| short-rejecter | 3 |" in report
    header = next(line for line in report.splitlines() if line.startswith("| Time"))
    assert [h.strip() for h in header.strip("|").split("|")] == [
        c.label for c in DEFAULT_RISK_COLUMNS
    ]
    rows = [line for line in report.splitlines() if line.startswith("| 2025-03-01")]
    assert len(rows) == 3 and all("| no-shorts |" in r and "no shorts here" in r for r in rows)
    assert "2025-03-01T01:00Z" in rows[0] and "2025-03-01T05:00Z" in rows[2]
    chosen = Risk.get_report(
        SYMBOL,
        "short-rejecter",
        columns=[{"key": "t", "label": "When", "format": lambda r: str(r["timestamp"])}],
    )
    assert "| When |" in chosen and f"| {markets.DAY_MS + 60 * MINUTE_MS} |" in chosen


def test_dump_and_the_empty_report(risk):
    run()
    path = Risk.dump(SYMBOL, "short-rejecter")
    assert path.name == "short-rejecter.risk.md" and path.with_suffix(".html").exists()
    assert Risk.get_data("FLATUSDT", "short-rejecter").total_rejections == 0
    assert "No risk rejections recorded." in Risk.get_report("FLATUSDT", "short-rejecter")


def test_without_enable_a_backtest_read_says_how(redis_client, redis_server, monkeypatch):
    markets.register()
    Risk.disable()
    with pytest.raises(UsageError, match=r"Risk.get_data: Risk is not listening.*Risk.enable\(\)"):
        Risk.get_data(SYMBOL, "short-rejecter")

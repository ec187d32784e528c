"""orchestrator/portfolio.py and reports/portfolio_report.py: ``Portfolio`` run, its data, its
report, its dump (markdown, pictures, HTML twin), list and stop, against a private Redis."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from btfarm.orchestrator import (
    Portfolio,
    PortfolioData,
    add_exchange,
    add_frame,
    add_portfolio,
    add_risk,
    add_strategy,
    csv_exchange,
    listen_risk,
)
from btfarm.orchestrator.reports.portfolio_report import open_positions
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.demo import pullback_signal, sma_cross_signal
from btfarm.shared.settings import get_settings
from btfarm.shared.stats import compute_statistics
from tests.support.reference_data import SIM_CSV

from .portfolio_market import EXCHANGE, FRAME, Script, member, register_market
from .risk_market import every_minute

pytestmark = pytest.mark.unit

SYMBOL = "SIMUSDT"
CAPITAL = 1000.0


@pytest.fixture
def store(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    yield
    reset_state()


@pytest.fixture
def duo(store):
    add_exchange(csv_exchange("pfr-sim", files={SYMBOL: SIM_CSV}), override=True)
    add_frame(
        frame_name="pfr-jan",
        interval="1m",
        start_date="2025-01-01T00:00:00Z",
        end_date="2025-01-30T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name="pfr-sma",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        override=True,
    )
    add_strategy(
        strategy_name="pfr-pullback", interval="15m", get_signal=pullback_signal, override=True
    )
    add_risk(risk_name="pfr-one", max_positions=1, override=True)
    add_portfolio(
        portfolio_name="pfr-duo",
        exchange_name="pfr-sim",
        frame_name="pfr-jan",
        risk_name="pfr-one",
        capital=CAPITAL,
        members=[
            {"symbol": SYMBOL, "strategy_name": "pfr-sma"},
            {"symbol": SYMBOL, "strategy_name": "pfr-pullback"},
        ],
        override=True,
    )
    heard = []
    unsubscribe = listen_risk(heard.append)
    closed = list(Portfolio.run("pfr-duo"))
    unsubscribe()
    return closed, heard


def test_get_data_carries_the_portfolio_figures(duo):
    closed, heard = duo
    data = Portfolio.get_data("pfr-duo")
    assert isinstance(data, PortfolioData) and data.status == "done" and not data.stopped
    assert [c.signal.id for c in data.signals] == [
        c.signal.id for c in closed
    ]  # run yields them in close order
    rows = [c.model_dump() for c in closed]
    assert data.stats == compute_statistics(rows, rejected=data.risk_rejections)
    for m in data.members:
        mine = [r for r in rows if r["strategy_name"] == m.strategy_name]
        assert m.stats == compute_statistics(mine, rejected=m.stats.rejected_signals)
        assert m.stats.total_signals == len(mine) > 0 and m.lane == "event" and not m.strict
    assert data.risk_rejections == len(heard) == sum(r.count for r in data.rejections) > 0
    assert {(r.member, r.risk_name, r.rejection_id) for r in data.rejections} == {
        (f"{SYMBOL}:pfr-sma", "pfr-one", "max_positions"),
        (f"{SYMBOL}:pfr-pullback", "pfr-one", "max_positions"),
    }
    assert data.max_open_positions == 1 == int(open_positions(rows)[1].max())
    pnl = [r["pnl"]["pnl_percentage"] for r in rows]
    assert data.compounded_return == pytest.approx((np.prod([1 + p / 100 for p in pnl]) - 1) * 100)
    assert data.equity.final_equity == pytest.approx(
        CAPITAL + sum(r["pnl"]["pnl_cost"] for r in rows)
    )
    assert data.equity.curve[0][1] == CAPITAL and len(data.equity.curve) == len(rows) + 1
    assert set(data.coverage) == {SYMBOL} and set(data.fingerprints) == {
        f"{SYMBOL}:pfr-sma",
        f"{SYMBOL}:pfr-pullback",
    }


def test_the_report_and_its_dump(duo):
    data = Portfolio.get_data("pfr-duo")
    report = Portfolio.get_report("pfr-duo")
    assert report.startswith("# Portfolio: pfr-duo\n")
    for line in (
        "- Risk: pfr-one",
        "- Capital: 1000.00",
        "| Most positions open at once | 1 (first at 2025-01-01T00:50Z) |  |",
        f"| Signals refused by a risk or the capital | {data.risk_rejections} | lower is better |",
        f"| Final equity | {data.equity.final_equity:.2f} | higher is better |",
        f"| {SYMBOL}:pfr-sma | pfr-one | max_positions | {data.rejections[0].count} |",
    ):
        assert line in report, line
    sma = data.members[0]
    assert (
        f"| {SYMBOL} | pfr-sma | {sma.stats.total_signals} | {sma.stats.total_pnl:+.2f}% |"
    ) in report
    closed_section = report[report.index("## Closed signals") :]
    assert closed_section.count(f"| {SYMBOL} | pfr-") == len(data.signals)
    narrow = Portfolio.get_report(
        "pfr-duo",
        columns=[
            {"key": "strategy", "label": "Who", "format": lambda r: r["strategy_name"].upper()}
        ],
    )
    assert "| Who |\n| --- |\n| PFR-SMA |" in narrow
    path = Portfolio.dump("pfr-duo")
    assert path == get_settings().dump_dir / "portfolio" / "pfr-duo.md"
    text = path.read_text()
    assert (
        "![Equity](pfr-duo.equity.svg)" in text
        and "![Positions open](pfr-duo.positions.svg)" in text
    )
    for picture in ("equity", "positions"):
        assert path.with_name(f"pfr-duo.{picture}.svg").read_text().startswith("<?xml")
    html = path.with_suffix(".html").read_text()
    assert html.count("data:image/svg+xml;base64,") == 2 and "pfr-duo" in html


def test_list_shows_the_portfolio_under_the_symbol_star(duo):
    [row] = [r for r in Portfolio.list() if r["name"] == "pfr-duo"]
    assert (row["symbol"], row["portfolio_name"], row["status"], row["mode"]) == (
        "*",
        "pfr-duo",
        "done",
        "portfolio",
    )


def test_stop_ends_a_background_run(store):
    """The member's first get_signal waits until the test has asked to stop; the run sees the
    stop at its first check (tick 2048) and ends there, long before the frame's 6,000 minutes.
    (It waited at minute 100 before, which the member is never asked at: its longs live 5
    minutes from minute 15, so it is asked at 15, 21, ... 99, 105; the run then raced the
    test's stop and ended at the second check about one run in four.)"""
    register_market(("SA",), minutes=6000)
    asked_to_stop = threading.Event()

    class Waiting(Script):
        def __call__(self, symbol, when):
            signal = super().__call__(symbol, when)
            if len(self.calls) == 1:
                assert asked_to_stop.wait(30)
            return signal

    member("pfr-wait", Waiting(every_minute(6000)))
    add_portfolio(
        portfolio_name="pfr-stop",
        exchange_name=EXCHANGE,
        frame_name=FRAME,
        override=True,
        members=[{"symbol": "SA", "strategy_name": "pfr-wait"}],
    )
    Portfolio.background("pfr-stop")
    Portfolio.stop("pfr-stop")
    asked_to_stop.set()
    assert Portfolio.wait("pfr-stop", timeout=30)
    data = Portfolio.get_data("pfr-stop")
    assert (
        data.stopped
        and data.signals[-1].signal.pending_at < data.signals[0].signal.pending_at + 2048 * 60_000
    )
    assert "Stopped before the end of the frame" in Portfolio.get_report("pfr-stop")


def test_open_positions_counts_a_position_through_its_closing_candle():
    rows = [
        {"signal": {"pending_at": 0}, "close_timestamp": 5 * 60_000},
        {
            "signal": {"pending_at": 6 * 60_000},
            "close_timestamp": 9 * 60_000,
        },  # opens as the first is over
        {"signal": {"pending_at": 5 * 60_000}, "close_timestamp": 7 * 60_000},
    ]  # opens on the first's last candle
    times, counts = open_positions(rows)
    assert list(zip((times // 60_000).tolist(), counts.tolist(), strict=True)) == [
        (0, 1),
        (5, 2),
        (6, 2),
        (8, 1),
        (10, 0),
    ]

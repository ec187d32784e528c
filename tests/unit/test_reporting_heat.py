"""orchestrator/reporting/heat.py and heat_months.py: ``Heat`` of one strategy over three
synthetic symbols, each row and the portfolio line against figures worked out here from
the backtests' closed signals; the symbol x month PnL numbers; the report and its picture."""

from __future__ import annotations

import math

import numpy as np
import pytest

from btfarm.orchestrator import (
    Backtest,
    Heat,
    add_exchange,
    add_frame,
    add_strategy,
    synthetic_exchange,
)
from btfarm.orchestrator.reporting.heat import PORTFOLIO, HeatTrade, heat_table
from btfarm.orchestrator.reporting.heat_months import symbol_month_pnl
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.errors import NotRegisteredError, UsageError
from btfarm.shared.schemas import to_ms, to_utc
from btfarm.shared.settings import get_settings

pytestmark = pytest.mark.unit

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
START, END = "2024-01-20T00:00:00Z", "2024-02-24T23:59:00Z"  # across two months


@pytest.fixture(scope="module")
def registered():
    add_exchange(synthetic_exchange("heat-syn", seed=11), override=True)
    add_frame(frame_name="heat-frame", interval="1m", start_date=START, end_date=END, override=True)
    add_strategy(
        strategy_name="heat-sma",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        override=True,
    )


@pytest.fixture
def heat(registered, redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    Heat.enable()
    yield Heat
    Heat.disable()
    reset_state()


def run_all() -> dict[str, list]:
    return {s: list(Backtest.run(s, "heat-sma", "heat-syn", "heat-frame")) for s in SYMBOLS}


def expected(pnls: list[float]) -> dict:
    """SEMANTICS 4's figures of PnLs given in close order, worked out with plain Python."""
    n = len(pnls)
    wins, losses = [p for p in pnls if p > 0], [p for p in pnls if p < 0]
    mean = sum(pnls) / n
    std = math.sqrt(sum((p - mean) ** 2 for p in pnls) / (n - 1)) if n >= 10 else None
    equity = peak = 1.0
    drawdown = 0.0
    for p in pnls:
        equity *= 1 + p / 100
        peak = max(peak, equity)
        drawdown = max(drawdown, (peak - equity) / peak * 100)
    return {
        "total_trades": n,
        "total_pnl": sum(pnls),
        "win_rate": len(wins) / (len(wins) + len(losses)) * 100,
        "profit_factor": sum(wins) / abs(sum(losses)) if losses else None,
        "sharpe_ratio": mean / std if std else None,
        "max_drawdown": drawdown,
        "expectancy": (
            len(wins) / n * (sum(wins) / len(wins)) + len(losses) / n * (sum(losses) / len(losses))
            if n >= 10
            else None
        ),
    }


def close_order(closed: list) -> list[float]:
    ordered = sorted(closed, key=lambda c: c.close_timestamp)  # (stable: ties keep their order)
    return [c.pnl.pnl_percentage for c in ordered]


def assert_row(row, want: dict) -> None:
    for name, value in want.items():
        got = getattr(row, name)
        assert (got is None and value is None) or got == pytest.approx(
            value, rel=1e-9, abs=1e-12
        ), (row.symbol, name)


def test_each_row_and_the_portfolio_line_match_figures_worked_from_the_trades(heat):
    closed = run_all()
    assert all(len(c) >= 30 for c in closed.values())
    data = Heat.get_data("heat-sma", "heat-syn", "heat-frame")
    assert data.total_symbols == 3 and {r.symbol for r in data.symbols} == set(SYMBOLS)
    for row in data.symbols:
        assert_row(row, expected(close_order(closed[row.symbol])))
        stats = Backtest.get_data(row.symbol, "heat-sma").stats  # the symbol's own report agrees
        assert (row.total_pnl, row.sharpe_ratio, row.max_drawdown) == (
            stats.total_pnl,
            stats.sharpe_ratio,
            stats.max_drawdown,
        )
    pooled = [c for s in SYMBOLS for c in closed[s]]
    assert data.portfolio.symbol == PORTFOLIO
    assert_row(data.portfolio, expected(close_order(pooled)))
    assert data.portfolio.total_pnl == pytest.approx(sum(r.total_pnl for r in data.symbols))
    sharpes = [r.sharpe_ratio for r in data.symbols]
    assert sharpes == sorted(sharpes, reverse=True)  # best first


def test_a_rerun_replaces_its_symbol_and_another_frame_is_another_heat(heat):
    run_all()
    first = Heat.get_data("heat-sma", "heat-syn", "heat-frame")
    list(Backtest.run(SYMBOLS[0], "heat-sma", "heat-syn", "heat-frame"))
    assert Heat.get_data("heat-sma", "heat-syn", "heat-frame") == first  # not doubled
    add_frame(
        frame_name="heat-week",
        interval="1m",
        start_date="2024-02-01T00:00:00Z",
        end_date="2024-02-07T23:59:00Z",
        override=True,
    )
    list(Backtest.run(SYMBOLS[1], "heat-sma", "heat-syn", "heat-week"))
    week = Heat.get_data("heat-sma", "heat-syn", "heat-week")
    assert [r.symbol for r in week.symbols] == [SYMBOLS[1]]
    assert Heat.get_data("heat-sma", "heat-syn", "heat-frame").total_symbols == 3


def ms(text: str) -> int:
    return to_ms(to_utc(text))


def test_the_month_numbers_sum_each_symbols_trades_by_the_month_they_closed():
    trades = {
        "AAA": [
            (ms("2025-01-31T23:59:00Z"), 1.5),
            (ms("2025-02-01T00:00:00Z"), -0.5),
            (ms("2025-02-10T12:00:00Z"), 2.0),
        ],
        "BBB": [(ms("2025-04-02T00:00:00Z"), -1.0)],
        "CCC": [],
    }
    months = symbol_month_pnl(trades, order=["BBB", "AAA", "CCC"])
    assert months.symbols == ["BBB", "AAA", "CCC"]
    assert months.months == ["2025-01", "2025-02", "2025-03", "2025-04"]  # March stays, as a gap
    nan = np.nan
    np.testing.assert_array_equal(
        months.matrix, [[nan, nan, nan, -1.0], [1.5, 1.5, nan, nan], [nan, nan, nan, nan]]
    )
    across_a_year = symbol_month_pnl(
        {"X": [(ms("2024-12-15T00:00:00Z"), 1.0), (ms("2025-01-15T00:00:00Z"), 2.0)]}
    )
    assert across_a_year.months == ["2024-12", "2025-01"]
    empty = symbol_month_pnl({"X": []})
    assert empty.months == [] and empty.matrix.shape == (1, 0)


def test_heat_table_sorts_by_sharpe_then_total_pnl():
    def trades(symbol: str, pnls: list[float]) -> list[HeatTrade]:
        return [
            HeatTrade(
                signal_id=f"{symbol}{i}",
                symbol=symbol,
                strategy_name="s",
                exchange_name="e",
                position="long",
                pending_at=i * 60_000,
                close_timestamp=(i + 1) * 60_000,
                close_reason="take_profit",
                pnl_percentage=p,
            )
            for i, p in enumerate(pnls)
        ]

    rows, portfolio = heat_table(
        {
            "FEW": trades("FEW", [5.0]),
            "LOSE": trades("LOSE", [-1.0, -2.0]),
            "GOOD": trades("GOOD", [1.0, 2.0] * 5),
            "OK": trades("OK", [1.0, -0.5] * 5),
        }
    )
    assert [r.symbol for r in rows] == [
        "GOOD",
        "OK",
        "FEW",
        "LOSE",
    ]  # N/A Sharpes last, by total PnL
    assert rows[0].sharpe_ratio == pytest.approx(1.5 / math.sqrt(2.5 / 9))
    assert portfolio.total_trades == 23 and portfolio.total_pnl == pytest.approx(
        5.0 - 3.0 + 15.0 + 2.5
    )


def test_the_report_ends_its_table_with_the_portfolio_line_and_dump_draws_the_months(heat):
    run_all()
    report = Heat.get_report("heat-sma", "heat-syn", "heat-frame")
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    header = lines.index(
        "| Symbol | Total PNL | Sharpe | Win Rate | Profit Factor | Max Drawdown | Trades | "
        "Expectancy |"
    )
    body = lines[header + 2 :]
    assert [line.split(" | ")[0][2:] for line in body[:3]] == [
        r.symbol for r in Heat.get_data("heat-sma", "heat-syn", "heat-frame").symbols
    ]
    assert body[3].startswith(f"| **{PORTFOLIO}** |") and "| Total symbols | 3 |" in report
    path = Heat.dump("heat-sma", "heat-syn", "heat-frame")
    assert path.name == "heat-sma.heat.md"
    picture = path.with_name("heat-sma.heat.months.svg").read_text()
    assert picture.startswith("<?xml") and "2024-01" in picture and "2024-02" in picture
    assert all(s in picture for s in SYMBOLS)
    assert "![PNL by symbol and month](heat-sma.heat.months.svg)" in path.read_text()
    assert path.with_suffix(".html").read_text().count("data:image/svg+xml;base64,") == 1


def test_names_are_checked_and_live_has_no_frame(heat):
    with pytest.raises(NotRegisteredError, match='frame "heat-fram" not found'):
        Heat.get_data("heat-sma", "heat-syn", "heat-fram")
    with pytest.raises(UsageError, match="frame_name must be a non-empty string"):
        Heat.get_data("heat-sma", "heat-syn")
    with pytest.raises(UsageError, match="a live run has no frame"):
        Heat.get_data("heat-sma", "heat-syn", "heat-frame", backtest=False)
    assert Heat.get_data("heat-sma", "heat-syn", backtest=False).total_symbols == 0
    assert "No closed trades recorded." in Heat.get_report("heat-sma", "heat-syn", backtest=False)


def test_an_empty_month_picture_says_so():
    from btfarm.orchestrator.reporting.heat_picture import heat_picture

    assert "no closed trade yet" in heat_picture(symbol_month_pnl({}), "t")

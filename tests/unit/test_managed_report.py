"""The report of a backtest that manages its positions (issue 31 section 3): the trade table's
Entries / Partial closes / Level moves columns, the "Managed trades" section, the line on how
the statistics count a managed trade, the commits applied and refused per kind
(``BacktestData.commits``) and the partial closes on the equity picture; a plain strategy's
report keeps none of them.

The managed strategy (tests/support/managed_backtest.py) trails its stop, closes 50 % at level
50 on either side and moves its stop to breakeven, on the reference data. Every figure checked
here is read back from the markdown and held to the closed results (or to counts taken in the
strategy's own hooks), not to the report's formatter.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from btfarm.orchestrator import Backtest, listen_strategy_commit
from btfarm.orchestrator.reports._format import timestamp
from btfarm.orchestrator.reports.columns import (
    DEFAULT_BACKTEST_COLUMNS,
    DEFAULT_LIVE_COLUMNS,
    backtest_columns,
    is_managed,
    live_columns,
)
from btfarm.orchestrator.reports.managed_trades import STATISTICS_NOTE
from btfarm.orchestrator.reports.pictures import equity_picture
from btfarm.orchestrator.reports.render import render_live
from btfarm.orchestrator.reports.series import equity_series, partial_close_marks
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared import events
from btfarm.shared.settings import get_settings
from tests.support import managed_backtest as mb

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both backtests, run once in a state folder of their own, and everything the tests read."""
    folder = tmp_path_factory.mktemp("managed-report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BTFARM_STATE_DIR", str(folder / "state"))
        patch.setenv("BTFARM_DUMP_DIR", str(folder / "dump"))
        get_settings.cache_clear()
        api, stops = mb.register()
        heard: list[dict] = []
        stops.append(listen_strategy_commit(heard.append))
        try:
            managed = [
                c.model_dump() for c in Backtest.run(mb.SYMBOL, mb.MANAGED, mb.EXCHANGE, mb.FRAME)
            ]
            plain = [
                c.model_dump() for c in Backtest.run(mb.SYMBOL, mb.PLAIN, mb.EXCHANGE, mb.FRAME)
            ]
            out = {
                "api": api,
                "heard": heard,
                "managed": managed,
                "plain": plain,
                "managed_data": Backtest.get_data(mb.SYMBOL, mb.MANAGED),
                "plain_data": Backtest.get_data(mb.SYMBOL, mb.PLAIN),
                "managed_report": Backtest.get_report(mb.SYMBOL, mb.MANAGED),
                "plain_report": Backtest.get_report(mb.SYMBOL, mb.PLAIN),
                "plain_default_columns": Backtest.get_report(
                    mb.SYMBOL, mb.PLAIN, columns=DEFAULT_BACKTEST_COLUMNS
                ),
            }
        finally:
            for stop in stops:
                stop()
            reset_state()
            get_settings.cache_clear()
    events.clear()
    return out


def table_after(report: str, heading: str) -> list[dict[str, str]]:
    """The first markdown table after the line ``heading``, as header -> cell dicts."""
    lines = report.split("\n")
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("| "):
            rows.append([c.strip() for c in line.strip()[2:-2].split(" | ")])
        elif rows:
            break
    assert set(rows[1]) == {"---"}, rows[1]  # the header's separator
    return [dict(zip(rows[0], r, strict=True)) for r in rows[2:]]


def levels(cell: str) -> tuple[str, str]:
    """(original, final) from "a -> b", or the one price twice."""
    first, _, last = cell.partition(" -> ")
    return first, last or first


def close(a: float, b: float, written: str) -> bool:
    """``a`` (as the report wrote it, to its decimals) is ``b``."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    return abs(a - b) <= 0.5 * 10**-decimals + 1e-12


def price_is(written: str, value: float) -> bool:
    """``written`` is the price ``value`` to the decimals a report gives a price (2 from 100
    up, 4 from 1 up); a column of numbers may pad it with zeros."""
    decimals = 2 if abs(value) >= 100 else 4 if abs(value) >= 1 else 8
    return abs(float(written) - value) <= 0.5 * 10**-decimals + 1e-12


def test_the_strategy_really_manages_its_positions(runs):
    managed = runs["managed"]
    assert len(managed) > 100
    assert sum(1 for c in managed if c["signal"]["partials"]) > 100
    assert (
        sum(
            1
            for c in managed
            if c["signal"]["price_stop_loss"] != c["signal"]["original_price_stop_loss"]
        )
        > 100
    )
    assert (
        sum(
            1
            for c in managed
            if c["signal"]["price_take_profit"] != c["signal"]["original_price_take_profit"]
        )
        > 10
    )
    assert (
        runs["api"].refused["breakeven"] > 0
    )  # on_breakeven's own call is refused: p lags a candle


def test_the_trade_table_has_the_compact_columns_with_each_trades_partials_and_moves(runs):
    report, managed = runs["managed_report"], runs["managed"]
    rows = table_after(report, "## Closed signals")
    assert list(rows[0])[-3:] == ["Entries", "Partial closes", "Level moves"]
    assert len(rows) == len(managed)
    for row, trade in zip(rows, managed, strict=True):
        sig = trade["signal"]
        assert row["Signal ID"] == sig["id"]
        assert row["Entries"] == ""  # one entry each: no average buy in this strategy
        written = [p for p in row["Partial closes"].split("; ") if p]
        assert len(written) == len(sig["partials"])
        for text, partial in zip(written, sig["partials"], strict=True):
            kind, percent, _, price = text.split(" ")
            assert (kind, percent) == (partial["type"], "50%")
            assert price_is(price, partial["current_price"])
        moves = dict(m.split(" ", 1) for m in row["Level moves"].split(", ") if m)
        for label, key in (("SL", "price_stop_loss"), ("TP", "price_take_profit")):
            assert (label in moves) == (sig[key] != sig[f"original_{key}"])
            if label in moves:
                first, last = moves[label].split(" -> ")
                assert price_is(first, sig[f"original_{key}"]) and price_is(last, sig[key])


def test_the_managed_trades_section_lists_each_trades_levels_entries_and_partials(runs):
    report, managed = runs["managed_report"], runs["managed"]
    numbered = [
        (n, c)
        for n, c in enumerate(managed, start=1)
        if c["signal"]["partials"]
        or len(c["signal"]["entries"]) > 1
        or c["signal"]["price_stop_loss"] != c["signal"]["original_price_stop_loss"]
        or c["signal"]["price_take_profit"] != c["signal"]["original_price_take_profit"]
    ]
    assert f"{len(numbered)} of the {len(managed)} closed trades were changed by a commit" in report

    level_rows = table_after(report, "### Levels")
    assert [int(r["#"]) for r in level_rows] == [n for n, _ in numbered]
    for row, (_, trade) in zip(level_rows, numbered, strict=True):
        sig, pnl = trade["signal"], trade["pnl"]
        assert row["Signal ID"] == sig["id"] and row["Position"] == sig["position"]
        for column, key in (
            ("Stop loss (original -> final)", "price_stop_loss"),
            ("Take profit (original -> final)", "price_take_profit"),
            ("Entry (opened -> effective)", "price_open"),
        ):
            first, last = levels(row[column])
            assert price_is(first, sig[f"original_{key}"]) and price_is(last, sig[key])
        assert int(row["Entries"]) == len(sig["entries"]) and int(row["Partials"]) == len(
            sig["partials"]
        )
        assert close(float(row["Invested $"]), pnl["pnl_entries"], row["Invested $"])
        assert close(float(row["PNL $"]), pnl["pnl_cost"], row["PNL $"])
        assert close(
            float(row["PNL %"].rstrip("%")), pnl["pnl_percentage"], row["PNL %"].rstrip("%")
        )
        assert row["Close Reason"] == trade["close_reason"]

    step_rows = table_after(report, "### Entries and partial closes")
    expected = []
    for number, trade in numbered:
        sig = trade["signal"]
        expected += [
            (number, e["timestamp"], "entry", e["price"], e["cost"], None, None)
            for e in sig["entries"]
        ]
        expected += [
            (
                number,
                q["timestamp"],
                f"partial {q['type']}",
                q["current_price"],
                q["percent"] / 100 * q["cost_basis_at_close"],
                q["percent"],
                q["cost_basis_at_close"],
            )
            for q in sig["partials"]
        ]
    assert len(step_rows) == len(expected)
    for row, (number, when, step, price, dollars, percent, basis) in zip(
        step_rows, expected, strict=True
    ):
        assert (int(row["#"]), row["Time"], row["Step"]) == (number, timestamp(when), step)
        assert price_is(row["Price"], price)
        assert close(float(row["Dollars"]), dollars, row["Dollars"])
        if percent is None:
            assert row["Percent"] == row["Cost basis $"] == ""
        else:
            assert float(row["Percent"].rstrip("%")) == percent
            assert close(float(row["Cost basis $"]), basis, row["Cost basis $"])
    # a second partial of a trade closes half of what the first left: its basis is 50 $
    assert any(r["Step"].startswith("partial") and r["Cost basis $"] == "50.00" for r in step_rows)


def test_the_statistics_count_a_managed_trade_once_and_the_report_says_so(runs):
    report, data = runs["managed_report"], runs["managed_data"]
    lines = report.split("\n")
    last_statistic = max(
        i for i, line in enumerate(lines) if line.startswith("| Rejected signals |")
    )
    assert lines[last_statistic + 1 : last_statistic + 3] == ["", STATISTICS_NOTE]
    assert report.count(STATISTICS_NOTE) == 1
    # once each, at its close, with its blended pnl_percentage: partial closes add no trade
    assert data.stats.total_signals == len(runs["managed"])
    assert data.stats.total_pnl == pytest.approx(
        sum(c["pnl"]["pnl_percentage"] for c in runs["managed"])
    )


def test_get_data_counts_the_commits_the_hooks_made_and_the_report_shows_them(runs):
    heard_applied = Counter(e["action"] for e in runs["heard"])
    api = runs["api"]
    assert heard_applied == api.applied  # the listener hears exactly the calls that returned True
    expected = {
        kind: {"applied": heard_applied[kind], "refused": api.refused[kind]}
        for kind in set(heard_applied) | set(api.refused)
    }
    assert runs["managed_data"].commits == expected
    assert set(expected) == {
        "trailing_stop",
        "trailing_take",
        "partial_profit",
        "partial_loss",
        "breakeven",
    }
    rows = table_after(runs["managed_report"], "## Position commits")
    assert {r["Commit"]: (int(r["Applied"]), int(r["Refused"])) for r in rows} == {
        f"commit_{kind}": (n["applied"], n["refused"]) for kind, n in expected.items()
    }
    assert [r["Commit"] for r in rows] == [
        "commit_trailing_stop",
        "commit_trailing_take",
        "commit_breakeven",
        "commit_partial_profit",
        "commit_partial_loss",
    ]


def test_the_equity_picture_marks_each_partial_close_where_the_equity_stood(runs):
    managed = runs["managed"]
    series = equity_series(managed)
    times, equity = partial_close_marks(managed, series)
    partials = sorted(q["timestamp"] for c in managed for q in c["signal"]["partials"])
    assert times.tolist() == partials
    for when, value in zip(times, equity, strict=True):
        done = [c["pnl"]["pnl_percentage"] for c in managed if c["close_timestamp"] <= when]
        assert value == pytest.approx(math.prod(1 + p / 100 for p in done), rel=1e-12)
    picture = equity_picture(series, "managed", drawdown=False, partials=(times, equity))
    assert "partial close (counted at the close)" in picture
    assert "partial close" not in equity_picture(series, "managed", drawdown=False)


def test_partial_close_marks_by_hand():
    """Two trades: a partial of the second sits at the equity the first left (1.02), the
    partial of the first at 1.0; the trade's own result counts only at its close."""

    def trade(pending, closes, pnl, partials):
        return {
            "signal": {"pending_at": pending, "partials": [{"timestamp": t} for t in partials]},
            "close_timestamp": closes,
            "pnl": {"pnl_percentage": pnl},
        }

    closed = [trade(0, 100, 2.0, [50]), trade(200, 400, -1.0, [300, 350])]
    times, equity = partial_close_marks(closed, equity_series(closed))
    assert times.tolist() == [50, 300, 350]
    assert equity.tolist() == pytest.approx([1.0, 1.02, 1.02])
    none = partial_close_marks([trade(0, 100, 2.0, [])], equity_series([trade(0, 100, 2.0, [])]))
    assert len(none[0]) == len(none[1]) == 0


def test_a_plain_strategys_report_is_unchanged(runs):
    report = runs["plain_report"]
    assert report == runs["plain_default_columns"]  # the default columns, nothing added
    assert "| Entries |" not in report and "Level moves" not in report
    assert "## Managed trades" not in report and "## Position commits" not in report
    assert STATISTICS_NOTE not in report
    assert runs["plain_data"].commits == {}
    assert not any(is_managed(c) for c in runs["plain"])
    assert (
        backtest_columns(runs["plain"])[: len(DEFAULT_BACKTEST_COLUMNS)] == DEFAULT_BACKTEST_COLUMNS
    )
    assert not any(
        c.is_visible() for c in backtest_columns(runs["plain"])[len(DEFAULT_BACKTEST_COLUMNS) :]
    )


def test_the_live_report_shows_the_same_columns_section_and_line(runs):
    managed = runs["managed"][:20]
    opened = [{**managed[0], "action": "opened"}]
    report = render_live(mb.SYMBOL, mb.MANAGED, mb.EXCHANGE, opened + managed)
    assert "| Entries | Partial closes | Level moves |" in report
    assert STATISTICS_NOTE in report and "## Managed trades" in report
    level_rows = table_after(report, "### Levels")
    # numbered by their row in the events table (the opened event is row 1); closed ones only
    assert [int(r["#"]) for r in level_rows] == [
        n + 2 for n, c in enumerate(managed) if is_managed(c)
    ]
    assert len(live_columns(managed)) == len(DEFAULT_LIVE_COLUMNS) + 3

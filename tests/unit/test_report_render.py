import re

import jinja2
import pytest

from btfarm.orchestrator.reports.columns import Column
from btfarm.orchestrator.reports.render import (
    BEST_MARKER,
    environment,
    render_backtest,
    render_live,
    render_walker,
)
from btfarm.shared.errors import ReportError
from btfarm.shared.stats import HINTS, BacktestStatistics, compute_statistics

pytestmark = pytest.mark.unit

T0 = 1_735_689_600_000  # 2025-01-01T00:00Z UTC, ms
MINUTE = 60_000


def closed(i, pnl, note=None):
    start = T0 + i * 60 * MINUTE
    return {
        "action": "closed",
        "symbol": "BTCUSDT",
        "strategy_name": "s",
        "exchange_name": "e",
        "frame_name": "f",
        "backtest": True,
        "timestamp": start + 5 * MINUTE,
        "signal": {
            "id": f"sig-{i}",
            "position": "long",
            "price_open": 100.0,
            "price_take_profit": 101.0,
            "price_stop_loss": 99.0,
            "minute_estimated_time": 60,
            "note": note,
            "symbol": "BTCUSDT",
            "strategy_name": "s",
            "exchange_name": "e",
            "frame_name": "f",
            "scheduled_at": start,
            "pending_at": start,
            "params": None,
        },
        "current_price": 101.0,
        "close_reason": "take_profit",
        "close_timestamp": start + 5 * MINUTE,
        "pnl": {"pnl_percentage": pnl, "price_open": 100.0, "price_close": 101.0},
        "peak_price": None,
        "peak_pnl": None,
        "fall_price": None,
        "fall_pnl": None,
    }


def table_lines(report):
    """The table lines of the closed-signal section (the statistics table comes first)."""
    if "## Closed signals" in report:
        report = report[report.index("## Closed signals") :]
    return [line for line in report.splitlines() if line.startswith("|")]


def header_cells(line):
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_environment_is_strict_and_escapes_html_templates_only():
    env = environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.autoescape("page.html.j2") is True  # the HTML twin's page
    assert env.autoescape("backtest.md.j2") is False  # markdown cells arrive escaped for markdown


def test_backtest_report_shows_the_default_columns_in_order():
    rows = [closed(0, 0.597403), closed(1, -1.403404)]
    report = render_backtest("BTCUSDT", "sma", "binance", "jan", rows, compute_statistics(rows))
    lines = table_lines(report)
    assert header_cells(lines[0]) == [
        "Signal ID",
        "Symbol",
        "Position",
        "Open Price",
        "Take Profit",
        "Stop Loss",
        "Close Price",
        "PNL %",
        "Close Reason",
        "Open Time",
        "Close Time",
        "Duration",
        "Note",
    ]
    assert (
        "| sig-0 | BTCUSDT | long | 100.00 | 101.00 | 99.00 | 101.00 | +0.60% | take_profit "
        "| 2025-01-01T00:00Z | 2025-01-01T00:05Z | 5m |  |" in report
    )
    assert report.index("sig-0") < report.index("sig-1")
    assert "sma" in report and "binance" in report and "jan" in report


def test_statistics_come_before_the_signal_list_each_with_its_hint():
    rows = [closed(0, 0.5)]
    report = render_backtest("BTCUSDT", "sma", "binance", "jan", rows, None)
    assert report.index("## Statistics") < report.index("## Closed signals") < report.index("sig-0")
    stats_part = report[report.index("## Statistics") :]
    assert "| Max drawdown | 0.00% | lower is better |" in stats_part
    assert "| Win rate | 100.00% | higher is better |" in stats_part
    # every hint but where more or fewer is not better in itself, and one for the compounded return
    assert stats_part.count("is better |") == len(HINTS) - 2 + 1
    assert "| Total signals | 1 |  |" in stats_part
    assert re.search(r"^\| Trades per year \| [\d.]+ \|  \|$", stats_part, re.MULTILINE)


def test_the_sum_of_trade_percentages_is_labelled_so_and_the_compounded_return_follows_it():
    rows = [closed(0, 10.0), closed(1, -10.0), closed(2, 10.0)]
    report = render_backtest("BTCUSDT", "sma", "binance", "jan", rows, None)
    assert "Total PNL" not in report
    lines = report.splitlines()
    at = lines.index("| Sum of trade % | +10.00% | higher is better |")
    assert (
        lines[at + 1] == "| Compounded return | +8.90% | higher is better |"
    )  # 1.1 * 0.9 * 1.1 = 1.089
    live = render_live("BTCUSDT", "sma", "binance", rows, None)
    assert "| Compounded return | +8.90% | higher is better |" in live


def test_the_backtest_report_lists_its_worst_drawdowns_deepest_first():
    rows = [closed(0, 10.0), closed(1, -10.0), closed(2, 20.0), closed(3, -50.0), closed(4, 10.0)]
    report = render_backtest("BTCUSDT", "sma", "binance", "jan", rows, None)
    section = report[report.index("## Worst drawdowns") : report.index("## Closed signals")]
    table = [line for line in section.splitlines() if line.startswith("| ")][2:]
    # 1.1 -> 0.99 -> 1.188 (a new peak at 02:05) -> 0.594 -> 0.6534: -50% not yet recovered, then -10%
    assert table == [
        "| 1 | 50.00% | 2025-01-01T02:05Z | 2025-01-01T03:05Z | not yet | 2 | N/A |",
        "| 2 | 10.00% | 2025-01-01T00:05Z | 2025-01-01T01:05Z | 2025-01-01T02:05Z | 2 | 2h 00m |",
    ]
    assert "## Worst drawdowns" not in render_backtest("BTCUSDT", "sma", "binance", "jan", [], None)


def test_none_statistics_show_as_na():
    report = render_backtest(
        "BTCUSDT",
        "sma",
        "binance",
        "jan",
        [closed(0, 0.5)],
        BacktestStatistics(total_signals=1, sharpe_ratio=None),
    )
    assert "| Sharpe ratio | N/A | higher is better |" in report
    assert "| Average PNL | N/A | higher is better |" in report


def test_custom_columns_hide_the_invisible_ones():
    columns = [
        Column("id", "ID", lambda r: r["signal"]["id"]),
        {
            "key": "secret",
            "label": "Secret",
            "format": lambda r: "hidden-value",
            "is_visible": lambda: False,
        },
        {"key": "pnl", "label": "PnL", "format": lambda r: None},
    ]
    report = render_backtest("BTCUSDT", "sma", "binance", "jan", [closed(0, 0.5)], None, columns)
    lines = table_lines(report)
    assert header_cells(lines[0]) == ["ID", "PnL"]
    assert "Secret" not in report and "hidden-value" not in report
    assert "| sig-0 | N/A |" in report  # a format returning None shows N/A


def test_notes_cannot_break_the_table():
    report = render_backtest("BTCUSDT", "sma", "binance", "jan", [closed(0, 0.5, "a|b\nc")], None)
    row = next(line for line in table_lines(report) if "sig-0" in line)
    assert row.endswith("| a\\|b<br>c |")


def test_a_failing_column_is_named():
    columns = [{"key": "boom", "label": "Boom", "format": lambda r: r["nope"]}]
    with pytest.raises(ReportError, match=r'column "boom" could not format row 0'):
        render_backtest("BTCUSDT", "sma", "binance", "jan", [closed(0, 0.5)], None, columns)


def test_an_empty_backtest_renders():
    report = render_backtest("BTCUSDT", "sma", "binance", "jan", [], None)
    assert "No closed signals." in report
    assert (
        "| Total signals | 0 |  |" in report
        and "| Compounded return | N/A | higher is better |" in report
    )
    assert report.endswith("\n") and not report.endswith("\n\n")


def test_live_report_counts_events_and_lists_them():
    base = {"symbol": "BTCUSDT", "strategy_name": "s", "exchange_name": "e", "timestamp": T0}
    events = [{**base, "action": "idle", "current_price": None}, closed(0, 0.5)]
    report = render_live("BTCUSDT", "sma", "binance", events, None)
    assert "| Closed | 1 |" in report and "| Idle | 1 |" in report
    assert "| Total events | 2 |" in report
    header = next(line for line in table_lines(report) if line.startswith("| Action |"))
    assert header_cells(header)[:3] == ["Action", "Time", "Signal ID"]
    assert "| idle | 2025-01-01T00:00Z |" in report
    assert "| closed | 2025-01-01T00:05Z | sig-0 |" in report
    assert "| Total signals | 1 |  |" in report


def walker_data(metric="sharpe_ratio"):
    return {
        "walker_name": "w1",
        "symbol": "BTCUSDT",
        "exchange_name": "binance",
        "frame_name": "jan",
        "metric": metric,
        "total_strategies": 4,
        "strategies_tested": 3,
        "strategies": [
            {"strategy_name": "none-first", "stats": {"sharpe_ratio": None, "total_signals": 3}},
            {
                "strategy_name": "mid",
                "stats": BacktestStatistics(sharpe_ratio=0.5, total_signals=10),
            },
            ("top", {"sharpe_ratio": 0.9, "total_signals": 11}),
        ],
    }


def test_walker_report_ranks_marks_the_winner_and_lists_failures():
    per = {"top": [closed(0, 0.5)], "mid": [closed(1, -0.5)], "none-first": []}
    report = render_walker(
        {**walker_data(), "unfinished": {"broken": "ValueError: bad\nparam"}}, per
    )
    for expected in (
        "w1",
        "BTCUSDT",
        "binance",
        "jan",
        "sharpe_ratio",
        "3 / 4",
        "Best: top (Sharpe ratio = 0.900)",
    ):
        assert expected in report
    comparison = report[report.index("## Comparison") : report.index("## Did not finish")]
    assert comparison.index("top") < comparison.index("mid") < comparison.index("none-first")
    assert f"| {BEST_MARKER} **1** | **top** | **0.900** |" in comparison
    assert "| 3 | none-first | N/A |" in comparison
    failures = report[report.index("## Did not finish") : report.index("## PnL by strategy")]
    assert "| broken | ValueError: bad<br>param |" in failures
    pnl = report[report.index("## PnL by strategy") :]
    assert pnl.index("### top") < pnl.index("### mid") < pnl.index("### none-first")
    assert "No closed signals." in pnl[pnl.index("### none-first") :]


def test_walker_top_n_limits_the_comparison():
    report = render_walker(walker_data(), {}, top_n=1)
    comparison = report[report.index("## Comparison") : report.index("## PnL by strategy")]
    assert "Top 1 of 3" in comparison
    assert "top" in comparison and "| 2 | mid" not in comparison


def test_walker_with_no_values_has_no_winner():
    data = walker_data()
    data["strategies"] = [{"strategy_name": "a", "stats": {"sharpe_ratio": None}}]
    report = render_walker(data, {})
    assert "Best: N/A" in report
    assert f"{BEST_MARKER} **" not in report


def test_walker_custom_columns():
    columns = [
        {"key": "name", "label": "Name", "format": lambda r: r["strategy_name"]},
        {"key": "x", "label": "X", "format": lambda r: "x", "is_visible": lambda: False},
    ]
    report = render_walker(walker_data(), {}, strategy_columns=columns)
    assert f"| {BEST_MARKER} **top** |" in report
    assert "| X |" not in report


@pytest.mark.parametrize("top_n", [0, -1, 1.5, True])
def test_walker_refuses_a_bad_top_n(top_n):
    with pytest.raises(ReportError, match="top_n"):
        render_walker(walker_data(), {}, top_n=top_n)


def test_walker_refuses_data_without_a_metric():
    data = walker_data()
    del data["metric"]
    with pytest.raises(ReportError, match="'metric'"):
        render_walker(data, {})


def _fp(name, source, params, **over):
    return {
        "btfarm_version": "0.1.0",
        "strategy_name": name,
        "params": params,
        "source_hash": source,
        "data_start_ms": T0,
        "data_end_ms": T0 + 9 * MINUTE,
        "candles": 10,
        "candles_digest": "d1g35t",
        "fee_percent": 0.1,
        "slippage_percent": 0.1,
        "config_hash": "cfg",
        **over,
    }


def test_walker_fingerprint_lists_shared_fields_once_and_each_strategy_in_rank_order():
    fingerprints = {
        "mid": _fp("mid", "bbb", {"fast": 8}),
        "top": _fp("top", "aaa", {"fast": 5}),
        "none-first": _fp("none-first", "ccc", {}, fee_percent=0.2),
    }
    report = render_walker({**walker_data(), "fingerprints": fingerprints, "run_id": "run-42"}, {})
    assert "- Run id: run-42" in report
    section = report[report.index("## Fingerprint") :]
    for row in (
        "| btfarm_version | 0.1.0 |",
        "| candles_digest | d1g35t |",
        f"| data_start_ms | 2025-01-01T00:00Z ({T0}) |",
        "| slippage_percent | 0.1 |",
        "| fee_percent | varies by strategy |",
    ):
        assert row in section
    rows = section[section.index("| Strategy | Source hash | Parameters |") :]
    assert '| top | aaa | {"fast": 5} |' in rows
    assert rows.index("| top |") < rows.index("| mid |") < rows.index("| none-first |")


def test_walker_without_fingerprints_has_no_fingerprint_section():
    assert "## Fingerprint" not in render_walker(walker_data(), {})


def test_a_recomputed_strategy_that_disagrees_with_its_ranked_statistics_is_flagged_in_bold():
    again = {
        "top": {"sharpe_ratio": 0.9, "total_signals": 11},  # reproduces: not flagged
        "mid": BacktestStatistics(sharpe_ratio=0.2, total_signals=12),
    }  # other code or data
    report = render_walker(walker_data(), {}, recomputed=again)
    assert "**Recomputed signals disagree with the ranked statistics**" in report
    row = next(line for line in report.splitlines() if line.startswith("| **mid**"))
    assert (
        "Total signals ranked 10, recomputed 12" in row
        and "Sharpe ratio ranked 0.500, recomputed 0.200" in row
    )
    mismatches = report[report.index("**Recomputed") : report.index("## PnL by strategy")]
    assert "top" not in mismatches
    assert "disagree" not in render_walker(walker_data(), {}, recomputed={"top": again["top"]})


def test_unranked_and_rejected_variants_have_their_sections():
    report = render_walker(
        {
            **walker_data(),
            "min_trades": 5,
            "unranked": {
                "thin": (
                    "2 closed signals, fewer than min_trades=5",
                    {"total_signals": 2, "rejected_signals": 40},
                )
            },
            "rejections": {
                "thin": (40, ['strategy "thin" at 2025-01-01T00:00Z: signal rejected: x'])
            },
        },
        {},
    )
    section = report[report.index("## Not ranked") :]
    assert "| thin | 2 closed signals, fewer than min_trades=5 | 2 | 40 |" in section
    assert "(the walker's min_trades)" in section
    rejected = report[report.index("## Rejected signals") :]
    assert '| thin | 40 | strategy "thin" at 2025-01-01T00:00Z: signal rejected: x |' in rejected


def test_a_column_of_numbers_has_one_number_of_decimals():
    from btfarm.orchestrator.reports.render import _align_decimals

    rows = [
        ["a", "101.5", "1.25%", "N/A"],
        ["b", "99.2500", "-3%", "7"],
        ["c", "N/A", "+0.5%", "x"],
    ]
    _align_decimals(rows)
    assert [r[1] for r in rows] == ["101.5000", "99.2500", "N/A"]
    assert [r[2] for r in rows] == ["1.25%", "-3.00%", "+0.50%"]
    assert [r[3] for r in rows] == ["N/A", "7", "x"]  # not all numbers: left alone


def many_variants(count, lost=False):
    sign = -1 if lost else 1
    return {
        "walker_name": "w",
        "symbol": "BTCUSDT",
        "exchange_name": "e",
        "frame_name": "f",
        "metric": "sharpe_ratio",
        "strategies": [
            (
                f"v{i:02d}",
                {
                    "sharpe_ratio": 1 - i / 100,
                    "total_signals": 20 + i,
                    "total_pnl": sign * (5.0 - i / 10),
                },
            )
            for i in range(count)
        ],
    }


def test_a_walker_report_leads_with_the_verdict_the_top_ten_and_the_pictures():
    per = {f"v{i:02d}": [closed(0, 0.5)] for i in range(10)}
    search = {
        "trials": 15,
        "days": 30,
        "deflated_sharpe": 0.97,
        "pbo": 0.2,
        "winner_daily_sharpe": 0.2,
    }
    report = render_walker(
        {
            **many_variants(15),
            "trust": search,
            "unfinished": {"broken": "ValueError"},
            "fingerprints": {"v00": _fp("v00", "aaa", {"i": 0})},
        },
        per,
        pictures=[("heatmap", "w.heatmap.svg")],
    )
    order = [
        "## Can the winner be trusted?",
        "## Comparison by sharpe_ratio",
        "## Pictures",
        "## Did not finish",
        "## Full ranking",
        "## PnL by strategy",
        "## Fingerprint",
    ]
    assert [report.index(h) for h in order] == sorted(report.index(h) for h in order)
    top = report[report.index("## Comparison") : report.index("## Pictures")]
    assert "Top 10 of 15 strategies" in top and "Full ranking, below, lists all 15." in top
    assert "| v09 |" in top and "| v10 |" not in top
    full = report[report.index("## Full ranking") : report.index("## PnL by strategy")]
    assert "All 15 strategies by sharpe_ratio." in full and "| 15 | v14 |" in full
    assert f"| {BEST_MARKER} **1** | **v00** |" in full
    sentence = report.splitlines()[report.splitlines().index("## Can the winner be trusted?") + 2]
    assert sentence.startswith(
        "The winner looks real: its edge beats what 15 trials find by chance, and "
    )
    assert "The closed signals of the first 10 in the ranking." in report


def test_a_few_variants_have_one_table_and_a_top_n_keeps_the_ranking_short():
    report = render_walker(many_variants(8), {})
    assert "## Full ranking" not in report and report.count("| v07 |") == 1
    report = render_walker(many_variants(30), {}, top_n=12)
    assert (
        "Top 10 of 30 strategies" in report and "Full ranking, below, lists the first 12." in report
    )
    full = report[report.index("## Full ranking") :]
    assert (
        "The first 12 of 30 strategies by sharpe_ratio." in full
        and "| v11 |" in full
        and "| v12 |" not in full
    )


def test_when_every_variant_lost_the_verdict_says_so_in_one_sentence():
    search = {
        "trials": 15,
        "days": 30,
        "deflated_sharpe": 0.0,
        "pbo": 0.75,
        "winner_daily_sharpe": -1.6,
    }
    report = render_walker({**many_variants(15, lost=True), "trust": search}, {})
    assert (
        "Every variant lost; the best is only the least bad (deflated Sharpe ratio 0.0%, probability of "
        "backtest overfitting 75.0%)."
    ) in report
    one_won = many_variants(15, lost=True)
    one_won["strategies"][-1][1]["total_pnl"] = 0.5
    report = render_walker({**one_won, "trust": search}, {})  # the winner lost, not all of them
    assert "Every variant lost" not in report
    assert (
        "The winner lost money on the average day; it is only the least bad of 15 trials" in report
    )
    search = {
        "trials": 15,
        "days": 30,
        "deflated_sharpe": 0.2,
        "pbo": 0.75,
        "winner_daily_sharpe": 0.1,
    }
    assert (
        "The winner looks like luck: its edge is no more than 15 trials find by chance, and the best in "
        "sample usually falls to the median or below out of sample"
        in render_walker({**many_variants(15), "trust": search}, {})
    )

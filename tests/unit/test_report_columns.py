import pytest

from btfarm.orchestrator.reports import _format as fmt
from btfarm.orchestrator.reports.columns import (
    DEFAULT_BACKTEST_COLUMNS,
    DEFAULT_LIVE_COLUMNS,
    DEFAULT_WALKER_PNL_COLUMNS,
    Column,
    resolve_columns,
    walker_comparison_columns,
)
from btfarm.shared.errors import ReportError

pytestmark = pytest.mark.unit

T0 = 1_735_689_600_000  # 2025-01-01T00:00Z UTC, ms

ROW = {
    "action": "closed",
    "symbol": "BTCUSDT",
    "strategy_name": "s",
    "exchange_name": "e",
    "frame_name": "f",
    "backtest": True,
    "timestamp": T0 + 65 * 60_000,
    "signal": {
        "id": "sig-1",
        "position": "short",
        "price_open": 100.0,
        "price_take_profit": 99.0,
        "price_stop_loss": 101.0,
        "minute_estimated_time": 60,
        "note": "a | b\nc",
        "symbol": "BTCUSDT",
        "strategy_name": "s",
        "exchange_name": "e",
        "frame_name": "f",
        "scheduled_at": T0,
        "pending_at": T0 + 5 * 60_000,
        "params": None,
    },
    "current_price": 101.0,
    "close_reason": "stop_loss",
    "close_timestamp": T0 + 65 * 60_000,
    "pnl": {"pnl_percentage": -1.403404, "price_open": 100.0, "price_close": 101.0},
    "peak_price": None,
    "peak_pnl": None,
    "fall_price": None,
    "fall_pnl": None,
}


def test_default_backtest_columns_are_exactly_the_documented_ones():
    assert [c.label for c in DEFAULT_BACKTEST_COLUMNS] == [
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


def test_default_backtest_columns_format_a_closed_result():
    cells = {c.label: c.format(ROW) for c in DEFAULT_BACKTEST_COLUMNS}
    assert cells == {
        "Signal ID": "sig-1",
        "Symbol": "BTCUSDT",
        "Position": "short",
        "Open Price": "100.00",
        "Take Profit": "99.00",
        "Stop Loss": "101.00",
        "Close Price": "101.00",
        "PNL %": "-1.40%",
        "Close Reason": "stop_loss",
        "Open Time": "2025-01-01T00:05Z",
        "Close Time": "2025-01-01T01:05Z",
        "Duration": "1h 00m",
        "Note": "a | b\nc",
    }
    assert all(c.is_visible() for c in DEFAULT_BACKTEST_COLUMNS)


def test_live_columns_include_the_action_and_tolerate_an_idle_tick():
    assert DEFAULT_LIVE_COLUMNS[0].label == "Action"
    idle = {"action": "idle", "symbol": "BTCUSDT", "timestamp": T0, "current_price": None}
    cells = {c.label: c.format(idle) for c in DEFAULT_LIVE_COLUMNS}
    assert cells["Action"] == "idle" and cells["Time"] == "2025-01-01T00:00Z"
    assert cells["Open Price"] == "N/A" and cells["Current Price"] == "N/A"
    cancelled = {"action": "cancelled", "cancel_reason": "timeout"}
    assert {c.label: c.format(cancelled) for c in DEFAULT_LIVE_COLUMNS}["Reason"] == "timeout"


def test_walker_comparison_columns():
    labels = [c.label for c in walker_comparison_columns("win_rate")]
    assert labels == [
        "Rank",
        "Strategy",
        "Win rate",
        "Total Signals",
        "Sum of trade %",
        "Sharpe",
        "Max Drawdown",
        "Rejected",
    ]
    row = {
        "rank": 1,
        "strategy_name": "a",
        "metric": "win_rate",
        "metric_value": 55.0,
        "stats": {
            "total_signals": 12,
            "total_pnl": 3.25,
            "sharpe_ratio": None,
            "max_drawdown": 1.5,
            "rejected_signals": 4,
        },
        "is_best": True,
    }
    cells = [c.format(row) for c in walker_comparison_columns("win_rate")]
    assert cells == ["1", "a", "55.00%", "12", "+3.25%", "N/A", "1.50%", "4"]
    assert "Sum of trade %" in [c.label for c in walker_comparison_columns("sharpe_ratio")]


def test_walker_pnl_columns_format_a_closed_result():
    assert [c.label for c in DEFAULT_WALKER_PNL_COLUMNS][:2] == ["Signal ID", "Position"]
    assert all(isinstance(c.format(ROW), str) for c in DEFAULT_WALKER_PNL_COLUMNS)


def test_none_gives_the_defaults_and_dicts_become_columns():
    assert resolve_columns(None, DEFAULT_BACKTEST_COLUMNS, "backtest") == list(
        DEFAULT_BACKTEST_COLUMNS
    )
    given = [
        {"key": "id", "label": "ID", "format": lambda r: r["signal"]["id"]},
        Column("sym", "Sym", lambda r: r["symbol"], lambda: False),
    ]
    columns = resolve_columns(given, DEFAULT_BACKTEST_COLUMNS, "backtest")
    assert all(isinstance(c, Column) for c in columns)
    assert columns[0].format(ROW) == "sig-1" and columns[0].is_visible() is True
    assert columns[1] is given[1]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([{"key": "pnl", "label": "PNL"}], r'column 0 \("pnl"\): missing format'),
        (
            [{"key": "pnl", "label": "PNL", "format": "x"}],
            r'column 0 \("pnl"\): format must be callable',
        ),
        (
            [{"key": "pnl", "label": "PNL", "format": str, "is_visible": True}],
            r'column 0 \("pnl"\): is_visible must be callable',
        ),
        (
            [{"key": "pnl", "label": "PNL", "format": str, "colour": "red"}],
            r"column 0 \(\"pnl\"\): unknown keys 'colour'",
        ),
        ([{"key": "", "label": "PNL", "format": str}], r"column 0 \(no key\): key must be"),
        ([{"key": "a", "label": 3, "format": str}], r'column 0 \("a"\): label must be a string'),
        (
            [Column("a", "A", str), {"key": "a", "label": "B", "format": str}],
            r'column 1 \("a"\): the key is used twice',
        ),
        ([Column("a", "A", str), 42], r"column 1 is a int"),
        ([], r"columns is empty"),
        ("Signal ID", r"must be a list"),
        ({"key": "a", "label": "A", "format": str}, r"must be a list"),
    ],
)
def test_bad_columns_are_refused_naming_the_column(columns, message):
    with pytest.raises(ReportError, match=message):
        resolve_columns(columns, DEFAULT_BACKTEST_COLUMNS, "backtest")


def test_format_helpers_show_na_for_missing_values():
    for value in (None, float("nan"), float("inf"), float("-inf")):
        assert fmt.number(value) == "N/A"
        assert fmt.percent(value) == "N/A"
        assert fmt.price(value) == "N/A"
        assert fmt.timestamp(value) == "N/A"
        assert fmt.duration(value) == "N/A"
        assert fmt.integer(value) == "N/A"


def test_format_helpers():
    assert fmt.timestamp(T0 + 5 * 60_000) == "2025-01-01T00:05Z"
    assert fmt.percent(0.597403, signed=True) == "+0.60%"
    assert fmt.percent(55.5) == "55.50%"
    assert fmt.price(43123.456) == "43123.46"
    assert fmt.price(1.5) == "1.50"
    assert fmt.price(0.00012345) == "0.00012345"
    assert fmt.duration(45) == "45m"
    assert fmt.duration(125) == "2h 05m"
    assert fmt.duration(1440 * 3 + 250) == "3d 04h 10m"
    assert fmt.number(1.23456, 3) == "1.235"
    assert fmt.stat_value("sharpe_ratio", 0.316227) == "0.316"
    assert fmt.stat_value("max_drawdown", 20) == "20.00%"
    assert fmt.stat_value("total_signals", 12) == "12"


def test_cells_escape_pipes_and_line_breaks():
    assert fmt.cell("a | b\nc\r\nd") == "a \\| b<br>c<br>d"
    assert fmt.cell("back\\slash") == "back\\\\slash"

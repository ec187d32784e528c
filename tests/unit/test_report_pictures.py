"""The pictures of the reports: the series behind each held to golden data (not pixels),
and each picture written, non-trivial and linked."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from btfarm.orchestrator.reports.series import equity_series, heatmap, thin
from btfarm.shared.drawdown import max_drawdown

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "sma_cross_5m_sim_30d.csv"


def golden_closed() -> list[dict]:
    with GOLDEN.open() as handle:
        return [
            {
                "pnl": {"pnl_percentage": float(r["pnl_percentage"])},
                "signal": {"pending_at": int(r["pending_at"])},
                "close_timestamp": int(r["close_timestamp"]),
            }
            for r in csv.DictReader(handle)
        ]


def test_the_equity_and_drawdown_series_of_the_golden_signals():
    rows = golden_closed()
    series = equity_series(rows)
    pnl = np.array(
        [r["pnl"]["pnl_percentage"] for r in sorted(rows, key=lambda r: r["close_timestamp"])]
    )
    assert (
        len(series.equity) == len(rows) + 1 == len(series.times_ms) == len(series.drawdown) == 341
    )
    assert series.equity[0] == 1.0
    assert series.equity[-1] == pytest.approx(float(np.prod(1 + pnl / 100)), rel=1e-12)
    assert float(series.drawdown.max()) == pytest.approx(
        max_drawdown(pnl), rel=1e-12
    )  # as the statistic
    assert (series.drawdown >= 0).all() and series.drawdown[0] == 0.0
    assert list(series.times_ms[1:]) == sorted(r["close_timestamp"] for r in rows)
    # golden numbers of this data set, so a change to the series is seen
    assert round(float(series.equity[-1]), 6) == round(float(np.prod(1 + pnl / 100)), 6)
    assert int(np.argmax(series.drawdown)) == int(
        np.argmax(
            (np.maximum.accumulate(series.equity) - series.equity)
            / np.maximum.accumulate(series.equity)
        )
    )


def test_a_long_series_is_thinned_keeping_its_extremes():
    x = np.arange(525_600)
    y = np.sin(x / 5000.0) + (x == 300_000) * 9.0  # one spike
    tx, ty = thin(x, y, 2000)
    assert len(tx) <= 2000 and ty.max() == y.max() and ty.min() == y.min()
    assert list(tx) == sorted(tx)


def test_the_heatmap_matrix_holds_the_other_params_at_the_best_and_leaves_gaps_nan():
    grid = {"fast": [5, 10], "slow": [20, 40, 60], "stop": [1, 2]}
    results = {
        f"v{f}-{s}-{st}": ({"fast": f, "slow": s, "stop": st}, f * 100 + s + st / 10)
        for f in grid["fast"]
        for s in grid["slow"]
        for st in grid["stop"]
    }
    results["v10-60-2"] = ({"fast": 10, "slow": 60, "stop": 2}, None)  # not ranked
    hm = heatmap(grid, results, "fast", "slow", {"fast": 5, "slow": 20, "stop": 2})
    assert hm.fixed == {"stop": 2} and hm.x_values == [5, 10] and hm.y_values == [20, 40, 60]
    assert hm.matrix.shape == (3, 2)
    assert hm.matrix[0, 0] == 520.2 and hm.matrix[2, 0] == 560.2 and hm.matrix[1, 1] == 1040.2
    assert math.isnan(hm.matrix[2, 1])  # shown as such, never as zero


def test_rank_changes_pair_each_strategy_with_its_previous_rank():
    from btfarm.orchestrator.reports.series import rank_changes

    previous = {
        "ranking": [
            {"strategy_name": "a", "rank": 1},
            {"strategy_name": "b", "rank": 2},
            {"strategy_name": "gone", "rank": 3},
        ]
    }
    current = {
        "ranking": [
            {"strategy_name": "b", "rank": 1},
            {"strategy_name": "a", "rank": 2},
            {"strategy_name": "new", "rank": 3},
        ]
    }
    assert rank_changes(current, previous) == [("b", 2, 1), ("a", 1, 2), ("new", None, 3)]
    assert rank_changes(current, previous, most=1) == [("b", 2, 1)]


def test_the_live_picture_draws_the_open_positions_levels_and_says_when_nothing_closed():
    from btfarm.orchestrator.reports.pictures import equity_picture

    empty = equity_series([])
    svg = equity_picture(empty, "live", {"entry": 100.0, "TP": 104.0, "SL": 96.0})
    for text in ("entry 100", "TP 104", "SL 96", "no closed signal yet"):
        assert text in svg, text
    assert list(empty.equity) == [1.0] and list(empty.drawdown) == [0.0]


def test_matplotlib_is_imported_with_the_first_picture_not_with_btfarm():
    """It costs ~0.5 s and 30 MB: a sweep, a backtest or a CLI command that draws nothing
    (a million-variant sweep's orchestrator counts its memory) must not pay for it."""
    import subprocess
    import sys

    code = (
        "import sys, btfarm.orchestrator, btfarm.orchestrator.cli; before = 'matplotlib' in sys.modules; "
        "from btfarm.orchestrator.reports.pictures import distribution_picture; "
        "svg = distribution_picture([1.0, 2.0, 2.5], 2.5, 'total_pnl', 0, 0); "
        "print(before, 'matplotlib' in sys.modules, svg.lstrip().startswith('<?xml'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]


def test_optuna_is_imported_with_the_first_search_not_with_btfarm():
    import subprocess
    import sys

    code = (
        "import sys, btfarm.orchestrator, btfarm.orchestrator.cli; print('optuna' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


def test_the_search_picture_shows_every_ranked_trial_and_the_best_so_far():
    from btfarm.orchestrator.reports.pictures import search_picture

    svg = search_picture([0.5, None, 1.5, 1.0], "total_pnl")
    assert (
        svg.lstrip().startswith("<?xml")
        and "best so far" in svg
        and "1 not ranked, not shown" in svg
    )


def test_names_with_dollars_and_markup_are_drawn_as_text():
    """A sweep value in a variant's name is any text: "$x^$" was parsed as mathtext and
    failed the picture (and with it the report); markup is written escaped in the SVG."""
    from btfarm.orchestrator.reports.pictures import top_equity_picture

    name = "v[tag=$x^$ <script>alert(1)</script>]"
    svg = top_equity_picture({name: equity_series(golden_closed())}, f"best of {name}")
    assert "$x^$ &lt;script&gt;alert(1)&lt;/script&gt;]" in svg and "<script" not in svg


# ---- the backtest's pictures: the numbers behind each, held to the golden signals ----------------

DAY = 86_400_000


def spread_over_months(rows: list[dict]) -> list[dict]:
    """The golden signals, the k-th moved k * 3 days later: 340 trades over about 2.8 years."""
    out = []
    for k, row in enumerate(sorted(rows, key=lambda r: r["close_timestamp"])):
        shift = k * 3 * DAY
        out.append(
            {
                **row,
                "signal": {**row["signal"], "pending_at": row["signal"]["pending_at"] + shift},
                "close_timestamp": row["close_timestamp"] + shift,
            }
        )
    return out


def test_the_monthly_returns_compounded_give_the_final_equity():
    from btfarm.orchestrator.reports.series import compounded_return, monthly_returns

    rows = golden_closed()
    one = monthly_returns(rows)  # every golden signal closed in January 2025
    assert one.years == [2025] and round(float(one.months[0, 0]), 6) == -75.545728
    assert np.isnan(one.months[0, 1:]).all() and one.yearly[0] == pytest.approx(
        one.months[0, 0], rel=1e-12
    )
    assert one.months[0, 0] == pytest.approx(compounded_return(rows), rel=1e-12)

    spread = spread_over_months(rows)
    monthly = monthly_returns(spread)
    assert monthly.years == [2025, 2026, 2027]
    final = equity_series(spread).equity[-1]
    months = monthly.months[np.isfinite(monthly.months)]
    assert len(months) == 35  # January 2025 .. November 2027
    assert float(np.prod(1 + months / 100)) == pytest.approx(final, rel=1e-12)
    assert float(np.prod(1 + monthly.yearly / 100)) == pytest.approx(final, rel=1e-12)
    for year, row in zip(
        monthly.years, monthly.months, strict=True
    ):  # each year compounds its months
        done = row[np.isfinite(row)]
        assert monthly.yearly[monthly.years.index(year)] == pytest.approx(
            (np.prod(1 + done / 100) - 1) * 100
        )


def test_a_trade_counts_in_the_utc_month_it_closed_in():
    from btfarm.orchestrator.reports.series import monthly_returns

    end_of_january = 1_738_367_940_000  # 2025-01-31T23:59Z
    rows = [
        {
            "pnl": {"pnl_percentage": 10.0},
            "signal": {"pending_at": end_of_january - DAY},
            "close_timestamp": end_of_january,
        },
        {
            "pnl": {"pnl_percentage": 10.0},
            "signal": {"pending_at": end_of_january},
            "close_timestamp": end_of_january + 60_000,
        },  # 2025-02-01T00:00Z
        {
            "pnl": {"pnl_percentage": -50.0},
            "signal": {"pending_at": end_of_january},
            "close_timestamp": end_of_january + 120_000,
        },
    ]
    monthly = monthly_returns(rows)
    assert monthly.months[0, 0] == pytest.approx(10.0)
    assert monthly.months[0, 1] == pytest.approx(
        -45.0
    )  # 1.1 * 0.5 - 1, compounded, not summed (-40)
    assert monthly.yearly[0] == pytest.approx((1.1 * 1.1 * 0.5 - 1) * 100)


def test_the_underwater_curve_bottoms_at_minus_max_drawdown():
    from btfarm.orchestrator.reports.series import drawdown_periods, underwater

    for rows in (golden_closed(), spread_over_months(golden_closed())[:120]):
        series = equity_series(rows)
        pnl = np.array(
            [r["pnl"]["pnl_percentage"] for r in sorted(rows, key=lambda r: r["close_timestamp"])]
        )
        curve = underwater(series)
        assert float(curve.min()) == pytest.approx(-max_drawdown(pnl), rel=1e-12)
        assert (curve <= 0).all() and curve[0] == 0.0
        assert drawdown_periods(series)[0].depth == pytest.approx(max_drawdown(pnl), rel=1e-12)
    assert round(-float(underwater(equity_series(golden_closed())).min()), 6) == 75.690951


def test_the_worst_drawdown_periods_run_from_a_peak_to_its_recovery_deepest_first():
    from btfarm.orchestrator.reports.series import drawdown_periods

    t0 = 1_735_689_600_000
    pnl = [10, -10, 20, -50, 10, 200, -5, 1]
    rows = [
        {
            "pnl": {"pnl_percentage": p},
            "signal": {"pending_at": t0 + i * 100},
            "close_timestamp": t0 + i * 100 + 50,
        }
        for i, p in enumerate(pnl)
    ]
    periods = drawdown_periods(equity_series(rows))
    # equity 1, 1.1, .99, 1.188, .594, .6534, 1.9602, 1.86219, 1.8808...: three falls
    assert [round(p.depth, 6) for p in periods] == [50.0, 10.0, 5.0]
    deepest, second, last = periods
    assert (deepest.peak_ms, deepest.trough_ms, deepest.recovered_ms, deepest.trades) == (
        t0 + 250,
        t0 + 350,
        t0 + 550,
        3,
    )
    assert (second.peak_ms, second.trough_ms, second.recovered_ms, second.trades) == (
        t0 + 50,
        t0 + 150,
        t0 + 250,
        2,
    )
    assert last.recovered_ms is None and last.trades == 2  # still under its peak at the end
    assert drawdown_periods(equity_series(rows), most=1) == [deepest]
    assert drawdown_periods(equity_series([])) == []


def test_the_rolling_sharpe_ratio_is_the_statistic_over_the_last_n_trades():
    from btfarm.orchestrator.reports.series import rolling_sharpe
    from btfarm.shared.stats import compute_statistics

    rows = golden_closed()
    times, values, window = rolling_sharpe(rows)
    assert window == 30 and len(values) == len(rows) == len(times)
    assert np.isnan(values[:29]).all() and np.isfinite(values[29:]).all()
    ordered = sorted(rows, key=lambda r: r["close_timestamp"])
    assert values[-1] == pytest.approx(compute_statistics(ordered[-30:]).sharpe_ratio, rel=1e-9)
    assert values[100] == pytest.approx(compute_statistics(ordered[71:101]).sharpe_ratio, rel=1e-9)
    _, whole, _ = rolling_sharpe(rows, len(rows))
    assert whole[-1] == pytest.approx(compute_statistics(rows).sharpe_ratio, rel=1e-12)
    assert round(float(values[-1]), 6) == -0.572358
    _, few, window = rolling_sharpe(rows[:12])
    assert window == 10 and np.isfinite(few[9:]).all()  # never under the statistic's own minimum


def reference_candles():
    import pandas as pd

    from btfarm.shared.candles import Candles

    frame = pd.read_csv(ROOT / "examples" / "data" / "sim-30d-1m.csv")
    return Candles(
        *(frame[c].to_numpy() for c in ("timestamp_ms", "open", "high", "low", "close", "volume"))
    )


def test_buy_and_hold_grows_as_the_symbol_over_the_frame():
    from btfarm.orchestrator.reports.series import buy_and_hold

    candles = reference_candles()
    start, end = 1_735_776_000_000, 1_738_108_740_000  # 2025-01-02 .. 2025-01-28T23:59Z
    times, equity = buy_and_hold(candles.timestamp, candles.open, candles.close, start, end)
    first, last = candles.index_at(start), candles.index_at(end)
    assert times[0] == start and equity[0] == 1.0
    assert times[-1] == end + 60_000  # the last candle's close
    assert equity[-1] == pytest.approx(candles.close[last] / candles.open[first], rel=1e-12)
    assert len(equity) == last - first + 2
    assert buy_and_hold(candles.timestamp, candles.open, candles.close, 0, 1)[0].size == 0


def test_the_heatmap_colours_span_robust_percentiles_and_the_best_cell_is_known():
    from btfarm.orchestrator.reports.series import color_range

    grid = {"fast": list(range(10)), "slow": list(range(10))}
    results = {
        f"v{f}-{s}": ({"fast": f, "slow": s}, f + s / 10)
        for f in grid["fast"]
        for s in grid["slow"]
    }
    results["v9-9"] = ({"fast": 9, "slow": 9}, 1000.0)  # one outlier cell
    hm = heatmap(grid, results, "fast", "slow", {"fast": 3, "slow": 4})
    low, high = color_range(hm.matrix)
    assert high < 10 and low < 1  # the outlier does not stretch the scale over the rest
    assert low == pytest.approx(np.percentile(hm.matrix, 5)) and high == pytest.approx(
        np.percentile(hm.matrix, 95)
    )
    assert hm.best == (4, 3)  # (row: slow, column: fast)
    flat = np.full((2, 2), 7.0)
    assert color_range(flat) == (7.0, 7.0) and color_range(np.full((2, 2), np.nan)) is None
    gap = {"fast": [1, 2], "slow": [1, 2]}
    assert (
        heatmap(
            gap, {"a": ({"fast": 1, "slow": 1}, None)}, "fast", "slow", {"fast": 1, "slow": 1}
        ).best
        is None
    )


def test_the_heatmap_picture_marks_the_best_cell_and_says_its_colours_are_clipped():
    from btfarm.orchestrator.reports.pictures import heatmap_picture

    grid = {"fast": [1, 2, 3, 4], "slow": [1, 2, 3, 4, 5]}
    results = {
        f"v{f}-{s}": ({"fast": f, "slow": s}, f + s / 10)
        for f in grid["fast"]
        for s in grid["slow"]
    }
    results["v4-5"] = ({"fast": 4, "slow": 5}, 99.0)
    svg = heatmap_picture(
        heatmap(grid, results, "fast", "slow", {"fast": 2, "slow": 3}), "sharpe_ratio"
    )
    assert "\u2605 2.3" in svg and "framed \u2605: the best variant" in svg
    assert (
        "colours: 5th-95th percentile" in svg and ">99<" in svg
    )  # the outlier keeps its true number


def golden_with_prices() -> list[dict]:
    with GOLDEN.open() as handle:
        return [
            {
                "pnl": {
                    "pnl_percentage": float(r["pnl_percentage"]),
                    "price_open": float(r["price_open"]),
                    "price_close": float(r["price_close"]),
                },
                "signal": {"pending_at": int(r["pending_at"]), "position": r["position"]},
                "close_reason": r["close_reason"],
                "close_timestamp": int(r["close_timestamp"]),
            }
            for r in csv.DictReader(handle)
        ]


def test_the_trade_marks_are_each_trades_entry_and_exit():
    from btfarm.orchestrator.reports.series import trade_marks

    rows = golden_with_prices()
    marks = trade_marks(rows)
    first = min(rows, key=lambda r: r["close_timestamp"])
    assert len(marks.entry_ms) == len(rows) == len(marks.exit_price)
    assert (
        marks.entry_ms[0],
        marks.entry_price[0],
        marks.exit_ms[0],
        marks.exit_price[0],
        bool(marks.long[0]),
    ) == (
        first["signal"]["pending_at"],
        first["pnl"]["price_open"],
        first["close_timestamp"],
        first["pnl"]["price_close"],
        True,
    )
    assert int(marks.long.sum()) == sum(r["signal"]["position"] == "long" for r in rows)
    assert (
        marks.exit_ms >= marks.entry_ms
    ).all() and marks.added_ms.size == marks.partial_ms.size == 0
    managed = {
        **first,
        "signal": {
            **first["signal"],
            "original_price_open": 99.0,
            "entries": [
                {"price": 99.0, "cost": 100, "timestamp": 1},
                {"price": 98.0, "cost": 100, "timestamp": 2},
            ],
            "partials": [
                {
                    "type": "profit",
                    "percent": 50,
                    "current_price": 101.0,
                    "cost_basis_at_close": 200,
                    "entry_count_at_close": 2,
                    "timestamp": 3,
                }
            ],
        },
    }
    marks = trade_marks([managed])
    assert (
        marks.entry_price[0] == 99.0
        and list(marks.added_ms) == [2]
        and list(marks.added_price) == [98.0]
    )
    assert list(marks.partial_ms) == [3] and list(marks.partial_price) == [101.0]


def test_a_backtest_draws_five_pictures_the_equity_and_price_with_interactive_twins():
    from btfarm.orchestrator.reports.backtest_pictures import backtest_pictures

    rows = golden_with_prices()
    start, end = 1_735_689_600_000, 1_738_281_540_000
    files, links = backtest_pictures(
        "t", rows, reference_candles(), start, end, "sma on SIM$x^$", "SIM$x^$"
    )
    assert (
        [file for _, file in links]
        == list(files)
        == [
            "t.equity.svg",
            "t.price.svg",
            "t.monthly.svg",
            "t.rolling-sharpe.svg",
            "t.underwater.svg",
        ]
    )
    for svg in files.values():
        assert svg.lstrip().startswith("<?xml") and "sma on SIM$x^$" in svg
    assert (
        "buy and hold SIM$x^$" in files["t.equity.svg"]
        and "exit, trade lost" in files["t.price.svg"]
    )
    assert "-75.5%" in files["t.monthly.svg"] and "last 30 trades" in files["t.rolling-sharpe.svg"]
    twins = {file: getattr(svg, "interactive", None) for file, svg in files.items()}
    assert twins["t.equity.svg"] and twins["t.price.svg"] and twins["t.monthly.svg"] is None
    assert {"target_id", "root_id", "doc"} <= set(twins["t.price.svg"])


def test_a_legend_is_drawn_outside_its_data():
    from btfarm.orchestrator.reports.pictures import _figure, legend_outside

    figure = _figure(6, 3)
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], label="a curve whose start the legend used to hide")
    legend_outside(axis)
    figure.draw_without_rendering()
    box, data = axis.get_legend().get_window_extent(), axis.get_window_extent()
    assert box.x0 >= data.x1  # wholly to the right of the axes


def test_the_equity_picture_shades_a_gap_and_draws_the_benchmark():
    from btfarm.orchestrator.reports.pictures import equity_picture

    rows = golden_closed()
    series = equity_series(rows)
    bench = (np.array([series.times_ms[0], series.times_ms[-1]]), np.array([1.0, 1.2]))
    svg = equity_picture(
        series,
        "live",
        benchmark=bench,
        benchmark_label="buy and hold X",
        gaps=[(int(series.times_ms[10]), int(series.times_ms[20]))],
    )
    assert "buy and hold X" in svg and "not running" in svg


def test_a_backtest_without_a_closed_signal_still_draws_its_pictures():
    from btfarm.orchestrator.reports.backtest_pictures import backtest_pictures

    files, _ = backtest_pictures(
        "t", [], reference_candles(), 1_735_689_600_000, 1_738_281_540_000, "idle", "SIM"
    )
    assert len(files) == 5 and all(svg.lstrip().startswith("<?xml") for svg in files.values())
    assert (
        "no closed signal" in files["t.monthly.svg"]
        and "fewer than 10 closed signals" in files["t.rolling-sharpe.svg"]
    )
    assert "buy and hold SIM" in files["t.equity.svg"]


def test_a_price_picture_with_too_many_trades_says_so_instead_of_marking_them():
    from btfarm.orchestrator.reports.backtest_pictures import MARK_TRADES_UP_TO, price_picture
    from btfarm.orchestrator.reports.series import trade_marks

    t0 = 1_735_689_600_000
    rows = [
        {
            "pnl": {"pnl_percentage": 0.1, "price_open": 100.0, "price_close": 100.1},
            "signal": {"pending_at": t0 + i * 60_000, "position": "long"},
            "close_timestamp": t0 + i * 60_000 + 1,
            "close_reason": "take_profit",
        }
        for i in range(MARK_TRADES_UP_TO + 1)
    ]
    times = np.arange(t0, t0 + (MARK_TRADES_UP_TO + 2) * 60_000, 60_000)
    svg = price_picture(times, np.full(len(times), 100.0), trade_marks(rows), "busy")
    assert (
        f"({MARK_TRADES_UP_TO + 1} trades, too many to mark)" in svg
        and "exit, trade won" not in svg
    )


def test_a_heatmap_file_is_named_with_file_safe_parts_of_its_grid_keys():
    """A portfolio's grid keys name a member (``BTC/USDT:sma.fast``): a ``/`` in a file name
    made dump write into a folder that does not exist."""
    from types import SimpleNamespace

    from btfarm.orchestrator.reports.walker_pictures import walker_pictures

    keys = ("BTC/USDT:sma.fast", "BTC/USDT:sma.slow")
    variants = [
        SimpleNamespace(
            base="duo", strategy_name=f"duo[{f},{s}]", params=dict(zip(keys, (f, s), strict=True))
        )
        for f in (5, 10)
        for s in (20, 30)
    ]
    data = SimpleNamespace(
        metric="sharpe_ratio",
        strategies=[
            SimpleNamespace(strategy_name=v.strategy_name, metric_value=i, params=v.params)
            for i, v in enumerate(variants)
        ],
        table=None,
        search_trials=[],
        best_metric=3,
        unranked=[],
        unfinished={},
    )
    files, links = walker_pictures("w", data, variants, {})
    heatmaps = [f for f in files if ".heatmap-" in f]
    assert heatmaps == ["w.heatmap-duo-BTC-USDT-sma.fast-BTC-USDT-sma.slow.svg"]
    assert ("sharpe_ratio of duo by BTC/USDT:sma.fast and BTC/USDT:sma.slow", heatmaps[0]) in links

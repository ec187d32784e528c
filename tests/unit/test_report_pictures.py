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
        return [{"pnl": {"pnl_percentage": float(r["pnl_percentage"])},
                 "signal": {"pending_at": int(r["pending_at"])},
                 "close_timestamp": int(r["close_timestamp"])} for r in csv.DictReader(handle)]


def test_the_equity_and_drawdown_series_of_the_golden_signals():
    rows = golden_closed()
    series = equity_series(rows)
    pnl = np.array([r["pnl"]["pnl_percentage"] for r in sorted(rows, key=lambda r: r["close_timestamp"])])
    assert len(series.equity) == len(rows) + 1 == len(series.times_ms) == len(series.drawdown) == 341
    assert series.equity[0] == 1.0
    assert series.equity[-1] == pytest.approx(float(np.prod(1 + pnl / 100)), rel=1e-12)
    assert float(series.drawdown.max()) == pytest.approx(max_drawdown(pnl), rel=1e-12)  # as the statistic
    assert (series.drawdown >= 0).all() and series.drawdown[0] == 0.0
    assert list(series.times_ms[1:]) == sorted(r["close_timestamp"] for r in rows)
    # golden numbers of this data set, so a change to the series is seen
    assert round(float(series.equity[-1]), 6) == round(float(np.prod(1 + pnl / 100)), 6)
    assert int(np.argmax(series.drawdown)) == int(np.argmax(
        (np.maximum.accumulate(series.equity) - series.equity) / np.maximum.accumulate(series.equity)))


def test_a_long_series_is_thinned_keeping_its_extremes():
    x = np.arange(525_600)
    y = np.sin(x / 5000.0) + (x == 300_000) * 9.0  # one spike
    tx, ty = thin(x, y, 2000)
    assert len(tx) <= 2000 and ty.max() == y.max() and ty.min() == y.min()
    assert list(tx) == sorted(tx)


def test_the_heatmap_matrix_holds_the_other_params_at_the_best_and_leaves_gaps_nan():
    grid = {"fast": [5, 10], "slow": [20, 40, 60], "stop": [1, 2]}
    results = {f"v{f}-{s}-{st}": ({"fast": f, "slow": s, "stop": st}, f * 100 + s + st / 10)
               for f in grid["fast"] for s in grid["slow"] for st in grid["stop"]}
    results["v10-60-2"] = ({"fast": 10, "slow": 60, "stop": 2}, None)  # not ranked
    hm = heatmap(grid, results, "fast", "slow", {"fast": 5, "slow": 20, "stop": 2})
    assert hm.fixed == {"stop": 2} and hm.x_values == [5, 10] and hm.y_values == [20, 40, 60]
    assert hm.matrix.shape == (3, 2)
    assert hm.matrix[0, 0] == 520.2 and hm.matrix[2, 0] == 560.2 and hm.matrix[1, 1] == 1040.2
    assert math.isnan(hm.matrix[2, 1])  # shown as such, never as zero


def test_rank_changes_pair_each_strategy_with_its_previous_rank():
    from btfarm.orchestrator.reports.series import rank_changes

    previous = {"ranking": [{"strategy_name": "a", "rank": 1}, {"strategy_name": "b", "rank": 2},
                            {"strategy_name": "gone", "rank": 3}]}
    current = {"ranking": [{"strategy_name": "b", "rank": 1}, {"strategy_name": "a", "rank": 2},
                           {"strategy_name": "new", "rank": 3}]}
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

    code = ("import sys, btfarm.orchestrator, btfarm.orchestrator.cli; before = 'matplotlib' in sys.modules; "
            "from btfarm.orchestrator.reports.pictures import distribution_picture; "
            "svg = distribution_picture([1.0, 2.0, 2.5], 2.5, 'total_pnl', 0, 0); "
            "print(before, 'matplotlib' in sys.modules, svg.lstrip().startswith('<?xml'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]


def test_optuna_is_imported_with_the_first_search_not_with_btfarm():
    import subprocess
    import sys

    code = "import sys, btfarm.orchestrator, btfarm.orchestrator.cli; print('optuna' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


def test_the_search_picture_shows_every_ranked_trial_and_the_best_so_far():
    from btfarm.orchestrator.reports.pictures import search_picture

    svg = search_picture([0.5, None, 1.5, 1.0], "total_pnl")
    assert svg.lstrip().startswith("<?xml") and "best so far" in svg and "1 not ranked, not shown" in svg


def test_names_with_dollars_and_markup_are_drawn_as_text():
    """A sweep value in a variant's name is any text: "$x^$" was parsed as mathtext and
    failed the picture (and with it the report); markup is written escaped in the SVG."""
    from btfarm.orchestrator.reports.pictures import top_equity_picture

    name = "v[tag=$x^$ <script>alert(1)</script>]"
    svg = top_equity_picture({name: equity_series(golden_closed())}, f"best of {name}")
    assert "$x^$ &lt;script&gt;alert(1)&lt;/script&gt;]" in svg and "<script" not in svg

"""The benchmark strategy "sma-cross-5m" (10/30) on the reference data, signal by signal.

The golden file holds every closed signal; any change to the engine's
semantics shows up here as a diff. Regenerate it only for an intended change:
    python -m tests.unit.test_sma_cross_regression
"""

import csv
import runpy
from pathlib import Path

import pytest

from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.registry import get_exchange, get_frame, get_strategy

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "sma_cross_5m_sim_30d.csv"
EXAMPLE = ROOT / "examples" / "sma_cross_5m.py"
REFERENCE_TRADES = 345  # backtesting.py 0.6.6 on the same data (examples/data/README.md)
FIELDS = (
    "id",
    "position",
    "pending_at",
    "price_open",
    "close_timestamp",
    "close_reason",
    "price_close",
    "pnl_percentage",
)


def closed_signals() -> list[dict[str, str]]:
    # run the example's registrations now: an earlier test may have cleared the registry after
    # the example module was first imported (import_user_module would return it cached)
    runpy.run_path(str(EXAMPLE), run_name="sma_cross_5m_golden")
    exchange, frame = get_exchange("sim"), get_frame("sim-30d")
    candles = load_frame_candles(exchange, frame, "SIMUSDT")
    run = BacktestRun(get_strategy("sma-cross-5m"), exchange, frame, "SIMUSDT", candles)
    return [
        {
            "id": c["signal"]["id"],
            "position": c["signal"]["position"],
            "pending_at": str(c["signal"]["pending_at"]),
            "price_open": f"{c['pnl']['price_open']:.6f}",
            "close_timestamp": str(c["close_timestamp"]),
            "close_reason": c["close_reason"],
            "price_close": f"{c['pnl']['price_close']:.6f}",
            "pnl_percentage": f"{c['pnl']['pnl_percentage']:.6f}",
        }
        for c in run.run()
    ]


def test_closed_signals_match_the_golden_file():
    with GOLDEN.open() as f:
        golden = list(csv.DictReader(f))
    assert closed_signals() == golden


def test_trade_count_within_8_percent_of_backtesting_py():
    with GOLDEN.open() as f:
        count = sum(1 for _ in csv.DictReader(f))
    assert abs(count - REFERENCE_TRADES) / REFERENCE_TRADES <= 0.08, count


if __name__ == "__main__":
    rows = closed_signals()
    with GOLDEN.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} closed signals written to {GOLDEN}")

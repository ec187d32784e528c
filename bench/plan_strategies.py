"""What the plan bench's workers import (BTFARM_IMPORTS): bench/farm_strategies.py, and the
year1000 sweep again with a position plan: a trailing-stop ladder, a partial close and breakeven
(issue 31 §2), run by the workers' compiled loop."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import farm_strategies  # noqa: E402  (registers the exchange, frames, "sma" and "year1000")

from btfarm.shared.demo import sma_cross_signal, sma_cross_signals  # noqa: E402
from btfarm.shared.registry import add_strategy, add_walker  # noqa: E402
from btfarm.shared.schemas import sweep  # noqa: E402

PLAN = {
    "trailing_stop": [(0.25, -0.75), (0.5, -1.0), (0.75, -1.25)],  # issue 31's ladder
    "partial_profit": [(50, 50)],
    "breakeven": True,
}
PLAN_CASES = {
    "year1000-plan": farm_strategies.YEAR1000
}  # the year1000 grid, each variant with the plan

add_strategy(
    strategy_name="sma-plan",
    interval="5m",
    get_signal=sma_cross_signal,
    get_signals=sma_cross_signals,
    params={"fast": 10, "slow": 30},
    position_plan=PLAN,
    override=True,
)
if farm_strategies.YEAR_DATA.exists():
    for case, grid in PLAN_CASES.items():
        add_walker(
            walker_name=case,
            exchange_name="sim-year",
            frame_name="sim-1y",
            metric="total_pnl",
            strategies=[
                sweep(
                    "sma-plan", fast=sorted({f for f, _ in grid}), slow=sorted({s for _, s in grid})
                )
            ],
            override=True,
        )

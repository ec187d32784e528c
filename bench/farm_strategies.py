"""What the bench's farm workers import (BTFARM_IMPORTS): data, frames, strategy, walkers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES, DATA, SYMBOL  # noqa: E402

from btfarm.shared.demo import sma_cross_signal, sma_cross_signals  # noqa: E402
from btfarm.shared.exchanges import csv_exchange  # noqa: E402
from btfarm.shared.registry import add_exchange, add_frame, add_strategy, add_walker  # noqa: E402
from btfarm.shared.schemas import sweep  # noqa: E402
from btfarm.shared.search_space import search  # noqa: E402

YEAR_DATA = HERE / "data" / "SIMUSDT.parquet"  # made by bench/make_year.py
YEAR1000 = [(f, s) for f in range(2, 52) for s in range(55, 155, 5)]  # 50 x 20 = 1,000 variants
YEAR10K = [(f, s) for f in range(2, 102) for s in range(55, 155)]  # 100 x 100 = 10,000 variants
YEAR_CASES = {"year1000": YEAR1000, "year10k": YEAR10K}  # sweeps over the year of candles

add_exchange(csv_exchange("sim", files={SYMBOL: DATA}), override=True)
add_frame(
    frame_name="sim-30d",
    interval="1m",
    start_date="2025-01-01T00:00:00Z",
    end_date="2025-01-30T23:59:00Z",
    override=True,
)
add_strategy(
    strategy_name="sma",
    interval="5m",
    get_signal=sma_cross_signal,
    get_signals=sma_cross_signals,
    params={"fast": 10, "slow": 30},
    override=True,
)
SEARCH_CASES = {
    "search200": 200
}  # trials of a TPE search over the year1000 grid's ranges, on sim-30d


def add_search_walker(case: str, seed: int) -> None:
    """The search case with its own seed: each timed run is a new study, not a resumed one."""
    add_walker(
        walker_name=case,
        exchange_name="sim",
        frame_name="sim-30d",
        metric="total_pnl",
        strategies=[
            search("sma", n_trials=SEARCH_CASES[case], seed=seed, fast=(2, 51), slow=(55, 154))
        ],
        override=True,
    )


for case in SEARCH_CASES:
    add_search_walker(case, 0)
for case, variants in CASES.items():
    add_walker(
        walker_name=case,
        exchange_name="sim",
        frame_name="sim-30d",
        metric="total_pnl",
        strategies=[sweep("sma", fast=[f], slow=[s]) for f, s in variants],
        override=True,
    )
if YEAR_DATA.exists():
    add_exchange(csv_exchange("sim-year", files={SYMBOL: YEAR_DATA}), override=True)
    add_frame(
        frame_name="sim-1y",
        interval="1m",
        start_date="2025-01-01T00:00:00Z",
        end_date="2025-12-31T23:59:00Z",
        override=True,
    )
    for case, grid in YEAR_CASES.items():
        add_walker(
            walker_name=case,
            exchange_name="sim-year",
            frame_name="sim-1y",
            metric="total_pnl",
            strategies=[
                sweep("sma", fast=sorted({f for f, _ in grid}), slow=sorted({s for _, s in grid}))
            ],
            override=True,
        )

# bench/reach.py: results that cost the workers almost nothing (its third argument sets it)
REACH_VARIANTS = int(os.environ.get("BENCH_REACH_VARIANTS", "20000"))


def idle_signals(candles, price, params):
    """A strategy that never trades: what remains per variant is the farm's own cost."""
    import numpy as np

    flat = np.zeros(len(candles))
    return {"position": flat, "price_take_profit": flat, "price_stop_loss": flat}


add_frame(
    frame_name="sim-1d",
    interval="1m",
    start_date="2025-01-02T00:00:00Z",
    end_date="2025-01-02T23:59:00Z",
    override=True,
)
add_strategy(
    strategy_name="idle", interval="1h", get_signals=idle_signals, params={"n": 0}, override=True
)
add_walker(
    walker_name="reach",
    exchange_name="sim",
    frame_name="sim-1d",
    metric="total_pnl",
    min_trades=0,
    strategies=[sweep("idle", n=list(range(REACH_VARIANTS)))],
    override=True,
)
# bench/reach.py sweeps this first, untimed: imports, connections and the workers' candles are then warm
add_walker(
    walker_name="reach-warm",
    exchange_name="sim",
    frame_name="sim-1d",
    metric="total_pnl",
    min_trades=0,
    strategies=[sweep("idle", n=list(range(1000)))],
    override=True,
)

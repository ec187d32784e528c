"""The position-plan sweeps the farm tests register, in the test process and in every worker
subprocess (``BTFARM_IMPORTS=tests.plan_strategies``): the benchmark cross on the reference
data, with a plan whose numbers are the strategy's params, so ``sweep()`` varies them."""

from __future__ import annotations

from btfarm.shared.demo import sma_cross_signal, sma_cross_signals
from btfarm.shared.exchanges import csv_exchange
from btfarm.shared.registry import add_exchange, add_frame, add_strategy, add_walker
from btfarm.shared.schemas import sweep
from tests.support.reference_data import SIM_CSV

SYMBOL = "SIMUSDT"
PLAN = {
    "trailing_stop": [("trail_at", "trail_by"), (0.8, -1.25)],
    "partial_profit": [("level", 50)],
    "breakeven": "even",
    "average_buy": {"step": "dca_step", "max_entries": 3},
}
PARAMS = {
    "fast": 10,
    "slow": 30,
    "trail_at": 0.25,
    "trail_by": -0.75,
    "level": 50,
    "even": True,
    "dca_step": 0.5,
}
GRID = {
    "trail_at": [0.2, 0.4],
    "trail_by": [-0.5, -1.0],
    "level": [30, 60],
    "even": [True, False],
    "dca_step": [0.4, 0.9],
}  # 32 variants


def register() -> None:
    add_exchange(csv_exchange("plan-sim", files={SYMBOL: SIM_CSV}), override=True)
    add_frame(
        frame_name="plan-10d",
        interval="1m",
        start_date="2025-01-03T00:00:00Z",
        end_date="2025-01-12T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name="plan-sma",
        interval="5m",
        get_signal=sma_cross_signal,
        get_signals=sma_cross_signals,
        params=PARAMS,
        position_plan=PLAN,
        override=True,
    )
    add_walker(
        walker_name="plan-sweep",
        exchange_name="plan-sim",
        frame_name="plan-10d",
        metric="total_pnl",
        strategies=[sweep("plan-sma", **GRID)],
        override=True,
    )
    # trail_at 0.9 puts the first rung above the second (0.8): that variant's plan is refused, alone
    add_walker(
        walker_name="plan-one-bad",
        exchange_name="plan-sim",
        frame_name="plan-10d",
        metric="total_pnl",
        strategies=[sweep("plan-sma", trail_at=[0.3, 0.9])],
        override=True,
    )


register()

"""A sweep of 5,000 short variants (about a millisecond each) for the farm's reach over hosts:
the vectorised SMA cross over one day of the farm's synthetic market, on a 50 x 100 grid.

Importing this module registers the strategy and the walker, in the test process and in
every worker that imports it (``BTFARM_IMPORTS=tests.support.short_sweep``);
``check_strategy`` registers one variant's params as a plain strategy of its own, for
``Backtest.run`` to replay in the test's process.
"""

from __future__ import annotations

from typing import Any

from btfarm.shared.demo import sma_cross_signals
from btfarm.shared.registry import add_strategy, add_walker
from btfarm.shared.schemas import sweep
from tests import farm_strategies  # the "farm-market" exchange and the "farm-1d" frame

IMPORTS = "tests.support.short_sweep"  # what the workers import (BTFARM_IMPORTS)
SYMBOL = farm_strategies.SYMBOL
EXCHANGE = "farm-market"
FRAME = "farm-1d"
STRATEGY = "farm-short"
INTERVAL = "5m"
SWEEP = "farm-short-sweep"
FAST = list(range(2, 52))
SLOW = list(range(20, 120))
VARIANTS = len(FAST) * len(SLOW)  # 5,000


def register() -> None:
    add_short_strategy(STRATEGY, {"fast": 10, "slow": 30})
    add_walker(
        walker_name=SWEEP,
        exchange_name=EXCHANGE,
        frame_name=FRAME,
        strategies=[sweep(STRATEGY, fast=FAST, slow=SLOW)],
        override=True,
    )


def add_short_strategy(name: str, params: dict[str, Any]) -> str:
    """The sweep's strategy registered as ``name`` with ``params``; its name."""
    add_strategy(
        strategy_name=name,
        interval=INTERVAL,
        get_signals=sma_cross_signals,
        params=dict(params),
        override=True,
    )
    return name


def check_strategy(index: int, params: dict[str, Any]) -> str:
    """Variant ``index``'s params registered as a plain strategy of its own; its name."""
    return add_short_strategy(f"{STRATEGY}-check-{index}", params)


register()

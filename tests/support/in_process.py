"""A walker's variants backtested in the test's process: what a farm sweep of it must equal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from btfarm.orchestrator.sweeps.variants import expand
from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.registry import get_exchange, get_frame, get_strategy, get_walker
from btfarm.shared.stats import BacktestStatistics


def variant_runs(
    walker_name: str, symbol: str, **options: Any
) -> Iterator[tuple[str, BacktestRun]]:
    """(name, run) for each variant of the walker over its frame, the run not started;
    ``options`` go to every ``BacktestRun`` (``form``, ``stats_only``)."""
    walker = get_walker(walker_name)
    exchange, frame = get_exchange(walker.exchange_name), get_frame(walker.frame_name)
    candles = load_frame_candles(exchange, frame, symbol)
    for v in expand(walker):
        yield (
            v.strategy_name,
            BacktestRun(
                get_strategy(v.base),
                exchange,
                frame,
                symbol,
                candles,
                params=v.params,
                strategy_name=v.strategy_name,
                **options,
            ),
        )


def as_json(stats: BacktestStatistics) -> dict[str, Any]:
    """Statistics as a farm's result hands them back: through JSON."""
    return json.loads(json.dumps(stats.model_dump(mode="json")))

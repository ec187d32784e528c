"""Walking a frame's ticks for one strategy (the backtest side of the lifecycle).

Only the ticks where the strategy is actually asked cost Python work: a
throttled stretch is skipped with one ``searchsorted`` to the next bucket,
and an open position is settled by ``StrategyCore.monitor`` in one numpy
scan, after which the walk resumes at the first tick after the close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..candles import Candles
from .lifecycle import IDLE, StrategyCore

PROGRESS_EVERY = 2048  # ticks between progress yields when nothing settles


def walk_events(core: StrategyCore, candles: Candles, ticks: np.ndarray,
         should_stop: Callable[[], bool] | None = None) -> Iterator[int]:
    """Run ``core`` over ``ticks``; yields the tick index after each settle and now and then.

    ``should_stop`` is asked whenever the strategy is idle (the only state a
    backtest may stop in); True ends the walk.
    """
    n = len(ticks)
    throttle = core.throttle_ms
    step = int(ticks[1] - ticks[0]) if n > 1 else 1
    uniform = n < 2 or bool((np.diff(ticks) == step).all())
    first = int(ticks[0]) if n else 0
    i = 0
    last_yield = 0
    while i < n:
        t = int(ticks[i])
        if core.last_bucket is not None and t // throttle == core.last_bucket:
            # throttled: jump straight to the first tick of the next bucket
            target = (core.last_bucket + 1) * throttle
            i = -(-(target - first) // step) if uniform else int(np.searchsorted(ticks, target, "left"))
            continue
        if should_stop is not None and should_stop():  # (before each tick run, not each jump)
            return
        settled_before = core.settled_ms
        core.tick(t, candles)
        if core.phase != IDLE:
            core.force_settle(candles)  # history ended while the signal was still open
        if core.settled_ms != settled_before:
            settled = core.settled_ms
            i = (settled - first) // step + 1 if uniform else int(np.searchsorted(ticks, settled, "right"))
            last_yield = i
            yield i
            continue
        i += 1
        if i - last_yield >= PROGRESS_EVERY:
            last_yield = i
            yield i

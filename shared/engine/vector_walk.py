"""Walking a frame with precomputed intents: Python runs only where a signal is offered.

The throttle is the same as the event-driven walk's: a call at the first
tick, then at the first tick of each new bucket, and at the first tick after
a close. Calls whose intent is "nothing" change only the bucket, so the walk
jumps with ``searchsorted`` straight to the next call that offers a signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..candles import Candles
from .intents import Intents
from .lifecycle import IDLE, StrategyCore
from .walk_grid import walk_grid


def walk_vector(
    core: StrategyCore,
    candles: Candles,
    ticks: np.ndarray,
    intents: Intents,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """Like ``event_walk.walk``, for the vectorised form; yields ticks done after each settle."""
    n = len(ticks)
    if n == 0:
        return
    bucket, cursor, inside, first_of_bucket = walk_grid(candles, ticks, core.throttle_ms)
    offered = np.zeros(n, dtype=bool)
    offered[inside] = intents.position[cursor[inside]] != 0
    calls = np.flatnonzero(offered & first_of_bucket)  # offering calls in an uninterrupted walk
    vwap = candles.vwap(core.cfg.CC_AVG_PRICE_CANDLES_COUNT)
    i = 0
    while i < n:
        if should_stop is not None and should_stop():
            return
        if bucket[i] != core.last_bucket:
            core.last_bucket = int(
                bucket[i]
            )  # the call at i (the first tick after a close) uses its bucket
            j = i if offered[i] else -1
        else:
            j = -1
        if j < 0:
            k = int(np.searchsorted(calls, i, "right"))
            if k == len(calls):
                return
            j = int(calls[k])
            core.last_bucket = int(bucket[j])
        t = int(ticks[j])
        c = int(cursor[j])
        core.consider(intents.signal_at(c), t, float(vwap[c - 1]))
        if core.phase == IDLE:
            i = j + 1  # rejected: the bucket is used up, go on
            continue
        core.monitor(candles, len(candles))
        if core.phase != IDLE:
            core.force_settle(candles)
        assert core.settled_ms is not None  # (force_settle set it; once per trade)
        i = int(np.searchsorted(ticks, core.settled_ms, "right"))
        yield i

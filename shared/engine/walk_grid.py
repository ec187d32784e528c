"""The per-tick arrays both vectorised walks need, derived once per candle set."""

from __future__ import annotations

import numpy as np

from ..candles import Candles
from ..intervals import MINUTE_MS


def walk_grid(candles: Candles, ticks: np.ndarray, throttle_ms: int) -> tuple[np.ndarray, ...]:
    """Per tick: throttle bucket, candle index, whether a price exists, first tick of its bucket.

    The same for every variant of a sweep on these candles, so kept on them.
    """
    key = ("walk_grid", int(ticks[0]), int(ticks[-1]), len(ticks), throttle_ms)
    cached = candles.memo.get(key)
    if cached is None:
        ts, m = candles.timestamp, len(candles)
        bucket = ticks // throttle_ms
        if candles.contiguous:  # index of the candle opening at each tick, by arithmetic
            cursor = np.clip(-((int(ts[0]) - ticks) // MINUTE_MS), 0, m)
        else:
            cursor = np.searchsorted(ts, ticks, "left")
        inside = (cursor > 0) & (cursor < m)
        first_of_bucket = np.r_[True, bucket[1:] != bucket[:-1]]
        for array in (bucket, cursor, inside, first_of_bucket):
            array.flags.writeable = False  # shared by every variant's walk
        cached = candles.memo[key] = (bucket, cursor, inside, first_of_bucket)
    return cached


def ticks_uniform(candles: Candles, ticks: np.ndarray) -> bool:
    """True when the ticks are evenly spaced (so a close time maps to its tick by
    arithmetic); kept on the candles like the grid, as every variant asks."""
    key = ("ticks_uniform", int(ticks[0]), int(ticks[-1]), len(ticks)) if len(ticks) else ("ticks_uniform",)
    cached = candles.memo.get(key)
    if cached is None:
        cached = candles.memo[key] = len(ticks) < 2 or bool((np.diff(ticks) == ticks[1] - ticks[0]).all())
    return cached


def inside_span(candles: Candles, ticks: np.ndarray, cursor: np.ndarray, inside: np.ndarray
                ) -> tuple[int, int, int] | None:
    """(a, b, c0) when the ticks with a price are ticks a..b-1 and their candles c0, c0+1, ...
    (1m ticks over contiguous 1m candles), so a per-candle array is read for them as a slice
    instead of gathered through ``cursor``; else None. Kept on the candles like the grid."""
    key = ("inside_span", int(ticks[0]), int(ticks[-1]), len(ticks)) if len(ticks) else ("inside_span",)
    if key in candles.memo:
        return candles.memo[key]
    span = None
    where = np.flatnonzero(inside)
    if len(where) and where[-1] - where[0] + 1 == len(where):
        a, b = int(where[0]), int(where[-1]) + 1
        c0 = int(cursor[a])
        if bool((cursor[a:b] == np.arange(c0, c0 + b - a)).all()):
            span = (a, b, c0)
    candles.memo[key] = span
    return span

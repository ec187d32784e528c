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
    key = (
        ("ticks_uniform", int(ticks[0]), int(ticks[-1]), len(ticks))
        if len(ticks)
        else ("ticks_uniform",)
    )
    cached = candles.memo.get(key)
    if cached is None:
        cached = candles.memo[key] = len(ticks) < 2 or bool(
            (np.diff(ticks) == ticks[1] - ticks[0]).all()
        )
    return cached


def inside_span(
    candles: Candles, ticks: np.ndarray, cursor: np.ndarray, inside: np.ndarray
) -> tuple[int, int, int] | None:
    """(a, b, c0) when the ticks with a price are ticks a..b-1 and their candles c0, c0+1, ...
    (1m ticks over contiguous 1m candles), so a per-candle array is read for them as a slice
    instead of gathered through ``cursor``; else None. Kept on the candles like the grid."""
    key = (
        ("inside_span", int(ticks[0]), int(ticks[-1]), len(ticks))
        if len(ticks)
        else ("inside_span",)
    )
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


def minute_grid(candles: Candles) -> bool:
    """True when candle k opens exactly k minutes after the first (``contiguous`` only compares
    the ends); kept on the candles like the grid."""
    cached = candles.memo.get("minute_grid")
    if cached is None:
        ts = candles.timestamp
        cached = candles.memo["minute_grid"] = len(ts) < 2 or bool((np.diff(ts) == MINUTE_MS).all())
    return cached


BLOCK = 16  # candles per block of block_extremes (_batch_kernel.c's BLOCK)


def block_extremes(candles: Candles, vwap: np.ndarray, avg_count: int) -> tuple[np.ndarray, ...]:
    """Per BLOCK candles: lowest low, highest high, highest and lowest ``vwap`` (NaN ignored;
    NaN where a block has none), which let the C loop step over a block that cannot close a
    trade. The same for every variant, so kept on the candles."""
    key = ("block_extremes", avg_count)
    cached = candles.memo.get(key)
    if cached is None:
        blocks = -(-len(candles) // BLOCK)

        def by_block(values: np.ndarray) -> np.ndarray:
            padded = np.full(blocks * BLOCK, np.nan)
            padded[: len(values)] = values
            return padded.reshape(blocks, BLOCK)

        with np.errstate(invalid="ignore"):  # an all-NaN block stays NaN: never stepped over
            cached = (
                np.fmin.reduce(by_block(candles.low), axis=1),
                np.fmax.reduce(by_block(candles.high), axis=1),
                np.fmax.reduce(by_block(vwap), axis=1),
                np.fmin.reduce(by_block(vwap), axis=1),
            )
        for array in cached:
            array.flags.writeable = False
        candles.memo[key] = cached
    return cached


def offered_ticks(
    candles: Candles, ticks: np.ndarray, cursor: np.ndarray, inside: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ticks that offer a signal (a price exists and their candle is one of ``rows``),
    ascending, and for each its index in ``rows``: what a walk reads instead of a flag per tick."""
    span = inside_span(candles, ticks, cursor, inside)
    if span is not None:  # tick a + k decides on candle c0 + k
        a, b, c0 = span
        lo, hi = (int(x) for x in np.searchsorted(rows, (c0, c0 + b - a)))
        return rows[lo:hi] - c0 + a, np.arange(lo, hi, dtype=np.int64)
    where = np.flatnonzero(inside)
    at = cursor[where]
    slot = np.searchsorted(rows, at)
    found = slot < len(rows)
    found[found] = rows[slot[found]] == at[found]
    return where[found], slot[found]

"""A variant's PnL per day of its frame: what the search statistics (overfitting.py) read.

Each closed signal's PnL (percent, fees included) counts on the day of its
close, days counted from the frame's start; a signal expiring the minute
after the frame counts on its last day. A result carries the days with a
trade only, as ``{"days": D, "at": [day, ...], "pnl": [percent, ...]}``:
a year of a strategy trading twice a week is ~100 pairs, not 365 numbers,
and a variant that never trades costs a dozen bytes. Closed signals
themselves never travel (payloads.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .stats import MS_PER_DAY

DECIMALS = 6  # percent: PnL per day rounded to a millionth of a percent on the wire


def frame_days(start_ms: int, end_ms: int) -> int:
    """Days a frame spans, a part day counted whole (at least 1)."""
    return max(1, math.ceil((end_ms - start_ms) / MS_PER_DAY))


def daily_record(pnl: np.ndarray, close_at: np.ndarray, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The sparse per-day record of trades with these PnLs (percent) and close times (ms)."""
    days = frame_days(start_ms, end_ms)
    pnl = np.asarray(pnl, dtype=float)
    if len(pnl) == 0:
        return {"days": days, "at": [], "pnl": []}
    day = np.clip((np.asarray(close_at, dtype=np.int64) - start_ms) // MS_PER_DAY, 0, days - 1)
    totals = np.bincount(day, weights=pnl, minlength=days)
    at = np.flatnonzero(np.round(totals, DECIMALS) != 0)
    return {"days": days, "at": at.tolist(), "pnl": np.round(totals[at], DECIMALS).tolist()}


class Daily(NamedTuple):
    """A record's per-day PnL as arrays (a tenth of the memory of its JSON lists as Python objects)."""

    days: int
    at: np.ndarray  # int32 day numbers
    pnl: np.ndarray  # float64 percent


def compact(record: Mapping[str, Any] | Daily | None) -> Daily | None:
    if record is None or isinstance(record, Daily):
        return record
    return Daily(int(record["days"]), np.asarray(record["at"], dtype=np.int32),
                 np.asarray(record["pnl"], dtype=np.float64))


def dense(record: Mapping[str, Any] | Daily | None, out: np.ndarray | None = None) -> np.ndarray | None:
    """The record's PnL for every day of the frame (0 where nothing closed), into ``out`` when
    given; None without one."""
    daily = compact(record)
    if daily is None:
        return None
    if out is None:
        out = np.zeros(daily.days)
    else:
        out[:] = 0.0
    out[daily.at] = daily.pnl
    return out

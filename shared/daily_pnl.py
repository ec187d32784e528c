"""A variant's PnL per day of its frame: what the search statistics (overfitting.py) read.

Each closed signal's PnL (percent, fees included) counts on the day of its
close, days counted from the frame's start; a signal expiring the minute
after the frame counts on its last day. A result carries the days with a
trade only, as ``{"days": D, "at": DAYS, "pnl": PNLS}``: DAYS the day numbers
(little-endian int32) and PNLS each day's PnL (little-endian float64, exact),
each base64 text; ``at`` is left out when every day has one. A year of a
strategy trading twice a week is ~100 pairs, not 365 numbers, and a variant
that never trades costs a few bytes. As text, not JSON lists of numbers: an
orchestrator parses each result two or three times and holds thousands at
once, and a year's 730 numbers were most of a result's bytes, of its parsing
and, as Python objects, ~100 MB per 10,000 results. Records of the earlier
form (``at`` and ``pnl`` as lists) are read alike. Closed signals themselves
never travel (payloads.py).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .stats import MS_PER_DAY

DECIMALS = 6  # percent: PnL per day rounded to a millionth of a percent on the wire


def frame_days(start_ms: int, end_ms: int) -> int:
    """Days a frame spans, a part day counted whole (at least 1)."""
    return max(1, math.ceil((end_ms - start_ms) / MS_PER_DAY))


def daily_record(
    pnl: np.ndarray, close_at: np.ndarray, start_ms: int, end_ms: int
) -> dict[str, Any]:
    """The sparse per-day record of trades with these PnLs (percent) and close times (ms)."""
    days = frame_days(start_ms, end_ms)
    pnl = np.asarray(pnl, dtype=float)
    if len(pnl) == 0:
        return {"days": days, "at": "", "pnl": ""}
    day = np.clip((np.asarray(close_at, dtype=np.int64) - start_ms) // MS_PER_DAY, 0, days - 1)
    totals = np.bincount(day, weights=pnl, minlength=days)
    at = np.flatnonzero(np.round(totals, DECIMALS) != 0)
    record = {
        "days": days,
        "at": _text(at, AT_DTYPE),
        "pnl": _text(np.round(totals[at], DECIMALS), PNL_DTYPE),
    }
    if len(at) == days:
        del record["at"]  # every day
    return record


AT_DTYPE, PNL_DTYPE = np.dtype("<i4"), np.dtype("<f8")  # the wire's day numbers and PnLs


def _text(values: np.ndarray, dtype: np.dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def _array(text: str, dtype: np.dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


class Daily(NamedTuple):
    """A record's per-day PnL as arrays (a tenth of the memory of its JSON lists as Python objects)."""

    days: int
    at: np.ndarray  # int32 day numbers
    pnl: np.ndarray  # float64 percent


def compact(record: Mapping[str, Any] | Daily | None) -> Daily | None:
    if record is None or isinstance(record, Daily):
        return record
    days, pnl = int(record["days"]), record["pnl"]
    if not isinstance(pnl, str):  # the earlier form: lists of numbers
        return Daily(
            days, np.asarray(record["at"], dtype=np.int32), np.asarray(pnl, dtype=np.float64)
        )
    values = _array(pnl, PNL_DTYPE).astype(np.float64)
    at = (
        _array(record["at"], AT_DTYPE).astype(np.int32)
        if "at" in record
        else np.arange(days, dtype=np.int32)
    )
    if len(at) != len(values):
        # protocol: a worker's own encoding; a record cut short is a bug, not a user's input
        raise ValueError(f"a PnL-per-day record has {len(at)} days and {len(values)} values")
    return Daily(days, at, values)


def dense(
    record: Mapping[str, Any] | Daily | None, out: np.ndarray | None = None
) -> np.ndarray | None:
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

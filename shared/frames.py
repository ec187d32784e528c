"""A frame's timeline: every ``interval`` from start (floored to the minute) through end."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import numpy as np

from .intervals import MINUTE_MS, interval_ms
from .schemas import FrameSchema, to_ms


def frame_bounds(frame: FrameSchema) -> tuple[int, int]:
    """(first tick, end) in epoch ms; the end is inclusive."""
    return _bounds(frame.start_date, frame.end_date)


@lru_cache(maxsize=256)
def _bounds(start_date: datetime, end_date: datetime) -> tuple[int, int]:
    # (kept: a sweep variant asks five times, and each pair of datetime conversions costs ~4 us)
    return to_ms(start_date) // MINUTE_MS * MINUTE_MS, to_ms(end_date)


def frame_ticks(frame: FrameSchema) -> np.ndarray:
    """Tick times in ms as int64, from the first tick up to and including the end."""
    start, end = frame_bounds(frame)
    return np.arange(start, end + 1, interval_ms(frame.interval), dtype=np.int64)

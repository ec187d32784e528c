"""A frame's timeline: every ``interval`` from start (floored to the minute) through end."""

from __future__ import annotations

import numpy as np

from .intervals import MINUTE_MS, interval_ms
from .schemas import FrameSchema, to_ms


def frame_bounds(frame: FrameSchema) -> tuple[int, int]:
    """(first tick, end) in epoch ms; the end is inclusive."""
    start = to_ms(frame.start_date) // MINUTE_MS * MINUTE_MS
    return start, to_ms(frame.end_date)


def frame_ticks(frame: FrameSchema) -> np.ndarray:
    """Tick times in ms as int64, from the first tick up to and including the end."""
    start, end = frame_bounds(frame)
    return np.arange(start, end + 1, interval_ms(frame.interval), dtype=np.int64)

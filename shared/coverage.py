"""What the candles of a run cover, checked against its frame: never invented.

A frame that starts before the exchange's first candle or ends after its
last one would be walked over minutes with no data (a walk past the data
closed signals before they opened); it is refused before anything runs,
naming the exchange, symbol, data range, frame and the fix. A frame with no
candles at all is "no data", never a ranked result with 0 trades. Gaps
inside the data are counted and reported; ``BTFARM_MAX_GAP_MINUTES`` makes
a longer one an error.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel

from .candles import Candles
from .errors import DataCoverageError
from .frames import frame_bounds
from .intervals import MINUTE_MS
from .schemas import FrameSchema


class Coverage(BaseModel):
    """The candles a run used: their range, and the gaps inside it."""

    first_ms: int  # open time of the first candle loaded (warm-up included)
    last_ms: int  # open time of the last candle loaded
    candles: int  # count loaded
    gaps: int = 0  # count of holes of one minute or more between consecutive candles
    missing_minutes: int = 0  # minutes missing over all gaps
    longest_gap_minutes: int = 0
    longest_gap_after_ms: int | None = None  # the last candle before the longest gap

    def describe(self) -> str:
        text = f"{self.candles} candles, {iso(self.first_ms)} .. {iso(self.last_ms)}"
        if not self.gaps:
            return text + ", no gaps"
        return (
            f"{text}, {self.gaps} gaps ({self.missing_minutes} minutes missing; the longest, "
            f"{self.longest_gap_minutes} minutes, after {iso(self.longest_gap_after_ms)})"
        )


def iso(ms: float | None) -> str:
    """Epoch milliseconds as ISO 8601 UTC to the minute, "2025-01-01T00:05Z" (reports too)."""
    if ms is None:
        return "N/A"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def check_coverage(
    candles: Candles, exchange_name: str, symbol: str, frame: FrameSchema, max_gap_minutes: int = 0
) -> Coverage:
    """The coverage of ``candles``, or DataCoverageError when they do not cover ``frame``
    (kept on the candles: every variant of a sweep asks)."""
    key = (
        "coverage",
        exchange_name,
        symbol,
        frame.frame_name,
        *frame_bounds(frame),
        max_gap_minutes,
    )
    found = candles.memo.get(key)
    if found is None:
        try:
            found = check_timestamps(
                candles.timestamp, exchange_name, symbol, frame, max_gap_minutes
            )
        except DataCoverageError as exc:
            found = exc
        candles.memo[key] = found
    if isinstance(found, DataCoverageError):
        raise DataCoverageError(str(found))
    return found


def check_timestamps(
    ts: np.ndarray, exchange_name: str, symbol: str, frame: FrameSchema, max_gap_minutes: int = 0
) -> Coverage:
    """``check_coverage`` from the candles' open times alone (sorted, unique), for a
    caller that needs no prices (the orchestrator checks before submitting)."""
    start, end = frame_bounds(frame)
    last_minute = end - end % MINUTE_MS
    where = (
        f'exchange "{exchange_name}", symbol {symbol}, frame "{frame.frame_name}" '
        f"({iso(start)} .. {iso(end)})"
    )
    if start >= end:
        raise DataCoverageError(
            f"no data: {where} is zero-length (start_date equals end_date); "
            "give the frame an end after its start"
        )
    if not len(ts):
        raise DataCoverageError(
            f"no data: {where}: the exchange returned no 1m candles for that "
            "range; check the symbol and the data files, or move the frame"
        )
    first, last = int(ts[0]), int(ts[-1])
    have = f"the candles it returned for that range run from {iso(first)} to {iso(last)}"
    inside = int(np.searchsorted(ts, end, "right") - np.searchsorted(ts, start, "left"))
    if inside == 0:
        raise DataCoverageError(
            f"no data: {where}: no candle falls inside the frame ({have}); "
            "move the frame onto the data"
        )
    if first > start:
        raise DataCoverageError(
            f"{where} starts before the data: {have}; start the frame at "
            f"{iso(first)} or later, or load older candles"
        )
    if last < last_minute:
        raise DataCoverageError(
            f"{where} ends after the data: {have}; end the frame at "
            f"{iso(last)} or earlier, or load newer candles"
        )
    coverage = coverage_of(ts)
    if max_gap_minutes and coverage.longest_gap_minutes > max_gap_minutes:
        raise DataCoverageError(
            f"{where}: the candles have a gap of {coverage.longest_gap_minutes} minutes after "
            f"{iso(coverage.longest_gap_after_ms)}, longer than BTFARM_MAX_GAP_MINUTES="
            f"{max_gap_minutes} ({coverage.gaps} gaps in all); fill the data or raise the limit"
        )
    return coverage


def coverage_of(ts: np.ndarray) -> Coverage:
    """The range and gaps of open times ``ts`` (sorted, unique, at least one)."""
    coverage = Coverage(first_ms=int(ts[0]), last_ms=int(ts[-1]), candles=len(ts))
    if int(ts[-1] - ts[0]) != (len(ts) - 1) * MINUTE_MS:  # not contiguous
        steps = np.diff(ts) // MINUTE_MS - 1  # minutes missing after each candle
        holes = np.flatnonzero(steps > 0)
        if len(holes):
            longest = int(holes[np.argmax(steps[holes])])
            coverage = coverage.model_copy(
                update={
                    "gaps": len(holes),
                    "missing_minutes": int(steps[holes].sum()),
                    "longest_gap_minutes": int(steps[longest]),
                    "longest_gap_after_ms": int(ts[longest]),
                }
            )
    return coverage

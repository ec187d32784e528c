"""Interval names and their lengths."""

from __future__ import annotations

from typing import Literal

from .errors import SchemaError, did_you_mean

MINUTE_MS = 60_000  # one minute in milliseconds

FrameInterval = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"]
StrategyInterval = Literal["1m", "3m", "5m", "15m", "30m", "1h"]

INTERVAL_MINUTES: dict[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
}


def interval_ms(interval: str) -> int:
    """Length of ``interval`` in milliseconds; a clear error for an unknown name."""
    try:
        return INTERVAL_MINUTES[interval] * MINUTE_MS
    except KeyError:
        raise SchemaError(
            f'unknown interval "{interval}"; use one of {", ".join(INTERVAL_MINUTES)}.'
            + did_you_mean(str(interval), INTERVAL_MINUTES)
        ) from None

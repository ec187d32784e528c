"""Hand-made markets and strategies for the reporting classes' tests, each built so the
events it gives are known in advance (the expected figures are written out beside them).

- ``limit_market`` / "limit-dip": a flat 100 market whose dips activate, time out, reject or
  pre-empt five limit entries of one day (SCHEDULE_* below);
- ``flat_market`` / "short-rejecter" with the risk "no-shorts": three shorts refused, one
  long opened (RISK_* below).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.registry import add_exchange, add_frame, add_risk, add_strategy
from btfarm.shared.schemas import to_ms, to_utc

SYMBOL = "FLATUSDT"
EXCHANGE = "hand-made"
FRAME = "day-1"
DAY_MS = to_ms(to_utc("2025-03-01T00:00:00Z"))  # the frame: this day, 00:00 .. 23:59
PRICE = 100.0

# "limit-dip" asks for a long limit at 99 (TP 103, SL 95, 30 minutes) at these hours, at :00
LIMIT_HOURS = (0, 4, 8, 12, 16)
# what the market does to each (minutes after 00:00 of the frame's day):
#  00:00 A scheduled, 00:10 a dip to 98.9 opens it (wait 10)
#  04:00 B scheduled, nothing reaches 99: cancelled "timeout" at 06:00 (wait 120)
#  08:00 C scheduled, 08:20 a fall to 94 touches the stop: cancelled "price_reject" (wait 20)
#  12:00 D: the price sat at 98.5 for ten minutes, the limit is reached when decided: opened at
#        once, never scheduled (not in the report)
#  16:00 E scheduled, the 16:00 candle itself dips to 98.9: opened that minute (wait 0)
DIPS = {10: 98.9, 500: 94.0, 960: 98.9}  # minute -> the candle's low
LOW_STRETCH = range(710, 720)  # minutes at 98.5 (open, high, low, close)
SCHEDULE_EXPECTED = {
    "total_events": 8,
    "total_scheduled": 4,
    "total_opened": 2,
    "total_cancelled": 2,
    "activation_rate": 50.0,
    "cancellation_rate": 50.0,
    "avg_activation_time": 5.0,
    "avg_wait_time": 70.0,
}
SCHEDULE_ACTIONS = [
    ("scheduled", 0),
    ("opened", 10),
    ("scheduled", 240),
    ("cancelled", 360),
    ("scheduled", 480),
    ("cancelled", 500),
    ("scheduled", 960),
    ("opened", 960),
]

# "short-rejecter": a short at 01:00, 03:00 and 05:00 (all refused by "no-shorts"), a long at 02:00
SHORT_HOURS = (1, 3, 5)
LONG_HOURS = (2,)
RISK_EXPECTED_TIMES = [h * 60 for h in SHORT_HOURS]  # minutes after 00:00 of the rejections


def candles(
    lows: dict[int, float] | None = None, flat_at: dict[int, float] | None = None
) -> pd.DataFrame:
    """1m candles at ``PRICE`` from the day before the frame (its warm-up) to the day after,
    with ``lows`` (minute of the frame's day -> low) and ``flat_at`` (minute -> o=h=l=c)."""
    start = DAY_MS - 1440 * MINUTE_MS
    minutes = 3 * 1440
    ts = start + np.arange(minutes, dtype=np.int64) * MINUTE_MS
    opens, highs, lows_, closes = (np.full(minutes, PRICE) for _ in range(4))
    for minute, low in (lows or {}).items():
        lows_[1440 + minute] = low
    for minute, price in (flat_at or {}).items():
        for column in (opens, highs, lows_, closes):
            column[1440 + minute] = price
    return pd.DataFrame(
        {
            "timestamp": ts,
            "open": opens,
            "high": highs,
            "low": lows_,
            "close": closes,
            "volume": np.ones(minutes),
        }
    )


def at(hours: tuple[int, ...], when: datetime) -> bool:
    return when.minute == 0 and when.hour in hours and when.date() == to_utc(DAY_MS).date()


def limit_dip(symbol: str, when: datetime) -> dict | None:
    if not at(LIMIT_HOURS, when):
        return None
    return {
        "position": "long",
        "price_open": 99.0,
        "price_take_profit": 103.0,
        "price_stop_loss": 95.0,
        "minute_estimated_time": 30,
        "note": f"limit {when:%H:%M}",
    }


def short_or_long(symbol: str, when: datetime) -> dict | None:
    if at(SHORT_HOURS, when):
        return {
            "position": "short",
            "price_take_profit": 97.0,
            "price_stop_loss": 103.0,
            "minute_estimated_time": 30,
            "note": f"short {when:%H:%M}",
        }
    if at(LONG_HOURS, when):
        return {
            "position": "long",
            "price_take_profit": 103.0,
            "price_stop_loss": 97.0,
            "minute_estimated_time": 30,
            "note": f"long {when:%H:%M}",
        }
    return None


def no_shorts(payload: dict) -> None:
    if payload["signal"]["position"] == "short":
        raise ValueError(
            "no shorts here"
        )  # (an exception rejects, whatever a returned value means)


def register() -> None:
    """The hand-made exchange (two symbols: the limit market and the flat one), the day's
    frame, the two strategies and the risk."""
    limit = candles(DIPS, {m: 98.5 for m in LOW_STRETCH})
    add_exchange(
        dataframe_exchange(EXCHANGE, {SYMBOL: limit, "PLAINUSDT": candles()}), override=True
    )
    add_frame(
        frame_name=FRAME,
        interval="1m",
        start_date=DAY_MS,
        end_date=DAY_MS + (1440 - 1) * MINUTE_MS,
        override=True,
    )
    add_strategy(strategy_name="limit-dip", interval="1m", get_signal=limit_dip, override=True)
    add_risk(risk_name="no-shorts", validations=[no_shorts], override=True)
    add_strategy(
        strategy_name="short-rejecter",
        interval="1m",
        get_signal=short_or_long,
        risk_name="no-shorts",
        override=True,
    )

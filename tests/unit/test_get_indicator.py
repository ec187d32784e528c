"""context.get_indicator: inside get_signal, the value a vectorised strategy reads at the
same row (the same double), for every row a run can be at, without seeing the future."""

from __future__ import annotations

import math

import numpy as np
import pytest

from btfarm.shared import indicators
from btfarm.shared.candles import to_candles
from btfarm.shared.context import RunContext, activate, deactivate, get_candles, get_indicator
from btfarm.shared.errors import UsageError

pytestmark = pytest.mark.unit

N = 400
KINDS = [
    ("sma", 9, None),
    ("sma", 4, "volume"),
    ("ema", 12, None),
    ("rsi", 14, None),
    ("atr", 10, None),
    ("rolling_max", 7, None),
    ("rolling_min", 7, "close"),
    ("vwap", 5, None),
]


@pytest.fixture
def candles():
    rng = np.random.default_rng(11)
    close = 100 + np.cumsum(rng.normal(0, 0.5, N))
    high, low = close + rng.uniform(0, 1, N), close - rng.uniform(0, 1, N)
    opens = np.clip(np.r_[100.0, close[:-1]], low, high)
    return to_candles(
        {
            "timestamp": 1_735_689_600_000 + np.arange(N) * 60_000,
            "open": opens,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1, 5, N),
        },
        "test",
        "X",
    )


def at(candles, row, read):
    """``read()`` inside get_signal at the open of candle ``row`` (row N: every candle closed)."""
    ctx = RunContext("X", "backtest", candles, {}, 5)
    ctx.when_ms = int(candles.timestamp[0]) + row * 60_000
    ctx.cursor = row
    token = activate(ctx)
    try:
        return read()
    finally:
        deactivate(token)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("name,length,field", KINDS)
def test_each_row_reads_the_aligned_series_element_and_the_row_after_the_last_candle_too(
    candles, name, length, field
):
    series = getattr(indicators, name)(candles, length, *([field] if field else []))
    kwargs = {"field": field} if field else {}
    for row in range(N):
        got = at(candles, row, lambda: get_indicator("X", name, length, **kwargs))
        assert same(got, float(series[row])), (name, row, got, series[row])
        assert type(got) is float  # a plain float, never a numpy scalar
    # live sees every candle closed: row N, which the aligned series (N long) has no element for
    # (a candle after the last: the aligned series of the longer set has row N, made of candles < N)
    later = {
        c: np.r_[getattr(candles, c), getattr(candles, c)[-1]]
        for c in ("open", "high", "low", "close", "volume")
    }
    whole = to_candles(
        {"timestamp": np.r_[candles.timestamp, candles.timestamp[-1] + 60_000], **later},
        "test",
        "X",
    )
    want = float(getattr(indicators, name)(whole, length, *([field] if field else []))[N])
    assert same(at(candles, N, lambda: get_indicator("X", name, length, **kwargs)), want)


def test_ago_reads_earlier_rows_and_the_mean_is_the_window_get_candles_gives(candles):
    row = 200
    now, before = at(
        candles, row, lambda: (get_indicator("X", "sma", 30), get_indicator("X", "sma", 30, ago=5))
    )
    closes = at(candles, row, lambda: np.array(get_candles("X", "1m", 35).close))
    assert now == pytest.approx(closes[-30:].mean(), rel=1e-12)
    assert before == pytest.approx(closes[-35:-5].mean(), rel=1e-12)
    assert at(candles, 30, lambda: get_indicator("X", "sma", 30)) == pytest.approx(
        candles.close[:30].mean()
    )
    assert math.isnan(
        at(candles, 34, lambda: get_indicator("X", "sma", 30, ago=5))
    )  # window not full yet


def test_a_longer_interval_reads_only_buckets_that_have_closed(candles):
    # at 12:07 the 5m bucket 12:05 is still forming: the last three closed are 11:50, 11:55, 12:00
    row = 187  # candle 187 opens 3h07m after the first (00:00): minute 7 of its hour
    got = at(candles, row, lambda: get_indicator("X", "sma", 3, interval="5m"))
    closes = at(candles, row, lambda: np.array(get_candles("X", "5m", 3).close))
    assert got == pytest.approx(closes.mean(), rel=1e-12)
    visible = candles.close[:row]
    assert (
        closes[-1] == visible[(row // 5) * 5 - 1]
    )  # the close of the last whole bucket, not candle row - 1


def test_bad_arguments_say_what_was_wrong(candles):
    with pytest.raises(UsageError, match="no indicator 'smaa'; the indicators are sma, ema"):
        at(candles, 50, lambda: get_indicator("X", "smaa", 5))
    with pytest.raises(UsageError, match="a negative ago would read the future"):
        at(candles, 50, lambda: get_indicator("X", "sma", 5, ago=-1))
    with pytest.raises(UsageError, match="ago must be a whole number"):
        at(candles, 50, lambda: get_indicator("X", "sma", 5, ago=1.5))
    with pytest.raises(UsageError, match="'sma' needs a length"):
        at(candles, 50, lambda: get_indicator("X", "sma"))
    with pytest.raises(UsageError, match="'rsi' reads fixed columns; it takes no field"):
        at(candles, 50, lambda: get_indicator("X", "rsi", 14, field="high"))
    with pytest.raises(UsageError, match="field 'hgh' is not one of open, high"):
        at(candles, 50, lambda: get_indicator("X", "sma", 5, field="hgh"))
    assert at(candles, 50, lambda: get_indicator("X", "rsi")) == float(
        indicators.rsi(candles)[50]
    )  # default 14

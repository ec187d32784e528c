"""A strategy cannot see candle ``when`` or anything after it, whatever it asks for."""

import numpy as np
import pytest

from btfarm.shared.context import get_average_price, get_candles

from .market import T0, flat, minute, run

pytestmark = pytest.mark.unit


def test_get_candles_ends_before_when_for_every_interval_and_limit():
    seen = []

    def peek(symbol, when):
        when_ms = int(when.timestamp() * 1000)
        for interval, limit in (("1m", 1), ("1m", 10_000), ("5m", 3), ("15m", 10_000), ("1h", 50)):
            window = get_candles(symbol, interval, limit)
            if len(window):
                # a candle is visible only once it has closed: open + interval <= when
                span = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}[interval] * 60_000
                seen.append((interval, int(window.timestamp[-1]) + span <= when_ms))
        window = get_candles(symbol, "1m", 10_000)
        assert len(window) == (when_ms - T0) // 60_000  # everything before, nothing at or after
        try:
            window.close[len(window)]
        except IndexError:
            seen.append(("index", True))
        return None

    run(flat(300), peek, end_minute=290, start_minute=1)
    assert seen and all(ok for _, ok in seen)
    assert {kind for kind, _ in seen} >= {"1m", "5m", "15m", "1h", "index"}


def test_prices_after_when_do_not_change_what_the_strategy_sees():
    """Change every candle from minute 100 on: calls up to minute 100 see identical data."""
    base = flat(200)
    rng = np.random.default_rng(1)
    base["close"] = base["high"] = base["low"] = 100 + rng.normal(0, 0.1, 200).cumsum()
    altered = {k: v.copy() for k, v in base.items()}
    altered["close"][100:] *= 1.5
    altered["high"][100:] *= 1.5
    altered["low"][100:] *= 1.5

    def observer(record):
        def watch(symbol, when):
            record.append(
                (when, get_candles(symbol, "1m", 50).close.sum(), get_average_price(symbol))
            )

        return watch

    first, second = [], []
    run(base, observer(first), end_minute=100, start_minute=1)
    run(altered, observer(second), end_minute=100, start_minute=1)
    assert len(first) == 100 and first == second


def test_candle_window_is_read_only_view():
    def mutate(symbol, when):
        get_candles(symbol, "1m", 5).close[0] = 0.0

    _, events = run(flat(30), mutate, end_minute=6, start_minute=5)
    assert "read-only" in events["error"][0]["message"]
    assert events["error"][0]["timestamp"] == minute(5)

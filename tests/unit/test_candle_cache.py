"""workers/candle_cache.py: a candle set is loaded once per process, and the cache is bounded."""

import pytest

from btfarm.shared.registry import add_frame, get_exchange, get_frame
from btfarm.workers import candle_cache
from tests import farm_strategies  # noqa: F401

pytestmark = pytest.mark.unit


def test_candles_are_reused_across_calls_and_old_sets_are_evicted():
    candle_cache.clear()
    exchange, frame = get_exchange("farm-market"), get_frame("farm-2d")
    hits, misses = candle_cache.stats["hits"], candle_cache.stats["misses"]
    first = candle_cache.candles_for(exchange, frame, "BTCUSDT")
    assert candle_cache.candles_for(exchange, frame, "BTCUSDT") is first
    assert (candle_cache.stats["hits"] - hits, candle_cache.stats["misses"] - misses) == (1, 1)
    for i in range(candle_cache.MAX_ENTRIES):  # fill the cache with other symbols
        candle_cache.candles_for(exchange, frame, f"SYM{i}")
    assert candle_cache.candles_for(exchange, frame, "BTCUSDT") is not first  # evicted, reloaded
    assert len(candle_cache._cache) == candle_cache.MAX_ENTRIES
    candle_cache.clear()


def test_a_frame_redefined_under_the_same_name_is_not_served_stale_candles():
    candle_cache.clear()
    exchange = get_exchange("farm-market")
    add_frame(
        frame_name="cache-frame",
        interval="1m",
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-03-01T23:59:00Z",
        override=True,
    )
    one_day = candle_cache.candles_for(exchange, get_frame("cache-frame"), "BTCUSDT")
    add_frame(
        frame_name="cache-frame",
        interval="1m",
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-03-02T23:59:00Z",
        override=True,
    )
    two_days = candle_cache.candles_for(exchange, get_frame("cache-frame"), "BTCUSDT")
    assert len(two_days.close) > len(one_day.close)
    candle_cache.clear()

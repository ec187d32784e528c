"""A worker process's loaded candle sets, reused across tasks (bounded LRU).

A sweep sends many chunks of the same symbol/exchange/frame to each worker;
loading the candles once per process instead of once per variant is most of
what makes small chunks cheap.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from btfarm.shared.candles import Candles
from btfarm.shared.engine.backtest_run import load_frame_candles
from btfarm.shared.frames import frame_bounds
from btfarm.shared.schemas import ExchangeSchema, FrameSchema

MAX_ENTRIES = 4  # candle sets kept per process (a month of 1m candles is ~2 MB)

_cache: OrderedDict[tuple, Candles] = OrderedDict()
_lock = threading.Lock()
stats = {"hits": 0, "misses": 0}  # for tests and logs


def candles_for(exchange: ExchangeSchema, frame: FrameSchema, symbol: str) -> Candles:
    """The frame's candles, from the cache or loaded (and cached) now."""
    key = (exchange.exchange_name, frame.frame_name, *frame_bounds(frame), symbol)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            stats["hits"] += 1
            return _cache[key]
    candles = load_frame_candles(exchange, frame, symbol)
    with _lock:
        stats["misses"] += 1
        _cache[key] = candles
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return candles


def clear() -> None:
    with _lock:
        _cache.clear()

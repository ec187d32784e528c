"""shared/exchanges/replay.py: only candles closed by the clock's now exist."""

import pytest

from btfarm.shared.clock import ManualClock
from btfarm.shared.exchanges.loading import load_candles
from btfarm.shared.exchanges.replay import replay_exchange
from btfarm.shared.intervals import MINUTE_MS
from tests.support.reference_data import SIM_CSV

pytestmark = pytest.mark.unit

FIRST_MS = 1_735_689_600_000  # the first candle of the file, 2025-01-01T00:00Z


def test_a_candle_appears_only_once_it_has_closed():
    clock = ManualClock(FIRST_MS + 10 * MINUTE_MS + 30_000)  # 00:10:30
    exchange = replay_exchange("replay", clock, files={"SIM": SIM_CSV})
    candles = load_candles(exchange, "SIM", FIRST_MS, FIRST_MS + 60 * MINUTE_MS)
    assert len(candles) == 10  # 00:00 .. 00:09; the 00:10 candle is still forming
    assert int(candles.timestamp[-1]) == FIRST_MS + 9 * MINUTE_MS
    clock.advance(29.999)
    assert len(load_candles(exchange, "SIM", FIRST_MS, FIRST_MS + 60 * MINUTE_MS)) == 10
    clock.advance(0.001)  # 00:11:00: candle 00:10 has closed
    assert len(load_candles(exchange, "SIM", FIRST_MS, FIRST_MS + 60 * MINUTE_MS)) == 11


def test_the_paged_face_gives_the_same_cut():
    clock = ManualClock(FIRST_MS + 5 * MINUTE_MS)
    exchange = replay_exchange("replay", clock, files={"SIM": SIM_CSV})
    rows = exchange.get_candles("SIM", "1m", FIRST_MS, 100)
    assert [r["timestamp"] for r in rows] == [FIRST_MS + i * MINUTE_MS for i in range(5)]


def test_before_the_first_candle_closes_there_is_nothing():
    exchange = replay_exchange("replay", ManualClock(FIRST_MS + 59_999), files={"SIM": SIM_CSV})
    assert len(load_candles(exchange, "SIM", FIRST_MS, FIRST_MS + 10 * MINUTE_MS)) == 0

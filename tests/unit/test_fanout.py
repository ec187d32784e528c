"""orchestrator/fanout.py: chunk sizes keep the task overhead under 3 %."""

import pytest

from btfarm.orchestrator import fanout
from btfarm.shared.registry import get_frame, get_strategy
from tests import farm_strategies  # noqa: F401

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("variant_seconds", [0.0005, 0.004, 0.05, 0.2, 3.0])
def test_the_chosen_chunk_keeps_overhead_under_three_percent(variant_seconds):
    size = fanout.chunk_size_for(variant_seconds)
    assert fanout.overhead_fraction(size, variant_seconds) < fanout.MAX_OVERHEAD_FRACTION
    if size > 1:  # and it is the smallest such chunk, so work spreads over workers
        assert fanout.overhead_fraction(size - 1, variant_seconds) >= 0.029


def test_the_chunk_size_can_be_set(monkeypatch):
    assert fanout.chunk_size_for(0.0001, override=7) == 7
    monkeypatch.setenv("BTFARM_CHUNK_SIZE", "5")
    from btfarm.shared.settings import get_settings

    get_settings.cache_clear()
    assert fanout.chunk_size_for(0.0001) == 5


def test_a_longer_frame_gets_a_longer_estimate_and_chunks_cover_every_variant():
    sma = get_strategy("farm-sma")
    short = fanout.estimate_variant_seconds(get_frame("farm-2d"), sma)
    long = fanout.estimate_variant_seconds(get_frame("farm-10d"), sma)
    assert 4.5 < long / short < 5.5
    from btfarm.workers.payloads import Variant

    variants = [Variant(strategy_name=f"v{i}", base="farm-sma") for i in range(10)]
    chunks = fanout.make_chunks("run", "w", "BTCUSDT", "farm-market", "farm-2d", variants, 3)
    assert [len(c.variants) for c in chunks] == [3, 3, 3, 1]
    assert [v.strategy_name for c in chunks for v in c.variants] == [v.strategy_name for v in variants]

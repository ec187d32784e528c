"""orchestrator/sweeps/fanout.py: chunk sizes keep the task overhead under 3 % and fit the pool."""

import pytest

from btfarm.orchestrator.sweeps import fanout
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
    from btfarm.shared.payloads import Variant

    variants = [Variant(strategy_name=f"v{i}", base="farm-sma") for i in range(10)]
    chunks = fanout.make_chunks("run", "w", "BTCUSDT", "farm-market", "farm-2d", variants, 3)
    assert [len(c.variants) for c in chunks] == [3, 3, 2, 2]  # as few as hold 3, sizes within one
    assert [v.strategy_name for c in chunks for v in c.variants] == [
        v.strategy_name for v in variants
    ]
    # each may steal the next one's variants (the last the first's), from their end
    assert [[v.strategy_name for v in c.steal] for c in chunks] == [
        ["v5", "v4", "v3"],
        ["v7", "v6"],
        ["v9", "v8"],
        ["v2", "v1", "v0"],
    ]
    assert [c.chunk_id for c in chunks] == ["0", "1", "2", "3"]
    (alone,) = fanout.make_chunks("run", "w", "BTCUSDT", "farm-market", "farm-2d", variants, 10)
    assert alone.steal == []  # nothing to steal from


@pytest.mark.parametrize(
    "variants, variant_seconds, slots",
    [
        (53, 0.0025, 2),
        (53, 0.0025, 1),
        (53, 0.0025, 3),
        (53, 0.01, 2),
        (53, 0.0086, 2),
        (1000, 0.03, 2),
        (1000, 0.03, 7),
        (5, 0.0025, 8),
        (53, 1.0, 2),
        (1, 0.5, 4),
    ],
)
def test_chunks_keep_every_pool_process_busy_until_the_end(variants, variant_seconds, slots):
    from btfarm.shared.payloads import Variant

    size = fanout.chunk_size_for(variant_seconds, variants=variants, slots=slots)
    chunks = fanout.make_chunks(
        "run",
        "w",
        "BTCUSDT",
        "m",
        "f",
        [Variant(strategy_name=f"v{i}", base="b") for i in range(variants)],
        size,
    )
    sizes = [len(c.variants) for c in chunks]
    assert sum(sizes) == variants and max(sizes) - min(sizes) <= 1
    busy = [0] * slots  # each free process takes the next chunk (prefetch 1)
    for n in sizes:
        busy[busy.index(min(busy))] += n
    assert variants / (slots * max(busy)) >= (
        0.95 if variants >= 4 * slots else min(variants, slots) / slots * 0.95
    )
    if len(chunks) > slots:  # cutting finer than the pool needs only happens for chunks of >= 0.1 s
        assert min(sizes) * variant_seconds >= fanout.MIN_TASK_SECONDS * 0.5


def test_with_no_worker_known_the_size_only_rule_holds():
    assert fanout.chunk_size_for(0.0025, variants=53, slots=0) == fanout.chunk_size_for(0.0025)


def test_a_year_of_the_vectorised_demo_is_not_cut_one_variant_per_task():
    """A year variant of the demo's vectorised sma-cross costs ~9 ms on a worker (bench/farm.py,
    year1000); an estimate 11x that made year1000 run 1,000 tasks of one variant each."""
    from datetime import UTC, datetime

    from btfarm.shared.demo import sma_cross_signal, sma_cross_signals
    from btfarm.shared.schemas import FrameSchema, StrategySchema

    year = FrameSchema(
        frame_name="year",
        interval="1m",
        start_date=datetime(2025, 1, 1, tzinfo=UTC),
        end_date=datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
    )
    sma = StrategySchema(
        strategy_name="sma",
        interval="5m",
        get_signal=sma_cross_signal,
        get_signals=sma_cross_signals,
    )
    seconds = fanout.estimate_variant_seconds(year, sma)
    assert 0.0017 < seconds < 0.007  # the measured ~3.3 ms, within a factor of about two
    assert fanout.chunk_size_for(seconds, variants=1000, slots=2) >= 10

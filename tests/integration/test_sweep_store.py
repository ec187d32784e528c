"""What a sweep keeps in Redis per variant (shared/store/result_blocks.py, variant_marks.py),
against a real redis-server: results in compressed blocks with a bit each, claims and runs
packed in strings; every result read back as stored, none stored twice."""

from __future__ import annotations

import random

import pytest

from btfarm.shared.payloads import Variant, dumps, result_record
from btfarm.shared.result_block import pack_records
from btfarm.shared.stats import BacktestStatistics
from btfarm.shared.store import keys, result_blocks, variant_marks

pytestmark = pytest.mark.integration


def realistic(index: int, rng: random.Random) -> dict:
    """A finished variant's record as a worker sends it: every statistic a full-precision float."""
    stats = {
        name: (rng.randint(0, 400) if field.annotation is int else rng.gauss(0, 3))
        for name, field in BacktestStatistics.model_fields.items()
    }
    variant = Variant(
        strategy_name=f"sma-cross[fast={index % 50},slow={index // 50}]",
        base="sma-cross",
        params={"fast": index % 50, "slow": index // 50},
        index=index,
    )
    return result_record(
        variant,
        "done",
        stats=stats,
        worker="host-1:4242",
        seconds=rng.random(),
        fingerprint={"strategy": "sma-cross", "source": "3f2a9c", "btfarm": "0.1.0"},
    )


def test_results_are_stored_in_blocks_a_fraction_of_a_key_each_and_read_back_as_stored(
    redis_client,
):
    rng = random.Random(3)
    records = [realistic(i, rng) for i in range(5000)]
    for start in range(0, len(records), 100):  # as the collector drains them
        assert (
            result_blocks.store_records(redis_client, "big", records[start : start + 100]) == set()
        )
    assert list(result_blocks.records(redis_client, "big")) == records
    used = sum(
        redis_client.memory_usage(k)
        for k in (keys.walker_results("big"), keys.walker_collected("big"))
    )
    assert used / len(records) < 450, used / len(records)  # a key each held about 1.1 KB of this
    assert used < sum(len(dumps(record)) for record in records) / 2.5, (
        used
    )  # under the JSON it holds
    assert all(result_blocks.collected(redis_client, "big", i) for i in (0, 2500, 4999))
    assert not result_blocks.collected(redis_client, "big", 5000)


def test_a_block_holding_a_variant_already_collected_is_stored_without_it(redis_client):
    rng = random.Random(4)
    records = [realistic(i, rng) for i in range(6)]
    assert result_blocks.store_records(redis_client, "twice", [records[1], records[4]]) == set()
    assert result_blocks.store_records(redis_client, "twice", records) == {1, 4}
    stored = sorted(result_blocks.records(redis_client, "twice"), key=lambda r: r["index"])
    assert stored == records  # each once
    # a duplicate block (every variant collected already) is not stored at all
    assert result_blocks.store_records(redis_client, "twice", records[:3]) == {0, 1, 2}
    assert redis_client.llen(keys.walker_results("twice")) == 2


def test_claims_and_runs_read_back_by_index_and_a_run_count_saturates(redis_client):
    claims = keys.walker_claims("marks", 1)
    for index, chunk_id in ((0, "0"), (7, "12"), (999_999, "4095")):
        redis_client.execute_command(
            "BITFIELD",
            claims,
            "SET",
            variant_marks.CLAIM,
            f"#{index}",
            variant_marks.claim_number(chunk_id),
        )
    assert variant_marks.owners(redis_client, "marks", 1, [0, 1, 7, 999_999]) == [
        "0",
        None,
        "12",
        "4095",
    ]
    assert redis_client.strlen(claims) == 4 * 10**6  # 4 bytes a variant, not a hash entry each

    runs = keys.walker_executions("marks")
    for _ in range(300):  # the turn script's increment
        redis_client.execute_command(
            "BITFIELD", runs, "OVERFLOW", "SAT", "INCRBY", variant_marks.RUNS, "#3", 1
        )
    redis_client.execute_command(
        "BITFIELD", runs, "OVERFLOW", "SAT", "INCRBY", variant_marks.RUNS, "#5", 1
    )
    assert variant_marks.executions(redis_client, "marks") == {3: 255, 5: 1}


def test_blocks_are_stored_in_one_pipeline_even_after_redis_forgot_the_script(redis_client):
    rng = random.Random(5)
    records = [realistic(i, rng) for i in range(4)]
    assert result_blocks.store_records(redis_client, "forgot", records[:2]) == set()
    redis_client.script_flush()  # a restarted Redis knows no script
    blocks = [pack_records(records[2:3]), pack_records(records[3:])]
    assert result_blocks.store_many(redis_client, "forgot", [(b, None) for b in blocks]) == [
        set(),
        set(),
    ]
    assert list(result_blocks.records(redis_client, "forgot")) == records

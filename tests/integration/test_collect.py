"""orchestrator/sweeps/collect.py against a real Redis: each result accepted once; resume reads back."""

from __future__ import annotations

import pytest
from redis.client import NEVER_DECODE

from btfarm.orchestrator.sweeps.collect import Collector
from btfarm.shared.result_block import pack
from btfarm.shared.store import keys, result_blocks

pytestmark = pytest.mark.integration


NAMES = ["a", "b", "c", "d"]


def record(name: str, status: str = "done") -> dict:
    return {
        "index": NAMES.index(name),
        "strategy_name": name,
        "status": status,
        "stats": {"sharpe_ratio": 1.0},
    }


def collector_of(redis_client, run_id: str, count: int) -> Collector:
    return Collector(redis_client, run_id, count, NAMES.__getitem__)


def pending_names(collector: Collector) -> set[str]:
    return {NAMES[i] for i in collector.pending.indices()}


def accepted_names(accepted) -> list[str]:
    return [block.record(int(row))["strategy_name"] for block, rows in accepted for row in rows]


def stored_names(redis_client, run_id: str) -> list[str]:
    return [record["strategy_name"] for record in result_blocks.records(redis_client, run_id)]


def test_a_redelivered_result_is_dropped_and_a_stopped_one_is_not_stored(redis_client):
    inbox = keys.walker_inbox("r1")
    redelivered = pack([record("a")])
    for blob in (redelivered, pack([record("a"), record("b", "stopped")])):
        redis_client.rpush(inbox, blob)
    collector = collector_of(redis_client, "r1", 3)
    got = collector.wait(1)
    assert accepted_names(got) == ["a", "b"] and collector.duplicates == 1
    assert pending_names(collector) == {"c"}
    # the first block stored as the worker packed it, not decoded and packed again
    assert redis_client.execute_command(
        "LRANGE", keys.walker_results("r1"), 0, -1, **{NEVER_DECODE: []}
    ) == [redelivered]
    assert list(result_blocks.records(redis_client, "r1")) == [record("a")]
    assert result_blocks.collected(redis_client, "r1", 0)
    assert not result_blocks.collected(redis_client, "r1", 1)  # a resume runs it


def test_a_copy_stored_by_another_collector_is_a_duplicate_and_the_rest_of_its_batch_is_stored(
    redis_client,
):
    result_blocks.store_records(
        redis_client, "r3", [record("b")]
    )  # e.g. before Redis lost the plan
    collector = collector_of(redis_client, "r3", 4)
    got = collector.accept_all([record("a"), record("b"), record("c")])
    assert accepted_names(got) == ["a", "c"] and collector.duplicates == 1
    assert sorted(stored_names(redis_client, "r3")) == ["a", "b", "c"]
    assert pending_names(collector) == {"b", "d"}  # b was not this collector's to accept


def test_stored_reads_back_results_and_the_inbox_left_by_a_dead_orchestrator(redis_client):
    result_blocks.store_records(redis_client, "r2", [record("a")])
    redis_client.rpush(
        keys.walker_inbox("r2"), pack([record("b"), record("c", "stopped")]), pack([record("a")])
    )
    collector = collector_of(redis_client, "r2", 4)
    found = collector.stored()
    assert sorted(accepted_names(found)) == ["a", "b"]
    assert pending_names(collector) == {"c", "d"}  # stopped and never run: to run now
    assert redis_client.llen(keys.walker_inbox("r2")) == 0
    assert stored_names(redis_client, "r2") == ["a", "b"]


def test_blocks_workers_stored_are_read_from_where_the_last_read_stopped(redis_client):
    collector = collector_of(redis_client, "r4", 4)
    result_blocks.store_records(
        redis_client, "r4", [record("a"), record("b")]
    )  # as a worker's turn stores
    assert accepted_names(collector.wait(0.05)) == ["a", "b"]
    result_blocks.store_records(redis_client, "r4", [record("c")])
    redis_client.rpush(
        keys.walker_inbox("r4"), pack([record("c"), record("d")])
    )  # a redelivered copy of c
    assert accepted_names(collector.wait(0.05)) == ["c", "d"] and collector.duplicates == 1
    assert (
        collector.finished and collector.wait(0.05) == []
    )  # d, stored by the collector, is not read as new
    assert collector.duplicates == 1
    assert sorted(stored_names(redis_client, "r4")) == ["a", "b", "c", "d"]

"""Farm pieces on a real Redis: collect keeps each variant once; the schedule lock."""

import pytest

from btfarm.orchestrator.schedule import run_entry
from btfarm.orchestrator.state_client import reset_state
from btfarm.orchestrator.sweeps.collect import Collector
from btfarm.shared.result_block import pack
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys, result_blocks

pytestmark = pytest.mark.integration


def test_collect_accepts_each_variant_once_in_arrival_order(redis_client):
    inbox = keys.walker_inbox("r1")
    names = ["a", "b", "c"]
    for name, index in (
        ("b", 1),
        ("a", 0),
        ("b", 1),
        ("stranger", 7),
        ("c", 2),
    ):  # "b" redelivered,
        redis_client.rpush(
            inbox,
            pack(
                [
                    {
                        "index": index,
                        "strategy_name": name,  # "stranger" not ours
                        "status": "done",
                        "stats": {"sharpe_ratio": 1.0},
                    }
                ]
            ),
        )
    collector = Collector(redis_client, "r1", len(names), names.__getitem__)
    got = [block.record(int(row)) for block, rows in collector.wait(1.0) for row in rows]
    assert [r["strategy_name"] for r in got] == ["b", "a", "c"]
    assert collector.finished and collector.duplicates == 2
    assert got[0]["stats"] == {"sharpe_ratio": 1.0}  # the caller gets the whole record
    stored = list(result_blocks.records(redis_client, "r1"))
    assert stored == got  # stored as received, in arrival order
    # (records are compact at the source: workers never send closed signals, payloads.py)
    assert collector.wait(0.05) == []  # nothing more: returns after the timeout


def test_a_scheduled_run_is_skipped_while_the_previous_one_holds_the_lock(
    redis_server, redis_client, monkeypatch
):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    try:
        redis_client.set(keys.schedule_lock("nightly:BTCUSDT"), "other-host:123")
        outcome = run_entry("nightly", "no-such-walker", "BTCUSDT")
        assert outcome["skipped"] and outcome["holder"] == "other-host:123"
        assert redis_client.get(keys.schedule_lock("nightly:BTCUSDT")) == "other-host:123"
    finally:
        reset_state()

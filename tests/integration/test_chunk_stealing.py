"""Work stealing between the chunks of a sweep (workers/tasks.py), against a real Redis.

The chunk task runs here, in this process (Celery's eager ``apply``, with a
task id as a worker would have), so the test decides which chunk runs when:
a chunk that ends early takes the next chunk's variants from its end, a
variant runs in one chunk only, and the chunk watch knows who owes what.
"""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from btfarm.orchestrator.sweeps import fanout
from btfarm.orchestrator.sweeps.chunk_watch import ChunkWatch
from btfarm.orchestrator.sweeps.pending import Pending
from btfarm.shared.context import get_params
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.payloads import Variant
from btfarm.shared.registry import add_strategy
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys, result_blocks, variant_marks
from btfarm.workers import startup
from btfarm.workers.app import configure
from btfarm.workers.tasks import backtest_chunk
from tests import farm_strategies
from tests.support.inbox import handed_in
from tests.support.processes import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

RELEASE = threading.Event()  # a "gated" variant waits for it before its first signal


def gated_signal(symbol: str, when: datetime) -> dict | None:
    if get_params().get("gated") and not RELEASE.wait(timeout=30):
        raise TimeoutError("the test never released the gated variant")
    return sma_cross_signal(symbol, when)


add_strategy(
    strategy_name="steal-gated",
    interval="15m",
    get_signal=gated_signal,
    params={"fast": 5, "slow": 20, "gated": 0},
    override=True,
)


@pytest.fixture
def store(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    monkeypatch.setattr(startup, "_client", None)  # the worker's client, built for this server
    configure()
    RELEASE.clear()
    yield redis_client
    RELEASE.set()


def variants(gated: int | None = None) -> list[Variant]:
    return [
        Variant(
            strategy_name=f"v{i}",
            base="steal-gated",
            index=i,
            params={"fast": 5 + i, "slow": 20, "gated": int(i == gated)},
        )
        for i in range(8)
    ]


def chunks_of(run_id: str, vs: list[Variant], r) -> list:
    r.set(keys.walker_lease(run_id), 1)  # the sweep's orchestrator holds the lease
    return fanout.make_chunks(
        run_id, "steal-walker", farm_strategies.SYMBOL, "farm-market", "farm-1d", vs, 4
    )


def run_chunk(chunk, task_id: str) -> list[str]:
    """The variants ``chunk`` ran, in the order it ran them."""
    result = backtest_chunk.apply(kwargs=chunk.model_dump(mode="json"), task_id=task_id).get()
    return [f"v{i}" for i in result["ran"]]


def runs(r, run_id: str) -> dict[str, int]:
    return {f"v{i}": n for i, n in variant_marks.executions(r, run_id).items()}


def owners(r, run_id: str) -> dict[str, str]:
    return {
        f"v{i}": owner
        for i, owner in enumerate(variant_marks.owners(r, run_id, 1, range(8)))
        if owner
    }


def handed_in_names(r, run_id: str) -> list[str]:
    """What the chunks handed in (stored, or pushed to the inbox), in order."""
    return [record["strategy_name"] for record in handed_in(r, run_id)]


def test_a_chunk_that_runs_alone_takes_the_next_chunks_variants_from_its_end(store):
    a, b = chunks_of("steal-alone", variants(), store)
    assert [v.strategy_name for v in a.steal] == ["v7", "v6", "v5", "v4"]

    assert run_chunk(a, "steal-alone-0") == ["v0", "v1", "v2", "v3", "v7", "v6", "v5", "v4"]
    assert (
        run_chunk(b, "steal-alone-1") == []
    )  # everything of its own was taken, and it takes nothing back
    assert handed_in_names(store, "steal-alone") == ["v0", "v1", "v2", "v3", "v7", "v6", "v5", "v4"]
    assert runs(store, "steal-alone") == {f"v{i}": 1 for i in range(8)}
    assert owners(store, "steal-alone") == {f"v{i}": a.chunk_id for i in range(8)}


def test_two_chunks_meet_where_the_busy_one_got_to_and_no_variant_runs_twice(store):
    a, b = chunks_of("steal-meet", variants(gated=4), store)  # b's first variant waits for the test
    ran_b: list[str] = []
    busy = threading.Thread(target=lambda: ran_b.extend(run_chunk(b, "steal-meet-1")))
    busy.start()
    try:
        wait_for(
            lambda: owners(store, "steal-meet").get("v4") == b.chunk_id,
            10,
            "chunk 1 to claim its first variant",
        )
        ran_a = run_chunk(a, "steal-meet-0")  # while b is stuck in v4
    finally:
        RELEASE.set()
        busy.join(timeout=30)

    assert ran_a == [
        "v0",
        "v1",
        "v2",
        "v3",
        "v7",
        "v6",
        "v5",
    ]  # stole until it met v4, claimed by b
    assert ran_b == ["v4"]  # then found the rest of its list taken, and a's list done
    assert sorted(handed_in_names(store, "steal-meet")) == [f"v{i}" for i in range(8)]
    assert runs(store, "steal-meet") == {f"v{i}": 1 for i in range(8)}


def test_the_watch_resubmits_what_a_chunk_claimed_and_its_own_unclaimed_under_its_chunk_id(store):
    from btfarm.workers import app

    a, b = chunks_of("steal-owe", variants(), store)
    # a ran v0..v1, claimed v2 and stole v7, and its worker died; b was not delivered yet
    for index in (0, 1, 2, 7):
        store.execute_command(
            "BITFIELD",
            keys.walker_claims("steal-owe", 1),
            "SET",
            variant_marks.CLAIM,
            f"#{index}",
            variant_marks.claim_number(a.chunk_id),
        )
    app.backend.store_result("steal-owe-0", {"run_id": "steal-owe", "variants": []}, "SUCCESS")
    watch = ChunkWatch(app, store, [a, b], ["steal-owe-0", "steal-owe-1"])
    pending = Pending(8, "v{}".format)
    pending.discard(0)
    pending.discard(1)  # v0 and v1 were collected

    assert watch.check(pending) == []
    again = watch.chunks["steal-owe-0-r1"]  # b (queued) is left to run
    assert set(watch.chunks) == {"steal-owe-1", "steal-owe-0-r1"} and again.chunk_id == a.chunk_id
    assert [v.strategy_name for v in again.variants] == ["v2", "v3"]  # its own: claimed, unclaimed
    assert [v.strategy_name for v in again.steal] == ["v7"]  # stolen by the dead one: still its own
    assert run_chunk(again, "steal-owe-0-r1") == ["v2", "v3", "v7"]
    assert run_chunk(b, "steal-owe-1") == ["v4", "v5", "v6"]  # v7 and a's list: taken
    assert runs(store, "steal-owe") == {f"v{i}": 1 for i in range(2, 8)}


def test_a_late_record_of_a_variant_collected_meanwhile_is_dropped_not_pushed(store):
    """A partitioned host that comes back: its copy of a variant redone and collected elsewhere
    never reaches the inbox; the rest of its work still does."""
    a, _ = chunks_of("steal-late", variants(gated=0), store)
    ran: list[str] = []
    late = threading.Thread(target=lambda: ran.extend(run_chunk(a, "steal-late-0")))
    late.start()
    try:
        wait_for(lambda: runs(store, "steal-late").get("v0") == 1, 10, "the chunk to start v0")
        result_blocks.store_records(
            store, "steal-late", [{"index": 0, "strategy_name": "v0", "status": "done"}]
        )  # collected
    finally:
        RELEASE.set()
        late.join(timeout=30)
    assert ran[0] == "v0"  # it did run it (it could not know) ...
    # ... and its record was dropped: v0 is there once, as the test stored it
    assert handed_in_names(store, "steal-late")[0] == "v0"
    assert sorted(handed_in_names(store, "steal-late")) == [f"v{i}" for i in range(8)]
    assert store.llen(keys.walker_inbox("steal-late")) == 0


def test_the_watch_resubmits_on_the_store_it_reads_not_on_a_stale_state_client(
    store, monkeypatch, tmp_path
):
    """The process's state client left by an earlier run (its embedded server gone) is not where
    a watch given its store publishes: the same resubmission as above, with that client planted."""
    import redis

    from btfarm.orchestrator import state_client

    gone = redis.Redis(unix_socket_path=str(tmp_path / "gone.sock"))
    monkeypatch.setattr(state_client, "_client", gone)
    test_the_watch_resubmits_what_a_chunk_claimed_and_its_own_unclaimed_under_its_chunk_id(store)

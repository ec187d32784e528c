"""The farm's reach over hosts (issue 33 §4): a sweep of 5,000 short variants (about a
millisecond each, tests/support/short_sweep.py) over three worker hosts, each a network
namespace reaching the hub's Redis only over its own veth link (tests/support/netns.py).

- every variant's result arrives exactly once: once in the walker's progress, once in the
  stored blocks, claimed by one chunk, started once by a worker; every host worked;
- a sample of 20 variants, drawn with a fixed seed, equals ``Backtest.run`` of the same
  params in this process;
- ``walker_complete`` hears the large form (the best ``TOP`` as rows, every variant in the
  table), ranked as ``Walker.get_data`` ranks them.

Needs root for the namespaces (CI runs as root); skipped, with the reason, only where they
cannot be made. Every namespace and worker it starts is removed, the test failing or not.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from btfarm.orchestrator import Backtest, Walker, listen_walker_complete
from btfarm.orchestrator.results.ranked_data import TOP
from btfarm.orchestrator.sweeps.variants import expand
from btfarm.shared.registry import get_walker
from btfarm.shared.store import result_blocks, variant_marks
from tests.support import short_sweep
from tests.support.faulted_sweep import point_at, stop_workers
from tests.support.host_workers import hub_redis, made_hosts, workers_on
from tests.support.netns import Hosts
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
PASSWORD = "hosts-reach-s3cret"
HOSTS = 3
CHUNK = 50  # 100 chunks: many claims and steals, as a big farm has
SAMPLE = 20  # variants replayed in this process
SEED = 33


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    yield from made_hosts(HOSTS)


@pytest.fixture
def server(hosts, monkeypatch, tmp_path) -> Iterator[RedisServer]:
    """The hub's Redis, with this process's orchestrator (the sweep registered) pointed at it."""
    short_sweep.register()
    with hub_redis(hosts, PASSWORD) as srv:
        yield from (srv for _ in point_at(srv.url, monkeypatch, tmp_path, idle_timeout=60))


def test_5000_short_variants_over_three_hosts_arrive_once_and_equal_in_process_runs(
    hosts, server, tmp_path
):
    variants = expand(get_walker(short_sweep.SWEEP))
    assert len(variants) == short_sweep.VARIANTS == 5000
    workers = workers_on(
        hosts, server, tmp_path / "workers", env={"BTFARM_IMPORTS": short_sweep.IMPORTS}
    )
    completed: list = []
    unsubscribe = listen_walker_complete(completed.append)
    try:
        reported = Counter(
            p.strategy_name
            for p in Walker.run(short_sweep.SYMBOL, short_sweep.SWEEP, chunk_size=CHUNK)
        )
    finally:
        unsubscribe()
        stop_workers(workers)
    data = Walker.get_data(short_sweep.SYMBOL, short_sweep.SWEEP, top=5000)  # every row

    # walker_complete carries a large sweep's large form: the best TOP as rows, every variant
    # in the table, the same ranking and best as get_data's
    assert len(completed) == 1
    done = completed[0]
    assert done.top == TOP < 5000 and len(done.strategies) <= TOP
    assert done.table is not None and len(done.to_frame()) == 5000
    assert done.best_strategy == data.best_strategy is not None
    assert [(s.strategy_name, s.stats) for s in done.strategies] == [
        (s.strategy_name, s.stats) for s in data.strategies[: len(done.strategies)]
    ]
    assert done.strategies_tested == data.strategies_tested == 5000

    # once in the walker's progress, once in its data
    names = [variants.name(i) for i in range(len(variants))]
    assert sorted(reported) == sorted(names)
    assert set(reported.values()) == {1}, [n for n, c in reported.items() if c > 1][:10]
    assert data.unfinished == {}, data.unfinished
    listed = [s.strategy_name for s in data.strategies] + list(data.unranked)
    assert data.strategies_tested == len(listed) == len(set(listed)) == 5000

    client = server.client()
    try:
        # once in the stored blocks: the count of records per variant index
        stored = Counter()
        workers_of = Counter()
        for block in result_blocks.blocks(client, data.run_id):
            stored.update(int(i) for i in block.index)
            workers_of.update(rec["worker"].rsplit(":", 1)[0] for rec in block.records())
        assert sorted(stored) == list(range(5000)), sorted(set(range(5000)) - set(stored))[:10]
        assert set(stored.values()) == {1}, [i for i, c in stored.items() if c > 1][:10]
        # claimed by one chunk in the sweep's one attempt, started once
        owners = variant_marks.owners(client, data.run_id, 1, range(5000))
        assert None not in owners, [i for i, o in enumerate(owners) if o is None][:10]
        chunks = Counter(owners)
        # by chunks of this sweep (a chunk steals from others' ends, or has all its own stolen)
        assert set(chunks) <= {str(c) for c in range(5000 // CHUNK)}, chunks
        runs = variant_marks.executions(client, data.run_id)
        assert sorted(runs) == list(range(5000))
        assert set(runs.values()) == {1}, {i: n for i, n in runs.items() if n != 1}
    finally:
        client.close()
    assert set(workers_of) == {w.name for w in workers}, workers_of  # every host worked

    # a sample equals Backtest.run of the same params in this process
    farm_stats = {row.strategy_name: row.stats for row in data.strategies} | {
        name: stats for name, (_, stats) in data.unranked.items()
    }
    sample = sorted(random.Random(SEED).sample(range(5000), SAMPLE))
    traded = 0
    for index in sample:
        name = short_sweep.check_strategy(index, variants[index].params)
        closed = list(
            Backtest.run(short_sweep.SYMBOL, name, short_sweep.EXCHANGE, short_sweep.FRAME)
        )
        here = Backtest.get_data(short_sweep.SYMBOL, name).stats
        assert here.total_signals == len(closed)
        farm = farm_stats[variants.name(index)]
        assert farm.model_dump(mode="json") == here.model_dump(mode="json"), variants.name(index)
        traded += bool(closed)
    assert traded >= SAMPLE // 2  # the sample compares trades, not only empty runs

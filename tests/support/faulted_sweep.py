"""The fault suites' sweep: 24 slow variants on real workers, and what an uninterrupted
run gives (the reference every faulted run must equal, each variant exactly once)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from btfarm.orchestrator import Walker
from btfarm.orchestrator.state_client import reset_state
from btfarm.orchestrator.sweeps.variants import expand
from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.ranking import rank
from btfarm.shared.registry import get_exchange, get_frame, get_strategy, get_walker
from btfarm.shared.settings import get_settings
from btfarm.shared.stats import compute_statistics
from btfarm.shared.store import result_blocks, variant_marks
from btfarm.workers.app import configure
from tests import farm_strategies

from .celery_workers import CeleryWorker
from .processes import wait_for
from .redis_server import RedisServer

SYMBOL = farm_strategies.SYMBOL
SWEEP = "farm-faulted-sweep"  # 24 variants of ~0.6 s
CHUNK = 2


def point_at(url: str, monkeypatch, tmp_path, idle_timeout: int = 30, **env: str):
    """This test's orchestrator on the farm at ``url`` (settings, state client, Celery app), its
    reports under ``tmp_path``, a sweep with no result for ``idle_timeout`` s interrupted, and
    any other ``BTFARM_*`` of ``env`` (a broker of its own, say); a generator for a fixture to
    ``yield from``."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BTFARM_REDIS_URL", url)
    monkeypatch.setenv("BTFARM_DUMP_DIR", str(tmp_path / "dump"))
    monkeypatch.setenv("BTFARM_SWEEP_IDLE_TIMEOUT", str(idle_timeout))
    get_settings.cache_clear()
    reset_state()
    configure()
    yield url
    reset_state()


def reference_stats() -> dict[str, dict]:
    """The uninterrupted result: every variant backtested in this process
    (farm-slow is farm-sma with a sleep, so farm-sma computes the same numbers fast)."""
    walker = get_walker(SWEEP)
    exchange, frame = get_exchange(walker.exchange_name), get_frame(walker.frame_name)
    candles = load_frame_candles(exchange, frame, SYMBOL)
    out = {}
    for v in expand(walker):
        run = BacktestRun(
            get_strategy("farm-sma"),
            exchange,
            frame,
            SYMBOL,
            candles,
            params=v.params,
            strategy_name=v.strategy_name,
        )
        out[v.strategy_name] = json.loads(
            json.dumps(compute_statistics(run.run()).model_dump(mode="json"))
        )
    return out


def start_workers(
    url: str, logdir, count: int = 2, prefixes: tuple[tuple[str, ...], ...] = (), **env: str
) -> list[CeleryWorker]:
    """``count`` workers, ready; ``prefixes[i]``: what worker i runs under (a host, a clock)."""
    workers = [
        CeleryWorker(url, logdir, prefix=prefixes[i] if i < len(prefixes) else (), **env)
        for i in range(count)
    ]
    try:
        for w in workers:
            w.start()
        app = configure()
        for w in workers:
            w.wait_ready(app)
    except BaseException:
        stop_workers(workers)
        raise
    return workers


def stop_workers(workers: list[CeleryWorker]) -> None:
    """Stop each by PID, all at once (each warm shutdown takes seconds)."""
    with ThreadPoolExecutor(len(workers)) as pool:
        list(pool.map(CeleryWorker.stop, workers))


def ranking(stats_by_name: dict[str, dict]) -> list[str]:
    """The expected ranking: variants with a closed signal (min_trades=1), by sharpe."""
    order = [v.strategy_name for v in expand(get_walker(SWEEP))]
    return [
        name
        for name, _ in rank(
            [
                (n, stats_by_name[n])
                for n in order
                if n in stats_by_name and stats_by_name[n]["total_signals"]
            ],
            "sharpe_ratio",
        )
    ]


def stored_results(server: RedisServer, run_id: str) -> dict[str, dict]:
    client = server.client()
    try:
        return {rec["strategy_name"]: rec for rec in result_blocks.records(client, run_id)}
    finally:
        client.close()


def executions(server: RedisServer, run_id: str) -> dict[str, int]:
    """Variant name -> times a worker started it."""
    client = server.client()
    try:
        names = expand(get_walker(SWEEP))
        return {names.name(i): n for i, n in variant_marks.executions(client, run_id).items()}
    finally:
        client.close()


def assert_complete_and_equal(data, reference) -> None:
    assert data.unfinished == {}, data.unfinished
    listed = [s.strategy_name for s in data.strategies] + list(data.unranked)
    assert data.strategies_tested == 24 and len(set(listed)) == len(listed) == 24
    for row in data.strategies:
        assert row.stats.model_dump(mode="json") == reference[row.strategy_name], row.strategy_name
    for name, (_, stats) in data.unranked.items():  # finished without a trade: listed, not ranked
        assert stats.model_dump(mode="json") == reference[name] and stats.total_signals == 0, name
    assert [s.strategy_name for s in data.strategies] == ranking(reference)


def sweep_under_way(chunk_size: int = CHUNK):
    """The sweep started in the background, once four of its results are in."""
    inst = Walker.instance(SYMBOL, SWEEP)
    earlier = (
        inst.data
    )  # an earlier test's sweep of this instance, finished: not the one to wait for
    Walker.background(SYMBOL, SWEEP, chunk_size=chunk_size)
    wait_for(
        lambda: inst.data is not None and inst.data is not earlier and len(inst.data.records) >= 4,
        30,
        "four results",
    )
    return inst

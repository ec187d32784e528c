"""The farm under faults (issue 5): workers, Redis and the orchestrator killed
mid-sweep, and strategies that hang, hog memory, raise or kill their worker.

Real processes throughout: a redis-server with an append-only file (so it can
be restarted with its data), ``celery worker`` subprocesses, the walker in
this process or in a ``btfarm walker`` subprocess. Progress is polled with
deadlines; every process is stopped by PID.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from btfarm.orchestrator import Walker
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from btfarm.workers.app import TASK_QUEUE, configure
from tests import farm_strategies
from tests.support import faulted_fixtures
from tests.support.celery_workers import REPO, CeleryWorker, farm_env
from tests.support.faulted_sweep import (
    CHUNK,
    SWEEP,
    SYMBOL,
    assert_complete_and_equal,
    executions,
    ranking,
    stored_results,
    sweep_under_way,
)
from tests.support.faults import (
    WORKER_FAULTS,
    kill_process,
    kill_worker,
    restart_redis,
    restart_redis_empty,
)
from tests.support.inbox import inbox_records
from tests.support.processes import wait_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
PASSWORD = "fault-suite-s3cret"  # every server here requires it; no output may show it


@pytest.fixture
def server(tmp_path) -> Iterator[RedisServer]:
    """A redis-server keeping its data in an append-only file, so it survives a restart
    (one per test: a restarted server has a new PID, and must be stopped by this test)."""
    with RedisServer(data_dir=tmp_path / "redis-aof", password=PASSWORD) as srv:
        yield srv


url, workers, reference = faulted_fixtures.url, faulted_fixtures.workers, faulted_fixtures.reference


# ---- a worker killed ---------------------------------------------------------


@pytest.mark.parametrize("how", WORKER_FAULTS)
def test_kill_9_one_of_two_workers_mid_sweep_completes_each_variant_once(
    url, workers, server, reference, how
):
    inst = sweep_under_way()
    victim = workers[0]
    killed = kill_worker(victim, how)
    assert killed
    assert Walker.wait(SYMBOL, SWEEP, timeout=60), "the sweep did not end"
    assert inst.task.error is None, inst.task.error
    data = Walker.get_data(SYMBOL, SWEEP)
    names = [p.strategy_name for p in inst.task.follow()]
    assert len(names) == len(set(names)) == 24  # every variant reported exactly once
    assert_complete_and_equal(data, reference)
    assert set(stored_results(server, data.run_id)) == set(reference)
    runs = executions(server, data.run_id)
    assert sum(runs.values()) <= 24 + 1  # at most the variant in flight ran twice


# ---- Redis restarted -----------------------------------------------------------


def test_restarting_redis_mid_sweep_then_resume_completes_with_nothing_doubled(
    url, workers, server, reference
):
    inst = sweep_under_way()
    restart_redis(server)
    assert Walker.wait(SYMBOL, SWEEP, timeout=75), "the sweep did not end"
    data = Walker.get_data(SYMBOL, SWEEP)
    run_id = data.run_id
    if inst.task.error is not None or data.unfinished:  # stopped: the message must say what to do
        message = str(inst.task.error or data.unfinished)
        assert run_id in message and "resume" in message
        progress = list(Walker.resume(run_id))
        data = Walker.get_data(SYMBOL, SWEEP)
        assert len([p.strategy_name for p in progress]) == 24
    assert_complete_and_equal(data, reference)
    stored = stored_results(server, run_id)
    assert set(stored) == set(reference) and all(r["status"] == "done" for r in stored.values())
    assert data.duplicates_dropped == 0 or sum(executions(server, run_id).values()) >= 24


def test_a_redis_that_comes_back_empty_gets_the_plan_again_and_the_sweep_finishes(
    url, workers, server, reference
):
    inst = sweep_under_way()
    restart_redis_empty(server)
    assert Walker.wait(SYMBOL, SWEEP, timeout=75), "the sweep did not end"
    assert inst.task.error is None, repr(inst.task.error)
    data = Walker.get_data(SYMBOL, SWEEP)
    assert_complete_and_equal(data, reference)
    # crash-only: the plan and every result are stored again, so `resume` would work
    assert Walker.plan_of(data.run_id).run_id == data.run_id
    stored = stored_results(server, data.run_id)
    assert set(stored) == set(reference) and all(r["status"] == "done" for r in stored.values())


def test_redis_that_stays_away_stops_the_sweep_clearly_and_resume_finishes_it(
    url, workers, server, reference, monkeypatch
):
    from btfarm.shared.errors import StoreUnavailable

    monkeypatch.setenv("BTFARM_STORE_OUTAGE_SECONDS", "2")
    get_settings.cache_clear()
    inst = sweep_under_way()
    server.stop()
    try:
        assert Walker.wait(SYMBOL, SWEEP, timeout=30), "the walker kept waiting for Redis"
    finally:
        server.start()  # same port, same data
    error = inst.task.error
    run_id = inst.data.run_id
    assert isinstance(error, StoreUnavailable), repr(error)
    message = str(error)
    assert "stayed away for 2 s" in message and f"btfarm walker resume {run_id}" in message
    assert "redis://***@127.0.0.1" in message and PASSWORD not in message
    done_before = set(stored_results(server, run_id))
    before = executions(server, run_id)

    progress = list(Walker.resume(run_id))
    data = Walker.get_data(SYMBOL, SWEEP)
    assert sorted(p.strategy_name for p in progress) == sorted(reference)  # each once
    assert_complete_and_equal(data, reference)
    assert data.resumed >= len(done_before) >= 4
    after = executions(server, run_id)
    for name in done_before:
        assert after[name] == before[name], name  # stored before the outage: not recomputed
    for w in workers:
        assert PASSWORD not in w.log()


# ---- the orchestrator killed -----------------------------------------------------


def test_kill_9_the_orchestrator_then_resume_recomputes_nothing_finished(
    url, workers, server, reference, tmp_path
):
    err = tmp_path / "walker.err"
    with open(err, "wb") as stderr:
        orchestrator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "btfarm.orchestrator.cli",
                "walker",
                "tests.farm_strategies",
                SWEEP,
                "--symbol",
                SYMBOL,
                "--chunk-size",
                str(CHUNK),
                "--no-dump",
            ],
            cwd=REPO,
            env=farm_env(url, BTFARM_DUMP_DIR=str(tmp_path)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:

        def announced():
            for line in err.read_text(errors="replace").splitlines():
                if line.startswith("sweep ") and "btfarm walker resume" in line:
                    return line.split()[1]
            return None

        run_id = wait_for(announced, 30, "the walker to print its run id")
        wait_for(lambda: len(stored_results(server, run_id)) >= 6, 30, "six stored results")
        kill_process(orchestrator)
    finally:
        if orchestrator.poll() is None:
            kill_process(orchestrator)
    client = server.client()
    try:
        # its lease would run out within WALKER_LEASE_SECONDS; end it now (the sweep must not
        # finish meanwhile), then the workers drop its chunks: wait until nothing runs or waits
        assert client.ttl(keys.walker_lease(run_id)) <= keys.WALKER_LEASE_SECONDS
        client.delete(keys.walker_lease(run_id))
        app = configure()
        wait_for(
            lambda: (
                client.llen(TASK_QUEUE) == 0
                and not any((app.control.inspect(timeout=1).active() or {"-": [1]}).values())
            ),
            30,
            "idle workers",
        )
        inbox = inbox_records(client, run_id)
    finally:
        client.close()
    finished = set(stored_results(server, run_id)) | {
        r["strategy_name"] for r in inbox if r["status"] == "done"
    }
    before = executions(server, run_id)
    assert 6 <= len(finished) < 24 and set(before) >= finished

    done = subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "walker", "resume", run_id],
        cwd=REPO,
        env=farm_env(url, BTFARM_DUMP_DIR=str(tmp_path), COLUMNS="160"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SWEEP} on {SYMBOL}: 24/24 tested" in done.stdout
    assert f"resumed sweep {run_id}: {len(finished)} results read back" in done.stderr
    after = executions(server, run_id)
    for name in reference:
        expected = before.get(name, 0) + (0 if name in finished else 1)
        assert after.get(name, 0) == expected, name  # finished: not recomputed; the rest: once
    stored = stored_results(server, run_id)
    assert set(stored) == set(reference)
    assert ranking({n: r["stats"] for n, r in stored.items()}) == ranking(reference)
    for name, record in stored.items():
        assert record["stats"] == reference[name], name
    report = (tmp_path / "walker" / f"{SWEEP}.md").read_text()
    assert f"- Run id: {run_id}" in report and "## Fingerprint" in report


# ---- strategies that misbehave ---------------------------------------------------------


@pytest.fixture
def limited_farm(tmp_path, monkeypatch) -> Iterator[tuple[str, CeleryWorker]]:
    """A private Redis and one worker (two pool processes) with small limits."""
    limits = {
        "BTFARM_TASK_SOFT_TIME_LIMIT": "3",
        "BTFARM_TASK_TIME_LIMIT": "6",
        "BTFARM_WORKER_MAX_MEMORY_MB": "600",
        "BTFARM_TASK_MAX_RETRIES": "1",
    }
    with RedisServer() as srv:
        for name, value in limits.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("BTFARM_REDIS_URL", srv.url)
        monkeypatch.setenv("BTFARM_DUMP_DIR", str(tmp_path / "dump"))
        get_settings.cache_clear()
        reset_state()
        worker = CeleryWorker(srv.url, tmp_path / "workers", concurrency=2, **limits)
        try:
            worker.start().wait_ready(configure())
            yield srv.url, worker
        finally:
            worker.stop()
            reset_state()


def test_hanging_hogging_raising_suicidal_and_stubborn_strategies_each_fail_alone(limited_farm):
    _, worker = limited_farm
    progress = list(Walker.run(SYMBOL, "farm-faults", chunk_size=1))
    data = Walker.get_data(SYMBOL, "farm-faults")
    assert sorted(data.unfinished) == sorted(farm_strategies.FAULTS)
    assert {s.strategy_name for s in data.strategies} == {
        "farm-pullback",
        "farm-sma[fast=5,slow=20]",
        "farm-sma[fast=10,slow=20]",
    }
    reasons = data.unfinished
    assert "soft time limit (3 s)" in reasons["farm-sleeper"]
    assert "MemoryError" in reasons["farm-hog"] and "600 MB" in reasons["farm-hog"]
    assert "farm-raiser always raises" in reasons["farm-raiser"]
    assert (
        "died 2 times" in reasons["farm-suicide"]
        and "BTFARM_TASK_MAX_RETRIES=1" in reasons["farm-suicide"]
    )
    assert "TimeLimitExceeded" in reasons["farm-stubborn"]  # the hard limit (6 s) killed it
    assert len([p.strategy_name for p in progress]) == 8
    report = Walker.get_report(SYMBOL, "farm-faults")
    section = report.split("## Did not finish")[1].split("## PnL")[0]
    for name in farm_strategies.FAULTS:
        assert f"| {name} |" in section
    assert "died 2 times" in section and "MemoryError" in section
    worker.wait_ready(configure())  # and the worker still serves

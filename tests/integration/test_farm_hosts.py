"""The farm over hosts, not processes (issue 14.3): two worker hosts, each a network
namespace with one veth link to the hub (this test's own namespace, where the
redis-server and the orchestrator run), reaching Redis only over that link.

- a sweep over the hosts equals the in-process one;
- a host partitioned mid-sweep (its link down) has its chunk redone on the other
  host; once its link is back, its late results are dropped; every variant once;
- a worker whose wall clock is 30 s slow (libfaketime) works and is counted:
  heartbeats expire in Redis' clock, stall checks run on the orchestrator's
  monotonic clock, leases are Redis TTLs;
- namespaces left by a test process killed before its cleanup are removed by the next
  one's, those of live processes kept.

Needs root for the namespaces (CI runs as root); skipped, with the reason, only
where they cannot be made.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from btfarm.orchestrator import Walker
from btfarm.shared.store import keys, worker_registry
from btfarm.workers.app import configure
from tests.support import faulted_fixtures, netns
from tests.support.celery_workers import CeleryWorker
from tests.support.faulted_sweep import (
    SWEEP,
    SYMBOL,
    assert_complete_and_equal,
    executions,
    point_at,
    stop_workers,
    stored_results,
)
from tests.support.faults import skewed_clock
from tests.support.host_workers import hub_redis, made_hosts, workers_on
from tests.support.netns import Host, Hosts
from tests.support.processes import wait_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]
PASSWORD = "hosts-suite-s3cret"
CHUNK = 3  # 8 chunks of ~1.8 s: a partition lands inside one
CLOCK_SKEW_SECONDS = -30


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    yield from made_hosts(2)


@pytest.fixture
def server(hosts) -> Iterator[RedisServer]:
    with hub_redis(hosts, PASSWORD) as srv:
        yield srv


@pytest.fixture
def url(server, monkeypatch, tmp_path) -> Iterator[str]:
    yield from point_at(
        server.url, monkeypatch, tmp_path, idle_timeout=60
    )  # the orchestrator is on the hub


def skewed_clock_or_skip(seconds: int) -> dict[str, str]:
    """The skewed clock's environment; without libfaketime the test is skipped with the reason,
    except under CI (CI=true), where .ci/run installs it and a missing one is a failure."""
    try:
        return skewed_clock(seconds)
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            raise
        pytest.skip(str(exc))


reference = faulted_fixtures.reference


def ran_on(server: RedisServer, run_id: str) -> dict[str, str]:
    """Variant -> the Celery node whose copy was collected."""
    return {
        name: record["worker"].rsplit(":", 1)[0]
        for name, record in stored_results(server, run_id).items()
    }


def active_on(app, worker: CeleryWorker) -> list | None:
    """The tasks ``worker`` runs now, or None when it does not answer."""
    reply = app.control.inspect(destination=[worker.name], timeout=0.5).active()
    return None if reply is None else reply.get(worker.name)


def swept(workers: list[CeleryWorker], reference: dict[str, dict]):
    """The sweep run over ``workers`` (stopped after it), checked equal to the reference."""
    try:
        progress = list(Walker.run(SYMBOL, SWEEP, chunk_size=CHUNK))
    finally:
        stop_workers(workers)
    data = Walker.get_data(SYMBOL, SWEEP)
    assert len(progress) == 24
    assert_complete_and_equal(data, reference)
    return data


def test_a_sweep_over_two_hosts_equals_the_in_process_one(hosts, url, server, reference, tmp_path):
    workers = workers_on(hosts, server, tmp_path / "workers")
    data = swept(workers, reference)
    assert set(ran_on(server, data.run_id).values()) == {
        w.name for w in workers
    }  # both hosts worked


def test_a_host_partitioned_mid_sweep_is_redone_elsewhere_and_its_late_results_dropped(
    hosts, url, server, reference, tmp_path
):
    workers = workers_on(hosts, server, tmp_path / "workers")
    cut_off, other = workers
    host: Host = hosts.hosts[0]
    app = configure()
    try:
        Walker.background(SYMBOL, SWEEP, chunk_size=CHUNK)
        inst = Walker.instance(SYMBOL, SWEEP)
        running = wait_for(lambda: active_on(app, cut_off), 30, "a chunk running on host 1")
        hosts.partition(host)
        try:
            assert Walker.wait(SYMBOL, SWEEP, timeout=90), "the sweep did not end without host 1"
            assert inst.task.error is None, repr(inst.task.error)
            data = Walker.get_data(SYMBOL, SWEEP)
            names = [p.strategy_name for p in inst.task.follow()]
            assert len(names) == len(set(names)) == 24  # each variant reported once
            assert_complete_and_equal(data, reference)
            runs = executions(server, data.run_id)
            redone = sorted(n for n, count in runs.items() if count > 1)
            assert redone, f"nothing of host 1's chunk {running[0]['id']} ran again: {runs}"
            collected_from = ran_on(server, data.run_id)
            assert {collected_from[n] for n in redone} == {other.name}  # redone on host 2
        finally:
            hosts.heal(host)
        # host 1 comes back, finishes what it was running, and its copy goes nowhere
        wait_for(lambda: active_on(app, cut_off) == [], 90, "host 1 back and idle")
        client = server.client()
        try:
            assert client.llen(keys.walker_inbox(data.run_id)) == 0  # late results dropped
        finally:
            client.close()
        assert ran_on(server, data.run_id) == collected_from  # nothing stored changed
        assert Walker.get_data(SYMBOL, SWEEP).strategies_tested == 24
    finally:
        stop_workers(workers)


def test_a_worker_whose_clock_is_30_s_slow_is_counted_and_works(
    hosts, url, server, reference, tmp_path
):
    workers = workers_on(
        hosts, server, tmp_path / "workers", env_of_first=skewed_clock_or_skip(CLOCK_SKEW_SECONDS)
    )
    skewed = workers[0]
    client = server.client()
    try:  # its heartbeat holds in Redis' clock (on the host's own, it was born expired)
        names = {w.name for w in workers}
        wait_for(
            lambda: set(worker_registry.live_slots(client)) == names,
            15,
            f"both workers counted live ({worker_registry.live_slots(client)})",
        )
    except BaseException:
        stop_workers(workers)
        raise
    finally:
        client.close()
    data = swept(workers, reference)
    assert skewed.name in set(ran_on(server, data.run_id).values())


def namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split(" ", 1)[0] for line in listed.stdout.splitlines()}


def test_namespaces_of_a_killed_test_process_are_removed_and_live_ones_kept(hosts):
    gone = subprocess.Popen(["true"])  # a PID no process holds once it is reaped
    gone.wait()
    left = f"{netns.PREFIX}{gone.pid}w1"
    subprocess.run(["ip", "netns", "add", left], check=True)
    try:
        assert left in namespaces()
        assert left in netns.remove_stale()
        assert left not in namespaces()
        assert {h.namespace for h in hosts.hosts} <= namespaces()  # this live process' own kept
    finally:
        subprocess.run(["ip", "netns", "del", left], capture_output=True)

"""A farm sweep with no worker left, or none at all (issues 29.5 and 34.2): it says so
within seconds and ends as interrupted after ``BTFARM_WORKER_WAIT_SECONDS``, naming the
reason and the resume command, instead of waiting out its idle timeout in silence.

Real processes: a redis-server for the state store and one for the broker (so a full
broker stops the workers and nothing else), ``celery worker`` subprocesses, the walker
in this process or as ``btfarm walker``. The idle timeout is 600 s throughout, so a
sweep that merely waited would fail every test here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from btfarm.orchestrator import Walker
from btfarm.shared.store import keys
from btfarm.workers.app import SCHEDULE_QUEUE, TASK_QUEUE, configure
from tests.support import faulted_fixtures
from tests.support.celery_workers import REPO, TEST_IMPORTS, CeleryWorker, farm_env
from tests.support.faulted_sweep import (
    SWEEP,
    SYMBOL,
    assert_complete_and_equal,
    point_at,
    start_workers,
    stop_workers,
    sweep_under_way,
)
from tests.support.faults import WORKER_LOSSES, lose_every_worker
from tests.support.processes import wait_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
IDLE_TIMEOUT = 600  # what the old walker waited, silently
WAIT = 2  # BTFARM_WORKER_WAIT_SECONDS here
ENDED_WITHIN = 30  # seconds: heartbeats lapse (6 s), the wait (2 s), and a loaded machine's slack
CHUNK = (
    6  # 4 chunks: every one submitted at once (the window holds 4), so no publish after the loss
)
RESUME = f"btfarm walker resume {{run_id}} --import {TEST_IMPORTS}"


@pytest.fixture
def servers() -> Iterator[tuple[RedisServer, RedisServer]]:
    """(state store and results, broker)."""
    with RedisServer() as state, RedisServer() as broker:
        yield state, broker


@pytest.fixture
def url(servers, monkeypatch, tmp_path) -> Iterator[str]:
    state, broker = servers
    yield from point_at(
        state.url,
        monkeypatch,
        tmp_path,
        idle_timeout=IDLE_TIMEOUT,
        BTFARM_BROKER_URL=broker.url,
        BTFARM_WORKER_WAIT_SECONDS=str(WAIT),
    )


def farm(url: str, broker: RedisServer, logdir: Path) -> list[CeleryWorker]:
    return start_workers(url, logdir, BTFARM_BROKER_URL=broker.url)


reference = faulted_fixtures.reference


@pytest.mark.parametrize("how", WORKER_LOSSES)
def test_a_sweep_whose_workers_all_died_ends_interrupted_in_seconds_and_resume_finishes_it(
    url, servers, reference, tmp_path, how
):
    state, broker = servers
    workers = farm(url, broker, tmp_path / "workers")
    try:
        inst = sweep_under_way(chunk_size=CHUNK)
        lost = time.monotonic()
        lose_every_worker(workers, how, broker)
        if how == "broker-full":
            for w in workers:
                log = w.log()  # Celery: "Unrecoverable error: [server:]OutOfMemoryError"
                assert "Unrecoverable error:" in log and "OutOfMemoryError" in log, log[-1500:]
        assert Walker.wait(SYMBOL, SWEEP, timeout=ENDED_WITHIN), (
            "the walker kept waiting for workers that are gone"
        )
        assert time.monotonic() - lost < ENDED_WITHIN
        assert inst.task.error is None, repr(inst.task.error)
        data = Walker.get_data(SYMBOL, SWEEP)
        run_id = data.run_id
        assert (
            data.interrupted and 0 < data.strategies_tested < 24 and inst.outcome == "interrupted"
        )
        missing = [why for why in data.unfinished.values() if why.startswith("no worker")]
        assert missing, data.unfinished
        reason = missing[0]
        assert (
            f"no worker is alive on {broker.url}: start `btfarm worker --import {TEST_IMPORTS}`"
            in reason
        )
        assert f"none came within {WAIT} s (BTFARM_WORKER_WAIT_SECONDS)" in reason
        assert RESUME.format(run_id=run_id) in reason
        client = state.client()
        try:
            assert client.hget(keys.walker_run(run_id), "state") == "interrupted"
            assert client.get(keys.walker_lease(run_id)) is None
        finally:
            client.close()
        queue = broker.client()
        try:  # nothing of the sweep left queued for a worker started later
            assert not [m for m in queue.lrange(TASK_QUEUE, 0, -1) if run_id in m]
        finally:
            queue.close()
    finally:
        stop_workers(workers)

    workers = farm(url, broker, tmp_path / "workers-again")
    try:
        progress = list(Walker.resume(run_id))
    finally:
        stop_workers(workers)
    assert len(progress) == 24
    assert_complete_and_equal(Walker.get_data(SYMBOL, SWEEP), reference)


def _walker_cli(url: str, broker: RedisServer, tmp_path: Path, wait: int) -> subprocess.Popen:
    err = open(tmp_path / "walker.err", "wb")  # noqa: SIM115 (closed by the caller's process end)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            TEST_IMPORTS,
            SWEEP,
            "--symbol",
            SYMBOL,
            "--no-dump",
        ],
        cwd=REPO,
        env=farm_env(
            url,
            BTFARM_BROKER_URL=broker.url,
            BTFARM_DUMP_DIR=str(tmp_path),
            BTFARM_WORKER_WAIT_SECONDS=str(wait),
            BTFARM_SWEEP_IDLE_TIMEOUT=str(IDLE_TIMEOUT),
            COLUMNS="200",
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
        start_new_session=True,
    )


def _said_while_running(walker: subprocess.Popen, path: Path, text: str, timeout: float) -> str:
    """The walker's stderr once it holds ``text``, which must come while the walker still runs."""

    def said():
        seen = path.read_text(errors="replace")
        if text in seen:
            return seen
        assert walker.poll() is None, f"the walker ended without saying {text!r}:\n{seen}"
        return None

    return wait_for(said, timeout, f"the walker to say {text!r}")


def _ended(walker: subprocess.Popen) -> int:
    try:
        return walker.wait(timeout=ENDED_WITHIN)
    except subprocess.TimeoutExpired:
        walker.kill()
        walker.wait()
        raise AssertionError("btfarm walker kept waiting with no worker") from None


@pytest.mark.parametrize("bystander", [False, True], ids=["alone", "beside-a-schedule-worker"])
def test_btfarm_walker_with_no_worker_says_so_at_once_and_exits_non_zero(
    url, servers, tmp_path, bystander
):
    state, broker = servers
    wait = 8  # long enough to see the warning come first
    others = []
    if (
        bystander
    ):  # `btfarm beat`'s own worker takes scheduled runs, never a chunk: no sweep's worker
        schedule = CeleryWorker(state.url, tmp_path / "workers", BTFARM_BROKER_URL=broker.url)
        schedule.args[schedule.args.index("-Q") + 1] = SCHEDULE_QUEUE
        others.append(schedule.start())
        schedule.wait_ready(configure())
    walker = _walker_cli(state.url, broker, tmp_path, wait)
    try:
        started = time.monotonic()
        said = _said_while_running(
            walker,
            tmp_path / "walker.err",
            f"no worker is alive on {broker.url}: start `btfarm worker --import {TEST_IMPORTS}`",
            wait,
        )
        assert "the sweep waits 8 s for one: BTFARM_WORKER_WAIT_SECONDS" in said
        code = _ended(walker)
    finally:
        if walker.poll() is None:
            walker.kill()
            walker.wait()
        for other in others:
            other.stop()
    assert time.monotonic() - started < ENDED_WITHIN
    err = (tmp_path / "walker.err").read_text(errors="replace")
    run_id = err.split("sweep ", 1)[1].split()[0]
    assert code != 0, err
    assert "none came within 8 s (BTFARM_WORKER_WAIT_SECONDS)" in err
    assert f"sweep {run_id} is incomplete; finish it with: {RESUME.format(run_id=run_id)}" in err


def test_btfarm_walker_shows_why_the_workers_died_importing(url, servers, tmp_path):
    state, broker = servers
    broken = CeleryWorker(
        state.url,
        tmp_path / "workers",
        BTFARM_BROKER_URL=broker.url,
        BTFARM_IMPORTS=f"{TEST_IMPORTS},no_such_strategies_module",
    )
    broken.start()
    try:
        assert broken.process.wait(timeout=60) != 0  # it cannot import the user's modules
    finally:
        broken.stop()
    walker = _walker_cli(state.url, broker, tmp_path, WAIT)
    try:
        said = _said_while_running(
            walker,
            tmp_path / "walker.err",
            f"the last worker to start, {broken.name}, exited",
            ENDED_WITHIN,
        )
        code = _ended(walker)
    finally:
        if walker.poll() is None:
            walker.kill()
            walker.wait()
    line = next(x for x in said.splitlines() if "the last worker to start" in x)
    assert "no_such_strategies_module" in line and f"no worker is alive on {broker.url}" in line
    assert code != 0

"""A sweep against the limits of its Redis (issue 14.2), with real workers:

- chunks go out a window at a time while results come in, so the broker's queue
  never holds the whole sweep;
- a Redis that reaches ``maxmemory`` mid-sweep ends it with one clear message and
  the resume command and withdraws what it queued; once memory is raised (and any
  worker Celery stopped is started again), the resume finishes it equal to an
  uninterrupted run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from btfarm.orchestrator import Walker
from btfarm.orchestrator.sweeps.submit_window import MIN_WINDOW, WINDOW_PER_SLOT
from btfarm.shared.errors import StoreFull
from btfarm.shared.store import keys
from btfarm.workers.app import TASK_QUEUE
from tests.support import faulted_fixtures
from tests.support.faulted_sweep import (
    CHUNK,
    SWEEP,
    SYMBOL,
    assert_complete_and_equal,
    start_workers,
    stop_workers,
    sweep_under_way,
)
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


url, workers, reference = faulted_fixtures.url, faulted_fixtures.workers, faulted_fixtures.reference


def test_chunks_go_out_a_window_at_a_time_while_results_come_in(url, workers, server, reference):
    client = server.client()
    deepest = [0]
    done = threading.Event()

    def watch_queue() -> None:
        while not done.is_set():
            deepest[0] = max(deepest[0], client.llen(TASK_QUEUE))
            done.wait(0.01)

    watcher = threading.Thread(target=watch_queue, daemon=True)
    watcher.start()
    try:
        progress = list(
            Walker.run(SYMBOL, SWEEP, chunk_size=CHUNK)
        )  # 12 chunks for 2 pool processes
    finally:
        done.set()
        watcher.join(5)
        client.close()
    assert len(progress) == 24
    assert_complete_and_equal(Walker.get_data(SYMBOL, SWEEP), reference)
    window = max(MIN_WINDOW, WINDOW_PER_SLOT * len(workers))
    assert 0 < deepest[0] <= window < 12  # never the whole sweep queued (all 12 before the window)


def test_a_redis_out_of_memory_mid_sweep_is_one_clear_error_and_resume_finishes(
    url, workers, server, reference, tmp_path
):
    inst = sweep_under_way()
    client = server.client()
    try:
        client.config_set(
            "maxmemory", "1mb"
        )  # below what it holds: every write is refused (noeviction)
        assert Walker.wait(SYMBOL, SWEEP, timeout=60), "the sweep did not end"
        error = inst.task.error
        assert isinstance(error, StoreFull), repr(error)
        run_id = inst.data.run_id
        message = str(error)
        assert "out of memory" in message and "maxmemory" in message
        assert f"btfarm walker resume {run_id}" in message and "have no result" in message
        queued = [m for m in client.lrange(TASK_QUEUE, 0, -1) if run_id in m]
        assert queued == []  # nothing it queued is left behind
        assert client.get(keys.walker_lease(run_id)) is None  # its running chunks stop

        client.config_set("maxmemory", "0")
        # Celery's own ack fails on a full Redis and a worker may exit ("Unrecoverable error:
        # OutOfMemoryError"); its supervisor starts it again, as here
        stop_workers(workers)
        workers[:] = start_workers(url, tmp_path / "workers-again")
        progress = list(Walker.resume(run_id))
    finally:
        client.close()
    data = Walker.get_data(SYMBOL, SWEEP)
    assert progress and data.run_id == run_id
    assert_complete_and_equal(data, reference)

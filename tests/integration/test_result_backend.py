"""workers/result_backend.py against a real Redis: submitting a chunk subscribes
to nothing, one backend serves every thread, and waiting on a result still works."""

from __future__ import annotations

import threading

import pytest

from btfarm.orchestrator.sweeps import fanout
from btfarm.shared.payloads import Variant
from btfarm.shared.settings import get_settings
from btfarm.workers import app
from btfarm.workers.app import configure
from btfarm.workers.result_backend import FarmRedisBackend

pytestmark = pytest.mark.integration


@pytest.fixture
def farm_app(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    yield configure()


def test_sweeps_submitting_from_threads_of_their_own_open_no_connection_each(
    farm_app, redis_client
):
    chunks = fanout.make_chunks(
        "rb-run",
        "w",
        "BTCUSDT",
        "m",
        "f",
        [Variant(strategy_name=f"v{i}", base="b") for i in range(4)],
        2,
    )

    def submit_from_a_new_thread() -> None:  # as each sweep does, from its own producer thread
        thread = threading.Thread(target=fanout.submit, args=(farm_app, chunks))
        thread.start()
        thread.join()

    submit_from_a_new_thread()
    connections = len(redis_client.client_list())
    redis_client.config_resetstat()
    for _ in range(5):
        submit_from_a_new_thread()
    assert redis_client.llen("btfarm") == 12  # every chunk queued for a worker
    # Celery's own backend: one per thread, each with a pub/sub connection for its results
    assert len(redis_client.client_list()) == connections
    # and a SUBSCRIBE per task (then an UNSUBSCRIBE when its AsyncResult is collected)
    assert "cmdstat_subscribe" not in redis_client.info("commandstats")


def test_every_thread_shares_one_backend_and_a_waiter_still_gets_the_result(farm_app):
    seen = []
    other = threading.Thread(target=lambda: seen.append(farm_app.backend))
    other.start()
    other.join()
    assert isinstance(farm_app.backend, FarmRedisBackend) and seen == [farm_app.backend]

    waiter = farm_app.AsyncResult("rb-task")
    got = []
    reader = threading.Thread(target=lambda: got.append(waiter.get(timeout=20)))
    reader.start()
    app.backend.store_result("rb-task", {"variants": 3}, "SUCCESS")  # as a worker does
    reader.join(timeout=25)
    assert got == [{"variants": 3}]

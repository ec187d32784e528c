"""workers/result_backend.py stores a task state in one round trip against a real Redis, with
Celery's rules: the same value and expiry, the result channel published, a SUCCESS kept."""

from __future__ import annotations

import json
import threading

import pytest
from celery.backends.base import compress_payload
from celery.backends.redis import RedisBackend

from btfarm.shared.settings import get_settings
from btfarm.workers.app import configure

pytestmark = pytest.mark.integration


@pytest.fixture
def farm_app(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    yield configure()


def reads(r) -> int:
    return int(r.info("stats")["total_reads_processed"])


def test_a_state_is_stored_in_one_round_trip_as_celery_stores_it(farm_app, redis_client):
    backend = farm_app.backend
    backend.store_result("warm", None, "STARTED")  # (the script loaded, the connection made)
    before = reads(redis_client)
    backend.store_result("one-trip", {"ran": [1, 2]}, "STARTED")
    assert reads(redis_client) - before == 2  # the store, and this INFO
    ours = json.loads(redis_client.get("celery-task-meta-one-trip"))
    assert 0 < redis_client.ttl("celery-task-meta-one-trip") <= backend.expires
    # Celery's own backend, on the same app, writes the same record
    RedisBackend._store_result(backend, "celerys", {"ran": [1, 2]}, "STARTED")
    theirs = json.loads(redis_client.get("celery-task-meta-celerys"))
    assert {**ours, "task_id": "x", "date_done": None} == {
        **theirs,
        "task_id": "x",
        "date_done": None,
    }
    assert backend.get_task_meta("one-trip")["status"] == "STARTED"


def test_a_succeeded_task_keeps_its_success_and_a_waiter_hears_the_end(farm_app, redis_client):
    backend = farm_app.backend
    waiter = farm_app.AsyncResult("kept")
    got = []
    reader = threading.Thread(target=lambda: got.append(waiter.get(timeout=20)))
    reader.start()
    backend.store_result("kept", {"variants": 3}, "SUCCESS")  # published: the waiter wakes
    reader.join(timeout=25)
    assert got == [{"variants": 3}]
    backend.store_result("kept", None, "STARTED")  # a redelivered copy starting again
    backend.store_result("kept", "boom", "FAILURE")
    meta = json.loads(redis_client.get("celery-task-meta-kept"))
    assert meta["status"] == "SUCCESS" and meta["result"] == {"variants": 3}


def test_a_value_the_script_cannot_read_is_left_to_celery(farm_app, redis_client):
    backend = farm_app.backend
    succeeded = backend.encode({"status": "SUCCESS", "result": 1, "task_id": "odd"})
    # compressed as a backend with result_compression writes it: not JSON to the script
    redis_client.set("celery-task-meta-odd", compress_payload(succeeded, "zlib"))
    backend.store_result("odd", None, "STARTED")
    assert backend.get_task_meta("odd")["status"] == "SUCCESS"  # Celery read it, and kept it
    redis_client.set(
        "celery-task-meta-odd",
        compress_payload(
            backend.encode({"status": "STARTED", "result": None, "task_id": "odd"}), "zlib"
        ),
    )
    backend.store_result("odd", {"variants": 1}, "SUCCESS")
    meta = json.loads(redis_client.get("celery-task-meta-odd"))
    assert meta["status"] == "SUCCESS" and meta["result"] == {"variants": 1}

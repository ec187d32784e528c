"""orchestrator/sweeps/chunk_watch.py reads a chunk task's stored state as plain JSON.

Whatever can write to the result backend's Redis chooses what a task record says. Celery's
``AsyncResult`` rebuilds a FAILURE record's exception from the class it names (any loaded
exception class) and calls it with the record's message: the watch must only read text.
"""

from __future__ import annotations

import json

import pytest

from btfarm.orchestrator.sweeps import fanout
from btfarm.orchestrator.sweeps.chunk_watch import ChunkWatch
from btfarm.orchestrator.sweeps.pending import Pending
from btfarm.shared.payloads import Variant
from btfarm.shared.settings import get_settings
from btfarm.workers.app import configure

pytestmark = pytest.mark.integration

CALLED: list[object] = []  # what Trap was called with, by whoever rebuilt it


class Trap(Exception):
    """An exception class whose construction is seen: code run by decoding a record."""

    def __init__(self, *args: object) -> None:
        CALLED.append(args)
        super().__init__(*args)


@pytest.fixture
def app(redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    CALLED.clear()
    return configure()


def watched(app, redis_client, run_id: str) -> tuple[ChunkWatch, Pending, str]:
    vs = [Variant(strategy_name=f"v{i}", base="b", index=i) for i in range(2)]
    (chunk,) = fanout.make_chunks(run_id, "w", "BTCUSDT", "m", "f", vs, 2)
    tid = fanout.task_id(chunk, 0)
    return ChunkWatch(app, redis_client, [chunk], [tid]), Pending(2, "v{}".format), tid


def test_a_failure_record_is_read_as_text_and_runs_no_code(app, redis_client):
    watch, pending, tid = watched(app, redis_client, "watch-json")
    backend = app.backend
    backend.client.set(
        backend.get_key_for_task(tid),
        json.dumps(
            {
                "status": "FAILURE",
                "result": {
                    "exc_type": Trap.__qualname__,
                    "exc_module": Trap.__module__,  # loaded: Celery would find and call it
                    "exc_message": ["rm -rf /"],
                },
                "traceback": None,
                "task_id": tid,
            }
        ),
    )
    failed = watch.check(pending, ping=lambda host: True)
    assert CALLED == []  # nothing named by the record was called
    assert [r["strategy_name"] for r in failed] == ["v0", "v1"]
    assert {r["error"] for r in failed} == {f"task {tid} failed: Trap: rm -rf /"}
    assert watch.chunks == {}  # a failed chunk is not watched any more


def test_a_started_chunk_on_a_worker_that_does_not_answer_is_sent_again(app, redis_client):
    watch, pending, tid = watched(app, redis_client, "watch-started")
    app.backend.store_result(tid, {"hostname": "gone@nowhere", "pid": 1}, "STARTED")
    asked: list[str] = []
    assert watch.check(pending, ping=lambda host: asked.append(host) or False) == []
    assert asked == ["gone@nowhere"]
    assert list(watch.chunks) == [f"{tid}-r1"]  # resubmitted under a new task id


def test_an_unreadable_record_is_waited_on_not_decoded(app, redis_client):
    watch, pending, tid = watched(app, redis_client, "watch-junk")
    app.backend.client.set(app.backend.get_key_for_task(tid), b"\x80not json")
    assert watch.check(pending, ping=lambda host: False) == []
    assert list(watch.chunks) == [tid]  # still watched: nothing it can act on

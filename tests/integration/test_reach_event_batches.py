"""workers/event_batches.py against real workers: every chunk's task events (received,
started, succeeded: what Flower shows) still arrive, several to a PUBLISH."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
import redis

from btfarm.orchestrator.walker import Walker
from tests.farm_strategies import SYMBOL
from tests.support.celery_workers import use_farm
from tests.support.module_farm import module_farm

pytestmark = pytest.mark.integration

TASK_EVENTS = ("task-received", "task-started", "task-succeeded")


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[dict]:
    yield from module_farm(tmp_path_factory.mktemp("workers"))


@pytest.fixture
def farm_url(farm, monkeypatch, tmp_path) -> Iterator[str]:
    yield from use_farm(farm["url"], monkeypatch, tmp_path)


def events_of(message: dict) -> list[dict]:
    """The events one PUBLISH on Celery's event exchange carried (kombu's Redis envelope)."""
    envelope = json.loads(message["data"])
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    found = json.loads(body)
    return found if isinstance(found, list) else [found]


def test_every_chunk_s_task_events_arrive_several_to_a_publish(farm_url):
    listener = redis.Redis.from_url(farm_url).pubsub()
    listener.psubscribe("*celeryev*")
    assert listener.get_message(timeout=5)["type"] == "psubscribe"
    per_task: dict[str, Counter] = defaultdict(Counter)
    carried: list[int] = []  # task events per PUBLISH that carried any
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            message = listener.get_message(timeout=0.2)
            if message is None or message["type"] != "pmessage":
                continue
            tasks = [e for e in events_of(message) if e.get("type") in TASK_EVENTS]
            if tasks:
                carried.append(len(tasks))
            for event in tasks:
                per_task[event["uuid"]][event["type"]] += 1

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    progress = list(Walker.run(SYMBOL, "farm-sweep", chunk_size=1))  # 25 chunks
    assert len(progress) == 25
    chunk_tasks = lambda: [t for t in per_task if "-" in t]  # noqa: E731  (fanout.task_id)
    for _ in range(50):  # the last batch goes out within EVENT_BATCH_SECONDS
        if len(chunk_tasks()) == 25 and all(sum(per_task[t].values()) == 3 for t in chunk_tasks()):
            break
        done.wait(0.1)
    done.set()
    reader.join(timeout=5)
    listener.close()
    assert len(chunk_tasks()) == 25
    assert all(per_task[t] == dict.fromkeys(TASK_EVENTS, 1) for t in chunk_tasks())
    # 75 task events: one PUBLISH each before; batched, a PUBLISH carries several
    assert sum(carried) == 75 and len(carried) <= 75 // 2

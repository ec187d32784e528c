"""orchestrator/fanout.submit against a real Redis: what a chunk message carries."""

from __future__ import annotations

import json

import pytest

from btfarm.orchestrator.sweeps import fanout
from btfarm.shared.payloads import Variant
from btfarm.shared.settings import get_settings
from btfarm.workers.app import configure
from btfarm.workers.tasks import backtest_chunk

pytestmark = pytest.mark.integration


def test_a_chunk_message_leaves_the_time_limits_to_the_worker(
    redis_client, redis_server, monkeypatch
):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    app = configure()
    # the orchestrator's own copy of the task, with its limits (its settings at first use)
    assert backtest_chunk.soft_time_limit is not None and backtest_chunk.time_limit is not None
    chunks = fanout.make_chunks(
        "tl-run", "w", "BTCUSDT", "m", "f", [Variant(strategy_name="v", base="b")], 1
    )
    fanout.submit(app, chunks)
    (raw,) = redis_client.lrange("btfarm", 0, -1)
    # a worker started with BTFARM_TASK_SOFT_TIME_LIMIT=3 must stop the chunk after 3 s, not 600
    assert json.loads(raw)["headers"]["timelimit"] == [None, None]


def test_a_chunk_message_is_the_one_celery_would_publish(redis_client, redis_server, monkeypatch):
    """fanout.submit builds the message itself (one pipeline per window): a worker must not
    see a difference from Celery's own send_task, whatever the ids."""
    import base64

    from btfarm.workers.app import CHUNK_TASK, TASK_QUEUE

    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    app = configure()
    (chunk,) = fanout.make_chunks(
        "same-run", "w", "BTCUSDT", "m", "f", [Variant(strategy_name="v", base="b", index=0)], 1
    )
    fanout.submit(app, [chunk], ["ours"])
    kwargsrepr = f"walker=w symbol=BTCUSDT {fanout.variants_repr(chunk)}"
    app.send_task(
        CHUNK_TASK,
        kwargs=chunk.model_dump(mode="json"),
        task_id="celerys",
        queue=TASK_QUEUE,
        time_limit=None,
        soft_time_limit=None,
        kwargsrepr=kwargsrepr,
        argsrepr="()",
        shadow="walker w symbol BTCUSDT chunk 0",
    )
    celerys, ours = (
        json.loads(raw) for raw in redis_client.lrange(TASK_QUEUE, 0, -1)
    )  # LPUSH: newest first
    per_message = {"id", "root_id", "correlation_id", "delivery_tag", "reply_to", "origin"}

    def same(message: dict) -> dict:
        return {
            **{k: v for k, v in message.items() if k not in ("headers", "properties", "body")},
            "headers": {k: v for k, v in message["headers"].items() if k not in per_message},
            "properties": {
                k: v
                for k, v in message["properties"].items()
                if k not in per_message and k not in ("kwargsrepr", "argsrepr")
            },
            "body": json.loads(base64.b64decode(message["body"])),
        }

    assert same(ours) == same(celerys)
    assert ours["headers"]["id"] == ours["properties"]["correlation_id"] == "ours"


def test_a_chunk_task_goes_by_a_readable_name(redis_client, redis_server, monkeypatch):
    """Flower and the worker's log name a task by the message's ``shadow`` header when it has
    one: a chunk reads as its walker, symbol and chunk, not as btfarm.backtest_chunk."""
    from celery.worker.request import Request
    from kombu.transport.virtual import Message

    from btfarm.workers.app import TASK_QUEUE

    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    app = configure()
    chunks = fanout.make_chunks(
        "named-run",
        "w",
        "BTCUSDT",
        "m",
        "f",
        [Variant(strategy_name=f"v{i}", base="b", index=i) for i in range(4)],
        2,
    )
    fanout.submit(app, chunks)
    second, first = (json.loads(raw) for raw in redis_client.lrange(TASK_QUEUE, 0, -1))
    assert first["headers"]["shadow"] == "walker w symbol BTCUSDT chunk 0"
    assert second["headers"]["shadow"] == "walker w symbol BTCUSDT chunk 1"
    # the worker's request (whose name the task events carry) goes by it; the task run is still ours
    with app.connection_for_write() as conn:
        message = Message(first, channel=conn.default_channel)
        request = Request(message, app=app, task=app.tasks[first["headers"]["task"]])
    assert request.name == "walker w symbol BTCUSDT chunk 0"
    assert request.type == "btfarm.backtest_chunk"

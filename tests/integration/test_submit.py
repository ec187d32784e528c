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


def test_a_chunk_message_leaves_the_time_limits_to_the_worker(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    app = configure()
    # the orchestrator's own copy of the task, with its limits (its settings at first use)
    assert backtest_chunk.soft_time_limit is not None and backtest_chunk.time_limit is not None
    chunks = fanout.make_chunks("tl-run", "w", "BTCUSDT", "m", "f", [Variant(strategy_name="v", base="b")], 1)
    fanout.submit(app, chunks)
    (raw,) = redis_client.lrange("btfarm", 0, -1)
    # a worker started with BTFARM_TASK_SOFT_TIME_LIMIT=3 must stop the chunk after 3 s, not 600
    assert json.loads(raw)["headers"]["timelimit"] == [None, None]

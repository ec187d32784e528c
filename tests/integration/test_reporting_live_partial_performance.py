"""``Partial`` and ``Performance`` on ``Live``: the partial closes and the timed steps of a
live run of this process are in the persisted logs, and another process, a fresh Python
with only the Redis URL, reads the same figures.

The run is a replay of the reference data on a ``ManualClock`` (no real sleeps): the
"managed-partial" strategy of tests/support/live_replay.py closes half of each position
three minutes in; the state and the logs are on a real redis-server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from btfarm.orchestrator import (
    Live,
    Partial,
    Performance,
    listen_signal_live,
    listen_strategy_commit,
)
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared import events
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.schemas import to_ms, to_utc
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from tests.support import live_replay
from tests.support.live_replay import StopAt

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SYMBOL, STRATEGY = live_replay.SYMBOL, "managed-partial"
START_MS = to_ms(to_utc("2025-01-05T00:00:00Z"))
STOP_MS = START_MS + 10 * 60 * MINUTE_MS  # ten hours of replay

READER = """
import json, sys
from btfarm.orchestrator import Partial, Performance
symbol, strategy = sys.argv[1], sys.argv[2]
print(json.dumps({
    "partial": Partial.get_data(symbol, strategy, backtest=False).model_dump(mode="json"),
    "performance": Performance.get_data(symbol, strategy, backtest=False).model_dump(mode="json"),
}))
"""


@pytest.fixture
def live_run(redis_client, redis_server, monkeypatch):
    """A live run of ten hours with Partial and Performance enabled, and what the bus told
    a listener of this test meanwhile."""
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    events.clear()
    seen: dict[str, list] = {"signal": [], "commit": []}
    listen_signal_live(seen["signal"].append)
    listen_strategy_commit(seen["commit"].append)
    Partial.enable()
    Performance.enable()
    clock = StopAt(START_MS, STOP_MS, STRATEGY)
    live_replay.register(clock)
    try:
        for _ in Live.run(SYMBOL, STRATEGY, live_replay.EXCHANGE, clock=clock):
            pass
        yield seen, redis_server, redis_client
    finally:
        Partial.disable()
        Performance.disable()
        events.clear()
        reset_state()


def test_another_process_reads_the_partial_closes_and_the_timings_of_the_live_run(live_run):
    seen, server, client = live_run
    commits = [c for c in seen["commit"] if c["action"] in ("partial_profit", "partial_loss")]
    closed = [e for e in seen["signal"] if e.action == "closed"]
    assert len(commits) >= 5 and len(closed) >= 5  # the run did something

    partial = Partial.get_data(SYMBOL, STRATEGY, backtest=False)
    assert [
        (e.signal_id, e.timestamp, "partial_" + e.action, e.percent) for e in partial.events
    ] == [(c["signal_id"], c["timestamp"], c["action"], c["percent"]) for c in commits]
    assert partial.total_profit == sum(c["action"] == "partial_profit" for c in commits)
    assert partial.total_loss == len(commits) - partial.total_profit
    made = sorted(
        (p.timestamp, c.signal.id, p.type, p.current_price)
        for c in closed
        for p in c.signal.partials
    )
    assert (
        sorted(
            (e.timestamp, e.signal_id, e.action, e.current_price)
            for e in partial.events
            if e.signal_id in {c.signal.id for c in closed}
        )
        == made
    )
    assert not any(e.backtest for e in partial.events)

    performance = Performance.get_data(SYMBOL, STRATEGY, backtest=False)
    assert {m.metric_type for m in performance.metrics} == {"live_tick", "live_get_signal"}
    assert [m.total_duration for m in performance.metrics] == sorted(
        (m.total_duration for m in performance.metrics), reverse=True
    )
    log = keys.report_performance(SYMBOL, STRATEGY)
    assert (
        performance.total_events == client.llen(log) == keys.REPORT_LOG_MAX_ROWS
    )  # 600 ticks: capped
    ticks = next(m for m in performance.metrics if m.metric_type == "live_tick")
    assert ticks.count > 100 and ticks.min_wait_time is not None and ticks.min_duration > 0

    # nothing of the live run went into this process's backtest buffers
    assert Partial.get_data(SYMBOL, STRATEGY).total_events == 0
    assert Performance.get_data(SYMBOL, STRATEGY).metrics == []

    for key in (keys.report_partial(SYMBOL, STRATEGY), log):
        assert 0 < client.ttl(key) <= keys.REPORT_LOG_TTL_SECONDS
        assert all(isinstance(json.loads(raw), dict) for raw in client.lrange(key, 0, -1))

    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env["BTFARM_REDIS_URL"] = server.url
    done = subprocess.run(
        [sys.executable, "-c", READER, SYMBOL, STRATEGY],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    other = json.loads(done.stdout)
    assert other["partial"] == partial.model_dump(mode="json")
    assert other["performance"] == performance.model_dump(mode="json")

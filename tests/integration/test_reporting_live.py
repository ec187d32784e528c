"""The reporting classes on ``Live``: what a live run of this process saw (its limit entries,
its risk rejections, its closed trades) is in the persisted logs, and another process, a
fresh Python with only the Redis URL, reads the same figures.

The runs are replays of the reference data on a ``ManualClock`` (no real sleeps), with
the state and the logs on a real redis-server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from btfarm.orchestrator import (
    Heat,
    Live,
    Risk,
    Schedule,
    add_risk,
    add_strategy,
    get_average_price,
    listen_risk,
    listen_signal_live,
)
from btfarm.orchestrator.reporting.scheduled_entries import ScheduleUtils
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared import events
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.schemas import to_ms, to_utc
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from tests.support import live_replay
from tests.support.live_replay import StopAt

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SYMBOL = live_replay.SYMBOL
START_MS = to_ms(to_utc("2025-01-05T00:00:00Z"))
STOP_MS = START_MS + 10 * 60 * MINUTE_MS  # ten hours of replay


def limit_below(symbol: str, when: datetime) -> dict:
    price = get_average_price(symbol)
    return {
        "position": "long",
        "price_open": price * 0.998,
        "price_take_profit": price * 1.01,
        "price_stop_loss": price * 0.99,
        "minute_estimated_time": 60,
        "note": "limit",
    }


def no_shorts(payload: dict) -> None:
    if payload["signal"]["position"] == "short":
        raise ValueError("no shorts live")


READER = """
import json, sys
from btfarm.orchestrator import Heat, Risk, Schedule
symbol, exchange = sys.argv[1], sys.argv[2]
print(json.dumps({
    "schedule": Schedule.get_data(symbol, "limit-live", backtest=False).model_dump(mode="json"),
    "risk": Risk.get_data(symbol, "sma-no-shorts", backtest=False).model_dump(mode="json"),
    "heat": Heat.get_data("limit-live", exchange, backtest=False).model_dump(mode="json"),
}))
"""


@pytest.fixture
def live_runs(redis_client, redis_server, monkeypatch):
    """Two live runs over the same ten hours, the reporting classes enabled, and what the
    bus told a listener of this test meanwhile."""
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    events.clear()
    seen: dict[str, list] = {"signal": [], "risk": []}
    listen_signal_live(seen["signal"].append)
    listen_risk(seen["risk"].append)
    for reporting in (Risk, Schedule, Heat):
        reporting.enable()
    add_risk(risk_name="no-shorts-live", validations=[no_shorts], override=True)
    for strategy in ("limit-live", "sma-no-shorts"):
        clock = StopAt(START_MS, STOP_MS, strategy)
        live_replay.register(clock)  # the replay exchange on this run's clock
        add_strategy(
            strategy_name="limit-live", interval="15m", get_signal=limit_below, override=True
        )
        add_strategy(
            strategy_name="sma-no-shorts",
            interval="5m",
            get_signal=sma_cross_signal,
            params={"fast": 10, "slow": 30},
            risk_name="no-shorts-live",
            override=True,
        )
        for _ in Live.run(SYMBOL, strategy, live_replay.EXCHANGE, clock=clock):
            pass
    yield seen, redis_server, redis_client
    for reporting in (Risk, Schedule, Heat):
        reporting.disable()
    events.clear()
    reset_state()


def test_another_process_reads_what_the_live_runs_saw(live_runs):
    seen, server, client = live_runs
    limit = [e for e in seen["signal"] if e.strategy_name == "limit-live"]
    waited = {
        e.signal.id
        for e in limit
        if e.action == "opened" and e.signal.pending_at != e.signal.scheduled_at
    }
    scheduled = [e.signal.id for e in limit if e.action == "scheduled"]
    expected_actions = [
        (e.action, e.signal.id)
        for e in limit
        if e.action in ("scheduled", "cancelled")
        or (e.action == "opened" and (e.signal.id in waited or e.signal.id in scheduled))
    ]
    closed = [e for e in limit if e.action == "closed"]
    rejections = [r for r in seen["risk"] if r["strategy_name"] == "sma-no-shorts"]
    assert (
        len(scheduled) >= 5 and len(closed) >= 3 and len(rejections) >= 3
    )  # the runs did something

    schedule = Schedule.get_data(SYMBOL, "limit-live", backtest=False)
    assert [(e.action, e.signal_id) for e in schedule.events] == expected_actions
    assert schedule.total_scheduled == len(scheduled) and not any(
        e.backtest for e in schedule.events
    )
    risk = Risk.get_data(SYMBOL, "sma-no-shorts", backtest=False)
    assert [e.timestamp for e in risk.events] == [r["timestamp"] for r in rejections]
    assert risk.by_strategy == {"sma-no-shorts": len(rejections)}
    assert all("no shorts live" in e.rejection_note for e in risk.events)
    heat = Heat.get_data("limit-live", live_replay.EXCHANGE, backtest=False)
    assert heat.total_symbols == 1 and heat.symbols[0].total_trades == len(closed)
    assert heat.symbols[0].total_pnl == pytest.approx(sum(c.pnl.pnl_percentage for c in closed))

    # nothing of the live runs went into this process's backtest buffers
    assert Risk.get_data(SYMBOL, "sma-no-shorts").total_rejections == 0
    assert Schedule.get_data(SYMBOL, "limit-live").total_events == 0

    # the logs: JSON, capped, expiring
    for key in (
        keys.report_schedule(SYMBOL, "limit-live"),
        keys.report_risk(SYMBOL, "sma-no-shorts"),
        keys.report_heat("limit-live", SYMBOL),
    ):
        assert 0 < client.llen(key) <= keys.REPORT_LOG_MAX_ROWS
        assert 0 < client.ttl(key) <= keys.REPORT_LOG_TTL_SECONDS
        assert all(isinstance(json.loads(raw), dict) for raw in client.lrange(key, 0, -1))

    fresh = ScheduleUtils()  # a buffer that never listened reads the log too
    assert fresh.get_data(SYMBOL, "limit-live", backtest=False) == schedule

    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env["BTFARM_REDIS_URL"] = server.url
    done = subprocess.run(
        [sys.executable, "-c", READER, SYMBOL, live_replay.EXCHANGE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    other = json.loads(done.stdout)
    assert other["schedule"] == schedule.model_dump(mode="json")
    assert other["risk"] == risk.model_dump(mode="json")
    assert other["heat"] == heat.model_dump(mode="json")

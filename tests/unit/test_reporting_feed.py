"""orchestrator/reporting/feed.py and live_log.py: a backtest buffer holds the latest run
of its key, the newest rows; the live logs keep the newest REPORT_LOG_MAX_ROWS records with
a TTL, and a second client reads what the first wrote."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from btfarm.orchestrator.reporting import live_log
from btfarm.orchestrator.reporting.feed import Listening, RunBuffer, RunBuffers, check_backtest
from btfarm.orchestrator.reporting.risk_rejections import RiskEvent
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared import events
from btfarm.shared.errors import StoreUnavailable, UsageError
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys

pytestmark = pytest.mark.unit


def test_a_buffer_holds_the_latest_run_only():
    buffer = RunBuffer(cap=None)
    buffer.add(1)
    buffer.add(2)
    buffer.end_run()
    assert list(buffer.rows) == [1, 2]  # read after its run: still there
    buffer.add(3)  # the next run's first event
    assert list(buffer.rows) == [3]
    buffer.end_run()
    buffer.end_run()  # a run with no event at all
    assert list(buffer.rows) == []


def test_a_capped_buffer_keeps_the_newest_rows():
    buffers = RunBuffers(cap=3)
    for i in range(5):
        buffers.add(("S", "x"), i)
    assert buffers.rows(("S", "x")) == [2, 3, 4]
    assert buffers.rows(("S", "y")) == []
    buffers.clear()
    assert buffers.keys() == []


def test_backtest_must_be_a_bool():
    assert check_backtest(False, "X.get_data") is False
    with pytest.raises(UsageError, match=r"X.get_data: backtest must be True .* got 1"):
        check_backtest(1, "X.get_data")


def test_enable_twice_listens_once_and_recovers_from_a_cleared_bus():
    heard = []
    listening = Listening("Probe", [("walker_start", heard.append)])
    listening.start()
    listening.start()
    events.emit("walker_start", 1)
    assert heard == [1]
    events.clear("walker_start")  # what tests and shutdown do
    listening.start()
    events.emit("walker_start", 2)
    assert heard == [1, 2]
    listening.stop()
    events.emit("walker_start", 3)
    assert heard == [1, 2] and not listening.active


@pytest.fixture
def store(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    yield redis_client
    reset_state()


def rejection(i: int) -> RiskEvent:
    return RiskEvent(
        timestamp=i,
        symbol="S",
        strategy_name="x",
        exchange_name="e",
        risk_name="r",
        rejection_note=f"no {i}",
        backtest=False,
    )


def test_a_live_log_keeps_the_newest_records_for_a_month(store):
    key = keys.report_risk("S", "x")
    for i in range(keys.REPORT_LOG_MAX_ROWS + 7):
        live_log.append(key, rejection(i))
    assert store.llen(key) == keys.REPORT_LOG_MAX_ROWS
    assert 0 < store.ttl(key) <= keys.REPORT_LOG_TTL_SECONDS
    read = live_log.read(key, RiskEvent)
    assert [r.timestamp for r in read] == list(range(7, keys.REPORT_LOG_MAX_ROWS + 7))
    assert read[-1] == rejection(keys.REPORT_LOG_MAX_ROWS + 6)


def test_another_client_reads_the_same_json_and_a_bad_entry_is_skipped(store, redis_server):
    key = keys.report_risk("S", "x")
    live_log.append(key, rejection(1), index=(keys.report_heat_symbols("x"), "S"))
    other = redis_server.client()  # another connection, as another process has
    raw = other.lrange(key, 0, -1)
    assert len(raw) == 1 and RiskEvent.model_validate_json(raw[0]) == rejection(1)
    assert other.smembers(keys.report_heat_symbols("x")) in ({"S"}, {b"S"})
    other.rpush(key, "not json", '{"timestamp": "soon"}')
    live_log.append(key, rejection(2))
    assert [r.timestamp for r in live_log.read(key, RiskEvent)] == [1, 2]
    other.close()


def unreachable():
    raise StoreUnavailable(
        "Redis at redis://127.0.0.1:1/0 did not answer"
    )  # what state() raises then


@pytest.mark.parametrize("client", ["gone mid-run", "never reached"])
def test_a_failed_write_is_logged_not_raised(monkeypatch, caplog, client):
    gone = redis.Redis(
        host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0)
    )  # nothing listens there
    monkeypatch.setattr(
        live_log, "state", (lambda: gone) if client == "gone mid-run" else unreachable
    )
    live_log.append(keys.report_risk("S", "x"), rejection(1))
    assert "could not append to the report log btfarm:report:risk:S:x" in caplog.text

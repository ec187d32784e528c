"""A backtest walks before the embedded state store is up (orchestrator/state_client.py's
``write_when_connected``): the run's start (stop flag cleared, status "running") is written
once the store answers, before the run polls the stop flag, and a run that ended first still
records its end. The store "still starting" is state_client's lock held by the test: nobody
can connect until it lets go."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from btfarm.orchestrator import Backtest, add_strategy, state_client
from btfarm.shared import events
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys, stop_flags
from btfarm.shared.store.connection import connect
from tests.support import reporting_markets as markets

pytestmark = pytest.mark.unit

SYMBOL = "PLAINUSDT"  # reporting_markets' flat market at 100: a long with TP 103 / SL 97 expires
WAIT = 30  # seconds: a bound for a stuck test, never a pause


def start(call, *args) -> None:
    """``call(*args)`` on a thread: were the run to wait for the store in the caller (as it
    did), the test holding the store's lock would see it fail, not hang."""
    threading.Thread(target=call, args=args, daemon=True).start()


def hourly_long(symbol: str, when: datetime) -> dict | None:
    if when.minute:
        return None
    return {
        "position": "long",
        "price_take_profit": 103.0,
        "price_stop_loss": 97.0,
        "minute_estimated_time": 30,
    }


@pytest.fixture
def market():
    state_client.reset_state()  # no client yet: the embedded store of this test's state folder
    markets.register()
    add_strategy(strategy_name="hourly-long", interval="1m", get_signal=hourly_long, override=True)
    yield
    state_client.reset_state()


def test_the_walk_ends_before_the_store_is_up_and_its_status_is_recorded_once_it_is(market):
    walked = threading.Event()
    unsubscribe = events.subscribe("done.backtest", lambda payload: walked.set())
    try:
        with state_client._lock:  # the store is still starting
            start(Backtest.background, SYMBOL, "hourly-long", markets.EXCHANGE, markets.FRAME)
            assert walked.wait(WAIT), "the walk waited for the state store"
            inst = Backtest.instance(SYMBOL, "hourly-long")
            assert not inst.started.done()  # its start is not written yet
            assert inst.task is not None and not inst.task.finished  # its end waits for it
            assert len(inst.data.closed) == 24  # one long an hour, each expired
        assert Backtest.wait(SYMBOL, "hourly-long", timeout=WAIT)
    finally:
        unsubscribe()
    assert inst.started.done() and inst.started.exception() is None
    (row,) = [r for r in Backtest.list() if r["name"] == "hourly-long"]
    assert (row["status"], row["progress"], row["outcome"]) == ("done", 1.0, "done")
    assert [c.signal.id for c in Backtest.get_data(SYMBOL, "hourly-long").signals] == [
        c["signal"]["id"] for c in inst.data.closed
    ]


def test_a_stop_left_from_before_the_run_is_cleared_before_the_run_first_polls(market):
    asked, go_on = threading.Event(), threading.Event()

    def waits_for_the_test(symbol: str, when: datetime) -> None:
        asked.set()
        assert go_on.wait(WAIT)

    add_strategy(strategy_name="gated", interval="1m", get_signal=waits_for_the_test, override=True)
    own = connect()  # the test's own client (starts the embedded server; state_client has none)
    try:
        stop_flags.request_stop(own, "backtest", SYMBOL, "gated")  # a stop of an earlier run
        with state_client._lock:  # the store is still starting
            start(Backtest.background, SYMBOL, "gated", markets.EXCHANGE, markets.FRAME)
            assert asked.wait(WAIT), "the walk waited for the state store"
            inst = Backtest.instance(SYMBOL, "gated")
            assert not inst.started.done()
        inst.started.result(timeout=WAIT)  # the start is written; the next idle tick polls
        assert not own.exists(keys.stop_flag("backtest", SYMBOL, "gated"))
        go_on.set()
        assert Backtest.wait(SYMBOL, "gated", timeout=WAIT)
        assert inst.task is not None and inst.task.error is None
        assert not inst.data.stopped  # the stale stop did not end this run
        (row,) = [r for r in Backtest.list() if r["name"] == "gated"]
        assert (row["status"], row["stopped"], row["outcome"]) == ("done", "0", "done")
    finally:
        go_on.set()
        own.close()


def test_a_store_that_cannot_start_fails_the_run_with_its_error(market, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("BTFARM_STATE_DIR", str(not_a_folder))
    get_settings.cache_clear()
    uncaught: list = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    results = Backtest.run(SYMBOL, "hourly-long", markets.EXCHANGE, markets.FRAME)
    with pytest.raises(NotADirectoryError, match="a-file"):  # the embedded server's own error
        list(results)
    inst = Backtest.instance(SYMBOL, "hourly-long")
    assert isinstance(inst.started.exception(), NotADirectoryError)
    assert inst.outcome == "failed"
    assert uncaught == []  # raised by the run, not lost on the connecting thread

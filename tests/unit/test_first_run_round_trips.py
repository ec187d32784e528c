"""The store round trips of a single backtest: its start clears the stop flag and writes
"running" in one transaction, the end writes "done"; the walk asks nothing more of Redis before
an interval has passed (issue 33: the fixed cost of a fresh process's first Backtest.run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfarm.orchestrator import (
    Backtest,
    add_exchange,
    add_frame,
    add_strategy,
    csv_exchange,
    get_average_price,
)
from btfarm.orchestrator.state_client import state
from btfarm.shared.store import run_status

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "sim-30d-1m.csv"


def every_hour(symbol, when):
    if when.minute != 0:
        return None
    price = get_average_price(symbol)
    return {"position": "long", "price_take_profit": price * 1.05, "price_stop_loss": price * 0.95,
            "minute_estimated_time": 30}  # fmt: skip


@pytest.fixture
def registered():
    add_exchange(csv_exchange("frt-sim", files={"SIMUSDT": DATA}), override=True)
    add_frame(
        frame_name="frt-1d",
        interval="1m",
        start_date="2025-01-10T00:00:00Z",
        end_date="2025-01-10T23:59:00Z",
        override=True,
    )
    add_strategy(strategy_name="frt-hourly", interval="1m", get_signal=every_hour, override=True)


def test_a_short_backtest_writes_its_status_twice_and_never_asks_for_the_stop_flag(registered):
    client = state()
    client.config_resetstat()
    closed = list(Backtest.run("SIMUSDT", "frt-hourly", "frt-sim", "frt-1d"))
    assert len(closed) == 24
    calls = {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in client.info("commandstats").items()
    }
    assert calls.get("exists", 0) == 0  # the start cleared the flag a moment ago
    assert calls["hset"] == 2  # "running" at the start, "done" at the end
    [row] = [r for r in run_status.list_status(client, "backtest") if r["name"] == "frt-hourly"]
    assert (row["status"], row["progress"]) == ("done", 1.0)


def test_a_stop_from_another_process_is_heard_within_an_interval(registered, monkeypatch):
    # the first ask of the flag is one interval after the start: a stop written to Redis
    # (as `btfarm stop` in another terminal does) while the run is under way still ends it
    import threading

    from btfarm.shared.store import stop_flags

    monkeypatch.setenv("BTFARM_STOP_CHECK_SECONDS", "0.05")
    from btfarm.shared.settings import get_settings

    get_settings.cache_clear()
    started = threading.Event()

    def slow(symbol, when):
        started.set()
        threading.Event().wait(0.002)  # a slow strategy: the walk takes seconds
        return None

    add_strategy(strategy_name="frt-slow", interval="1m", get_signal=slow, override=True)
    Backtest.background("SIMUSDT", "frt-slow", "frt-sim", "frt-1d")
    assert started.wait(30)
    stop_flags.request_stop(state(), "backtest", "SIMUSDT", "frt-slow")
    assert Backtest.wait("SIMUSDT", "frt-slow", timeout=30)
    assert Backtest.instance("SIMUSDT", "frt-slow").data.stopped

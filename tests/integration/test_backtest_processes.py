"""Backtest status and stop flags cross processes through Redis; the CLI leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from btfarm.orchestrator import Backtest
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.settings import get_settings
from tests.support.processes import farm_processes_under, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BTFARM = [sys.executable, "-m", "btfarm.orchestrator.cli"]


def cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BTFARM, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def farm_env(redis_server, redis_client, monkeypatch, tmp_path):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    env = {**os.environ, "BTFARM_REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT)}
    yield env
    reset_state()


def test_list_and_stop_from_another_process(farm_env, tmp_path):
    import tests.strategies_for_tests  # noqa: F401  registers slow-sma

    cancel = Backtest.background("BTCUSDT", "slow-sma", "synthetic", "month-1m")
    try:

        def running_elsewhere():
            out = cli("list", "--json", env=farm_env, cwd=tmp_path)
            assert out.returncode == 0, out.stderr
            rows = [r for r in json.loads(out.stdout) if r["name"] == "slow-sma"]
            return rows if rows and rows[0]["status"] == "running" else None

        rows = wait_for(running_elsewhere, 30, "btfarm list to show slow-sma running")
        assert rows[0]["mode"] == "backtest" and rows[0]["symbol"] == "BTCUSDT"

        started = time.monotonic()
        out = cli("stop", "backtest", "BTCUSDT", "slow-sma", env=farm_env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert Backtest.wait("BTCUSDT", "slow-sma", timeout=20)
        assert time.monotonic() - started < 20
    finally:
        cancel()
        Backtest.wait("BTCUSDT", "slow-sma", timeout=20)
    data = Backtest.get_data("BTCUSDT", "slow-sma")
    assert data.stopped and data.status == "done"
    out = cli("list", "--json", "--mode", "backtest", env=farm_env, cwd=tmp_path)
    assert [r["status"] for r in json.loads(out.stdout) if r["name"] == "slow-sma"] == ["done"]


def test_second_concurrent_run_joins_the_first(farm_env):
    import tests.strategies_for_tests  # noqa: F401

    first = Backtest.run("BTCUSDT", "sma-cross", "synthetic", "demo-30d")
    second = Backtest.run("BTCUSDT", "sma-cross", "synthetic", "demo-30d")
    a, b = [c.signal.id for c in first], [c.signal.id for c in second]
    assert a == b and len(a) > 100


def test_readers_are_handed_closed_signals_in_batches_all_of_them_in_order(farm_env, monkeypatch):
    import tests.strategies_for_tests  # noqa: F401
    from btfarm.orchestrator import backtest, run_thread

    wakes = []
    real = run_thread.RunThread.push_many

    def counted(task, items):
        wakes.append(len(items))
        real(task, items)

    monkeypatch.setattr(run_thread.RunThread, "push_many", counted)
    monkeypatch.setattr(
        backtest, "PUSH_EVERY_SECONDS", 60.0
    )  # one hand-over at once, one at the end
    ids = [c.signal.id for c in Backtest.run("BTCUSDT", "sma-cross", "synthetic", "demo-30d")]
    data = Backtest.get_data("BTCUSDT", "sma-cross")
    assert ids == [c.signal.id for c in data.signals] and len(ids) > 100
    # a reader woken per closed signal cost the run ~35 us of GIL hand-offs each
    assert sum(wakes) == len(ids) and len([w for w in wakes if w]) <= 2, wakes


def test_a_store_that_does_not_answer_is_raised_by_the_run_not_lost_on_the_connecting_thread(
    monkeypatch,
):
    import socket
    import threading

    import tests.strategies_for_tests  # noqa: F401
    from btfarm.shared.errors import StoreUnavailable

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BTFARM_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    get_settings.cache_clear()
    reset_state()
    uncaught = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    try:
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
            Backtest.run("BTCUSDT", "sma-cross", "synthetic", "demo-30d")
    finally:
        reset_state()
        get_settings.cache_clear()
    assert uncaught == []


def test_demo_on_the_embedded_default_leaves_no_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env["PYTHONPATH"] = str(ROOT)
    out = cli("demo", env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "sma-cross" in out.stdout and "pullback" in out.stdout
    for name in ("sma-cross", "pullback"):
        report = tmp_path / "dump" / "backtest" / f"{name}.md"
        assert report.read_text().startswith(f"# Backtest: {name} on BTCUSDT")
    assert (tmp_path / ".btfarm").is_dir()  # the embedded server did run here
    alive = psutil.wait_procs(farm_processes_under(tmp_path), timeout=10)[1]
    assert not alive, f"processes left behind: {[p.pid for p in alive]}"


def test_bad_candles_are_refused_at_the_call_before_anything_runs(farm_env):
    from btfarm.orchestrator import add_exchange, add_frame, add_strategy
    from btfarm.shared.errors import CandleDataError

    add_exchange(
        exchange_name="broken-ex",
        override=True,
        get_candles=lambda symbol, interval, since, limit: [
            {"timestamp": 1, "open": -1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
        ],
    )
    add_frame(
        frame_name="jan-1d",
        interval="1m",
        start_date="2025-01-01",
        end_date="2025-01-02",
        override=True,
    )
    add_strategy(strategy_name="never", interval="1m", get_signal=lambda s, w: None, override=True)
    with pytest.raises(CandleDataError, match='exchange "broken-ex"'):
        Backtest.background("BTCUSDT", "never", "broken-ex", "jan-1d")
    assert Backtest.instance("BTCUSDT", "never").task is None  # nothing was started

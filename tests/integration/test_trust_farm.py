"""A sweep's answer is right and comparable, or visibly refused (issue: trust).

A real redis-server and two real workers that run *different code* for the
same strategy module (each imports ``trust_strategies`` from its own folder;
only the take profit differs), the orchestrator here with the first copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from btfarm.orchestrator import Walker
from btfarm.shared.errors import DataCoverageError
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from btfarm.workers.app import TASK_QUEUE, configure
from tests.support.celery_workers import REPO, farm_env, use_farm
from tests.support.code_copies import TAKE_PROFITS, copy_worker, imported, write_copies
from tests.support.processes import wait_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYMBOL = "SIMUSDT"

MODULE = "trust_strategies"
REST = """

def steady_signal(symbol, when):  # the same code in both copies
    closes = get_candles(symbol, "1m", 21).close
    if len(closes) < 21:
        return None
    side = 1 if closes[-5:].mean() > closes.mean() else -1
    price = get_average_price(symbol)
    return {"position": "long" if side > 0 else "short", "minute_estimated_time": 90,
            "price_take_profit": price * (1 + side * 0.006),
            "price_stop_loss": price * (1 - side * 0.006)}


def rejected_signal(symbol, when):
    price = get_average_price(symbol)  # a long whose take profit is below the entry: always refused
    return {"position": "long", "price_take_profit": price * 0.99, "price_stop_loss": price * 0.98}


def raising_signal(symbol, when):
    raise RuntimeError("trust-raiser always raises")


add_exchange(csv_exchange("trust-sim", files={"SIMUSDT": SIM_CSV}), override=True)
add_frame(frame_name="trust-2d", interval="1m", start_date="2025-01-02T00:00:00Z",
          end_date="2025-01-03T23:59:00Z", override=True)
add_frame(frame_name="trust-past", interval="1m", start_date="2025-01-25T00:00:00Z",
          end_date="2025-02-15T00:00:00Z", override=True)
add_strategy(strategy_name="trust-cross", interval="15m", get_signal=cross_signal,
             params={"fast": 5, "slow": 20}, override=True)
add_strategy(strategy_name="trust-steady", interval="15m", get_signal=steady_signal, override=True)
add_strategy(strategy_name="trust-rejecter", interval="15m", get_signal=rejected_signal, override=True)
add_strategy(strategy_name="trust-raiser", interval="15m", get_signal=raising_signal, override=True)
add_walker(walker_name="trust-versions", exchange_name="trust-sim", frame_name="trust-2d",
           strategies=[sweep("trust-cross", fast=[3, 4, 5, 6, 7, 8], slow=[20, 30])], override=True)
add_walker(walker_name="trust-rejected", exchange_name="trust-sim", frame_name="trust-2d",
           metric="total_pnl", strategies=["trust-steady", "trust-rejecter"], override=True)
add_walker(walker_name="trust-all-fail", exchange_name="trust-sim", frame_name="trust-2d",
           strategies=["trust-raiser"], override=True)
add_walker(walker_name="trust-past", exchange_name="trust-sim", frame_name="trust-past",
           strategies=["trust-cross"], override=True)
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[dict]:
    # one worker's copy had its take profit edited
    root = write_copies(tmp_path_factory.mktemp("trust"), MODULE, REST)
    server = RedisServer().start()
    workers = {copy: copy_worker(server.url, root, copy, MODULE, root) for copy in TAKE_PROFITS}
    try:
        for w in workers.values():
            w.start()
        os.environ["BTFARM_REDIS_URL"] = server.url
        get_settings.cache_clear()
        app = configure()
        for w in workers.values():
            w.wait_ready(app)
        with imported(root / "same", MODULE):  # the orchestrator's copy: registers the walkers
            yield {
                "url": server.url,
                "workers": workers,
                "server": server,
                "root": root,
                "app": app,
            }
    finally:
        os.environ.pop("BTFARM_REDIS_URL", None)
        for w in workers.values():
            w.stop()
        server.close()


@pytest.fixture
def farm_url(farm, monkeypatch, tmp_path) -> Iterator[str]:
    yield from use_farm(farm["url"], monkeypatch, tmp_path)


def test_a_worker_running_other_code_runs_none_of_the_variants_it_would_rank(farm, farm_url):
    # it hands its chunks back untouched (test_farm_code_refusal.py); the "same" worker runs them all
    list(Walker.run(SYMBOL, "trust-versions", chunk_size=1))
    data = Walker.get_data(SYMBOL, "trust-versions")
    records = Walker.launcher.tally(SYMBOL, "trust-versions", "test").records
    same = farm["workers"]["same"].name
    assert {record["worker"].rpartition(":")[0] for record in records.values()} == {
        same
    }  # NODE:PID
    assert all(r["status"] == "done" for r in records.values()) and data.unfinished == {}
    ranked = {s.strategy_name for s in data.strategies} | set(data.unranked)
    assert ranked == set(records)  # one code version ranked, every variant of it
    assert len({fp["source_hash"] for fp in data.fingerprints.values()}) == 1
    report = Walker.get_report(SYMBOL, "trust-versions")
    assert "Recomputed signals disagree" not in report  # what was ranked is what this code gives


def test_rejected_signals_are_shown_and_an_empty_run_is_never_best(farm_url):
    list(Walker.run(SYMBOL, "trust-rejected"))
    data = Walker.get_data(SYMBOL, "trust-rejected")
    assert data.best_strategy == "trust-steady"
    assert [s.strategy_name for s in data.strategies] == ["trust-steady"]
    why, stats = data.unranked["trust-rejecter"]
    assert stats.total_signals == 0 and stats.total_pnl is None and stats.rejected_signals > 100
    assert "fewer than min_trades=1" in why
    count, messages = data.rejections["trust-rejecter"]
    assert count == stats.rejected_signals
    assert "long needs take profit > open > stop loss" in messages[0]
    report = Walker.get_report(SYMBOL, "trust-rejected")
    section = report[report.index("## Rejected signals") :]
    assert f"| trust-rejecter | {count} |" in section and "long needs take profit" in section
    assert "## Not ranked" in report and "| Rejected |" in report


def chunk_results(app, run_id: str, chunks: int) -> list[tuple[str, object]]:
    """(state, result) of each chunk task of a sweep, once stored (just after its last result)."""
    out = []
    for index in range(chunks):
        result = app.AsyncResult(f"{run_id}-{index:05d}")
        wait_for(result.ready, 20, f"chunk {index} of {run_id} to store its final state")
        out.append((result.state, result.result))
    return out


def test_a_chunk_whose_every_variant_failed_is_a_failure_flower_can_filter(farm, farm_url):
    list(Walker.run(SYMBOL, "trust-all-fail"))
    data = Walker.get_data(SYMBOL, "trust-all-fail")
    assert list(data.unfinished) == ["trust-raiser"]
    ((state, result),) = chunk_results(farm["app"], data.run_id, 1)
    assert state == "FAILURE" and "trust-raiser always raises" in str(result)


def test_a_chunk_result_counts_its_variants_ok_failed_and_rejected_only(farm, farm_url):
    list(Walker.run(SYMBOL, "trust-rejected", chunk_size=1))
    data = Walker.get_data(SYMBOL, "trust-rejected")
    results = chunk_results(farm["app"], data.run_id, 2)
    assert {state for state, _ in results} == {"SUCCESS"}
    totals = {
        k: sum(r[k] for _, r in results) for k in ("ok", "failed", "rejected_only", "stopped")
    }
    assert totals == {"ok": 1, "failed": 0, "rejected_only": 1, "stopped": 0}


def test_a_frame_past_the_data_is_refused_before_anything_is_submitted(farm, farm_url):
    client = farm["server"].client()
    try:
        with pytest.raises(DataCoverageError) as err:
            list(Walker.run(SYMBOL, "trust-past"))
        message = str(err.value)
        assert 'exchange "trust-sim", symbol SIMUSDT, frame "trust-past"' in message
        assert "ends after the data" in message and "2025-01-30T23:59Z" in message
        assert client.llen(TASK_QUEUE) == 0
        plans = [
            client.hget(k, "walker_name") for k in client.scan_iter(match="btfarm:walker:*:run")
        ]
        assert "trust-past" not in plans
    finally:
        client.close()


def store_plan(client, run_id: str, **fields: str) -> None:
    """A sweep plan written straight into Redis (as an attacker or an older run could):
    one variant of trust-steady in walker trust-rejected, plus ``fields``."""
    client.hset(
        keys.walker_run(run_id),
        mapping={
            "walker_name": "trust-rejected",
            "symbol": SYMBOL,
            "exchange_name": "trust-sim",
            "frame_name": "trust-2d",
            "metric": "total_pnl",
            "chunk_size": 1,
            "total": 1,
            "spec": json.dumps(
                [{"base": "trust-steady", "keys": [], "values": [], "declared": None}]
            ),
            **fields,
        },
    )


def test_resume_never_imports_what_a_stored_plan_names(farm, farm_url, tmp_path):
    marker = tmp_path / "executed"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    client = farm["server"].client()
    try:
        run_id = "c0ffee00c0ffee00"
        store_plan(client, run_id, imports=json.dumps([str(evil), "trust_strategies"]))
        env = farm_env(farm_url, PYTHONPATH=str(REPO))
        env.pop("BTFARM_IMPORTS")
        done = subprocess.run(
            [sys.executable, "-m", "btfarm.orchestrator.cli", "walker", "resume", run_id],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        client.close()
    assert not marker.exists(), "resume executed a module named by the Redis plan"
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "resume imports only what you name" in done.stderr
    assert f"--import {evil}" in done.stderr  # shown as a hint, never run


def test_a_resume_whose_code_changed_is_refused(farm, farm_url):
    from btfarm.shared.errors import ConfigError

    client = farm["server"].client()
    try:
        run_id = "0dd0c0de0dd0c0de"
        store_plan(client, run_id, code=json.dumps({"trust-steady": "0123456789abcdef"}))
        with pytest.raises(
            ConfigError, match="resuming would rank two code versions together"
        ) as err:
            Walker.resume(run_id)
        assert "trust-steady at 0123456789abcdef" in str(err.value)
        assert client.hget(keys.walker_run(run_id), "attempt") is None  # nothing was started
    finally:
        client.close()


def test_the_sweep_announces_its_run_id_and_total_before_any_result(farm_url):
    from btfarm.orchestrator import listen_walker, listen_walker_start

    heard: list = []
    stops = [
        listen_walker_start(lambda started: heard.append(("start", started))),
        listen_walker(lambda progress: heard.append(("progress", progress))),
    ]
    try:
        list(Walker.run(SYMBOL, "trust-rejected"))
    finally:
        for stop in stops:
            stop()
    kind, started = heard[0]
    assert kind == "start" and started["total_strategies"] == 2 and started["to_run"] == 2
    assert started["run_id"] == Walker.get_data(SYMBOL, "trust-rejected").run_id
    assert [k for k, _ in heard] == ["start", "progress", "progress"]

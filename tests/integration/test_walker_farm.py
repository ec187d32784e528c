"""The farm end to end: a real redis-server, two real ``celery worker``
processes (prefork -c 1), ``Walker`` in this process, the CLI in others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from btfarm.orchestrator import AlreadyRunningError, NotFoundError, Walker, listen_walker_start
from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.ranking import rank
from btfarm.shared.registry import get_exchange, get_frame, get_strategy, get_walker
from btfarm.shared.stats import compute_statistics
from btfarm.workers.app import configure
from tests import farm_strategies
from tests.support.celery_workers import REPO, CeleryWorker, farm_env, use_farm
from tests.support.in_process import as_json, variant_runs
from tests.support.module_farm import module_farm
from tests.support.processes import stop_process, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYMBOL = farm_strategies.SYMBOL


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[dict]:
    """A redis-server and two workers for this module, stopped by PID at the end."""
    yield from module_farm(tmp_path_factory.mktemp("workers"))


@pytest.fixture
def farm_url(farm, monkeypatch, tmp_path) -> Iterator[str]:
    yield from use_farm(farm["url"], monkeypatch, tmp_path)


def in_process_stats(walker_name: str, symbol: str = SYMBOL) -> dict[str, dict]:
    """Every variant of the walker backtested here, as JSON statistics."""
    return {
        name: as_json(compute_statistics(run.run()))
        for name, run in variant_runs(walker_name, symbol)
    }


def cli(url: str, *args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    """``btfarm ARGS`` run to its end from the repository, on the farm at ``url`` (``env``
    besides)."""
    return subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", *args],
        cwd=REPO,
        env=farm_env(url, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_sweep_over_two_workers_equals_the_in_process_backtests(farm_url):
    from btfarm.orchestrator import listen_walker, listen_walker_complete

    heard, completed = [], []
    unsubscribe = [listen_walker(heard.append), listen_walker_complete(completed.append)]
    try:
        progress = list(Walker.run(SYMBOL, "farm-sweep"))
    finally:
        for fn in unsubscribe:
            fn()
    assert [p.strategy_name for p in heard] == [p.strategy_name for p in progress]
    assert len(completed) == 1 and completed[0].best_strategy == progress[-1].best_strategy
    data = Walker.get_data(SYMBOL, "farm-sweep")
    expected = in_process_stats("farm-sweep")

    assert len(expected) == 25
    names = [p.strategy_name for p in progress]
    assert sorted(names) == sorted(expected)  # every variant once, none twice
    assert [p.strategies_tested for p in progress] == list(range(1, 26))
    assert data.unfinished == {} and data.strategies_tested == 25
    for row in data.strategies:
        assert row.stats.model_dump(mode="json") == expected[row.strategy_name], row.strategy_name
    # fast == slow never crosses: no closed signal, so listed but never ranked (min_trades=1)
    assert (
        list(data.unranked)
        == [n for n, s in expected.items() if not s["total_signals"]]
        == ["farm-sma[fast=20,slow=20]"]
    )
    ranked = rank([(n, s) for n, s in expected.items() if s["total_signals"]], "sharpe_ratio")
    assert [r.strategy_name for r in data.strategies] == [name for name, _ in ranked]
    assert data.best_strategy == ranked[0][0] == progress[-1].best_strategy
    (status,) = [row for row in Walker.list() if row["walker_name"] == "farm-sweep"]
    assert (
        status["status"],
        status["progress"],
        status["strategies_tested"],
        status["best_strategy"],
    ) == ("done", 1.0, "25", data.best_strategy)  # the last progress is written with the end
    # best-so-far was right at every step: the best of what had arrived
    seen: dict[str, dict] = {}
    for p in progress:
        seen[p.strategy_name] = expected[p.strategy_name]
        ordered = [n for n in expected if n in seen]  # walker order breaks ties
        assert p.best_strategy == rank([(n, seen[n]) for n in ordered], "sharpe_ratio")[0][0]
    # both workers took part, in more than one chunk each
    records = Walker.launcher.tally(SYMBOL, "farm-sweep", "test").records.values()
    assert len({r["worker"] for r in records}) == 2
    assert data.chunk_size < 25
    chunks = -(-25 // data.chunk_size)
    assert chunks % 2 == 0, (
        f"{chunks} chunks for 2 workers"
    )  # cut to fit the pool the workers announced
    # the variant's params reached the strategy
    assert {r.strategy_name: r.params for r in data.strategies}["farm-sma[fast=5,slow=20]"] == {
        "fast": 5,
        "slow": 20,
    }
    report = Walker.get_report(SYMBOL, "farm-sweep")
    assert f"**{data.best_strategy}**" in report or data.best_strategy in report


def live_pool(r, expected: set[str], timeout: float = 15.0) -> dict[str, int]:
    """The registry's live workers once it lists exactly ``expected`` (heartbeats are async)."""
    from btfarm.shared.store import worker_registry

    def settled() -> dict[str, int] | None:
        live = worker_registry.live_slots(r)
        return live if set(live) == expected else None

    return wait_for(settled, timeout, f"the worker registry to list exactly {sorted(expected)}")


def test_workers_announce_their_pool_and_a_clean_shutdown_leaves_it(farm_url, farm, tmp_path):
    from btfarm.orchestrator.state_client import state

    names = {w.name for w in farm["workers"]}
    assert live_pool(state(), names) == {name: 1 for name in names}
    third = CeleryWorker(farm_url, tmp_path, concurrency=2).start()
    try:
        third.wait_ready(configure())
        assert live_pool(state(), names | {third.name}) == {**{n: 1 for n in names}, third.name: 2}
    finally:
        third.stop()
    assert set(live_pool(state(), names)) == names  # gone at once, not after its heartbeat lapsed


def test_stop_from_another_process_ends_the_walker_within_seconds(farm_url, tmp_path):
    seen: list[str] = []
    Walker.background(SYMBOL, "farm-slow-sweep", chunk_size=2)
    inst = Walker.instance(SYMBOL, "farm-slow-sweep")
    wait_for(lambda: inst.data is not None and len(inst.data.records) >= 2, 30, "two results")

    done = cli(farm_url, "stop", "walker", SYMBOL, "farm-slow-sweep")
    assert done.returncode == 0, done.stderr
    stopped_at = time.monotonic()
    assert Walker.wait(SYMBOL, "farm-slow-sweep", timeout=10)
    took = time.monotonic() - stopped_at
    assert took < 6, f"the walker took {took:.1f} s to stop"

    data = Walker.get_data(SYMBOL, "farm-slow-sweep")
    seen = [p.strategy_name for p in inst.task.follow()]
    assert len(seen) == len(set(seen))  # no variant reported twice
    assert data.stopped and data.unfinished
    assert data.strategies_tested + len(data.unfinished) == 24
    assert data.strategies_tested < 24
    report = Walker.get_report(SYMBOL, "farm-slow-sweep")
    assert "## Did not finish" in report
    for name in data.unfinished:
        assert name in report.split("## Did not finish")[1]
    path = Walker.dump(SYMBOL, "farm-slow-sweep")
    assert path == tmp_path / "dump" / "walker" / "farm-slow-sweep.md"
    assert "## Did not finish" in path.read_text()


def test_list_from_another_process_shows_the_running_walker(farm_url):
    started: list[dict] = []
    unsubscribe = listen_walker_start(started.append)
    try:
        Walker.background(SYMBOL, "farm-slow-sweep", chunk_size=2)
        wait_for(lambda: started, 10, "the sweep to announce its start")
    finally:
        unsubscribe()

    def progressed():  # the status carries progress once a first write after a result landed
        rows = [r for r in Walker.list() if r["name"] == "farm-slow-sweep"]
        return rows and int(rows[0].get("strategies_tested") or 0) >= 1 and rows[0]

    try:
        wait_for(progressed, 30, "the walker's status to show a tested variant")
        listed = cli(farm_url, "list", "--mode", "walker", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = [r for r in json.loads(listed.stdout) if r["name"] == "farm-slow-sweep"]
        assert rows and rows[0]["status"] == "running"
        assert rows[0]["symbol"] == SYMBOL and 0 < rows[0]["progress"] < 1
        assert int(rows[0]["total_strategies"]) == 24 and int(rows[0]["strategies_tested"]) >= 1
        # the id `btfarm list` shows is the sweep's run id, announced before any result
        assert rows[0]["id"] == started[0]["run_id"] and started[0]["total_strategies"] == 24
        assert any(r["walker_name"] == "farm-slow-sweep" for r in Walker.list())
    finally:
        Walker.stop(SYMBOL, "farm-slow-sweep")
        assert Walker.wait(SYMBOL, "farm-slow-sweep", timeout=15)
    assert Walker.get_data(SYMBOL, "farm-slow-sweep").run_id == started[0]["run_id"]
    rows = [r for r in Walker.list() if r["name"] == "farm-slow-sweep"]
    assert rows[0]["status"] == "done" and rows[0]["outcome"] == "stopped"
    table = cli(farm_url, "list", "--mode", "walker")  # 80 columns: one instance on two lines
    lines = table.stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if "farm-slow-sweep" in x)
    shown = " ".join(lines[at - 1 : at + 1])
    assert started[0]["run_id"] in shown and "stopped" in shown and " done" not in shown


def test_flower_lists_both_workers_and_the_finished_tasks(farm_url, farm, tmp_path):
    import httpx

    from tests.support.redis_server import free_port

    port = free_port()
    auth = ("farm", "s3cret")
    log = open(tmp_path / "flower.log", "wb")  # noqa: SIM115
    flower = subprocess.Popen(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "flower", "--port", str(port)],
        cwd=REPO,
        env=farm_env(farm_url, BTFARM_FLOWER_BASIC_AUTH=":".join(auth)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def workers():
            try:
                reply = httpx.get(f"{base}/api/workers", auth=auth, timeout=5)
            except httpx.HTTPError:
                return None
            names = {w.name for w in farm["workers"]}
            return reply.status_code == 200 and names <= set(reply.json()) and reply.json()

        wait_for(workers, 40, "Flower to list both workers")
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401  # basic auth is on
        list(Walker.run(SYMBOL, "farm-small", chunk_size=1))
        chunks = Walker.get_data(SYMBOL, "farm-small").total_strategies

        def finished():
            reply = httpx.get(f"{base}/api/tasks", auth=auth, timeout=5).json()
            done = [
                t
                for t in reply.values()
                # a chunk goes by its title (workers/app.chunk_title), the task run is CHUNK_TASK
                if t["name"].startswith(f"walker farm-small symbol {SYMBOL} chunk ")
                and t["state"] == "SUCCESS"
                and "farm-small" in (t.get("kwargs") or "")
            ]
            return len(done) >= chunks and done

        done = wait_for(finished, 20, "Flower to show the finished chunk tasks")
        assert {t["worker"] for t in done} <= {w.name for w in farm["workers"]}
        assert all("'ok': " in (t.get("result") or "") for t in done)  # how its variants ended
        # a chunk none of whose variants ran is found by Flower's "Failed" filter
        list(Walker.run(SYMBOL, "farm-failing"))

        def failed():
            reply = httpx.get(
                f"{base}/api/tasks", params={"state": "FAILURE"}, auth=auth, timeout=5
            )
            return [t for t in reply.json().values() if "farm-failing" in (t.get("kwargs") or "")]

        (failure,) = wait_for(failed, 20, "Flower to list the failed chunk")
        assert "farm-raiser always raises" in failure["exception"]
        listening = {
            c.laddr.ip
            for c in psutil.Process(flower.pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}  # loopback unless --address says otherwise
        # the credentials reach Flower by its environment, never its command line (ps)
        assert not any(
            auth[1] in " ".join(p.cmdline())
            for p in [
                psutil.Process(flower.pid),
                *psutil.Process(flower.pid).children(recursive=True),
            ]
        )
    finally:
        stop_process(flower, timeout=15)
        log.close()


def test_flower_refuses_to_start_without_auth_or_with_a_malformed_value(farm_url, tmp_path):
    refused = cli(farm_url, "flower")
    assert refused.returncode == 2
    assert "set BTFARM_FLOWER_BASIC_AUTH=USER:PASSWORD, or pass --unauthenticated" in refused.stderr
    env = farm_env(farm_url, BTFARM_FLOWER_BASIC_AUTH="admin-without-colon")
    malformed = subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "flower"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert malformed.returncode == 2 and "must be USER:PASSWORD" in malformed.stderr
    assert "admin-without-colon" not in malformed.stderr  # a credential is never echoed


def test_beat_entry_fires_and_dumps_a_dated_report_and_a_comparison(farm_url, tmp_path):
    schedule = tmp_path / "schedule.toml"
    schedule.write_text(
        'imports = ["tests.farm_strategies"]\n\n'
        '[[entry]]\nname = "quick"\nwalker = "farm-small"\nsymbols = ["BTCUSDT"]\n'
        "every_seconds = 2\n"
    )
    dump = tmp_path / "dump"
    log = open(tmp_path / "beat.log", "wb")  # noqa: SIM115
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "beat",
            "--schedule",
            str(schedule),
            "--loglevel",
            "WARNING",
        ],
        cwd=tmp_path,
        env=farm_env(farm_url, BTFARM_DUMP_DIR=str(dump), BTFARM_STATE_DIR=str(tmp_path / "state")),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    folder = dump / "walker" / "farm-small"
    try:

        def two_runs():
            comparisons = sorted(folder.glob("*-BTCUSDT-comparison.md")) if folder.exists() else []
            return len(comparisons) >= 2 and comparisons

        comparisons = wait_for(two_runs, 45, "two scheduled runs")
    finally:
        stop_process(beat, timeout=15)
        log.close()
    reports = sorted(p for p in folder.glob("*-BTCUSDT.md"))
    assert len(reports) >= 2
    stamp = reports[0].name.removesuffix("-BTCUSDT.md")
    assert time.strptime(stamp, "%Y-%m-%dT%H%M%SZ")  # dated
    assert "# Walker: farm-small on BTCUSDT" in reports[0].read_text()
    second = comparisons[1].read_text()
    assert "- Previous run: " + comparisons[0].name.removesuffix("-BTCUSDT-comparison.md") in second
    assert "| Strategy | Rank | Previous rank | Rank change |" in second
    assert "| farm-pullback |" in second and "| = |" in second  # same data: ranks unchanged
    assert "first run" in comparisons[0].read_text()
    picture = comparisons[1].with_name(
        comparisons[1].stem + ".ranks.svg"
    )  # the rank changes, drawn
    assert f"![Rank changes]({picture.name})" in second and picture.read_text().count("<path") > 3
    assert comparisons[1].with_suffix(".html").exists()


def local_only_signal(symbol, when):
    return None


def add_local_only_walker(walker_name: str, strategies: list, **fields) -> None:
    """A walker over the farm's market whose strategy "farm-local-only" is registered in this
    process only (the workers do not import it)."""
    from btfarm.shared.registry import add_strategy, add_walker

    add_strategy(
        strategy_name="farm-local-only", interval="15m", get_signal=local_only_signal, override=True
    )
    add_walker(
        walker_name=walker_name,
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=strategies,
        override=True,
        **fields,
    )


def test_a_strategy_the_workers_did_not_import_fails_its_variant_naming_the_module(farm_url):
    add_local_only_walker("farm-mixed", ["farm-local-only", "farm-pullback"])
    progress = list(Walker.run(SYMBOL, "farm-mixed"))
    data = Walker.get_data(SYMBOL, "farm-mixed")
    assert [s.strategy_name for s in data.strategies] == ["farm-pullback"]  # the sweep went on
    reason = data.unfinished["farm-local-only"]
    assert "not registered on worker" in reason and "farm-local-only" in reason
    assert f"--import {__name__}" in reason
    failed = [p for p in progress if p.status == "failed"]
    assert [p.strategy_name for p in failed] == ["farm-local-only"] and failed[0].error == reason[
        8:
    ]
    assert "## Did not finish" in Walker.get_report(SYMBOL, "farm-mixed")


def test_btfarm_walker_with_a_module_runs_on_the_farm(farm_url, tmp_path):
    done = cli(
        farm_url,
        "walker",
        "tests.farm_strategies",
        "farm-small",
        "--symbol",
        SYMBOL,
        timeout=60,
        BTFARM_DUMP_DIR=str(tmp_path),
        COLUMNS="150",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "farm-small on BTCUSDT: 4/4 tested" in done.stdout
    assert (tmp_path / "walker" / "farm-small.md").exists()
    assert not (tmp_path / "state").exists()  # a URL is set: no embedded server was started
    # the run id is printed as the sweep starts, before the first progress line
    first = done.stderr.splitlines()[0]
    assert first.startswith("sweep ") and "btfarm walker resume" in first


def test_a_sweep_where_every_variant_failed_exits_non_zero_with_reasons_grouped(farm_url, tmp_path):
    failing = cli(
        farm_url,
        "walker",
        "tests.farm_strategies",
        "farm-failing",
        "--symbol",
        SYMBOL,
        "--no-dump",
        timeout=60,
    )
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "did not finish (1):" in failing.stderr
    assert (
        '1 x failed: StrategyError: strategy "farm-raiser"' in failing.stderr
    )  # no params: named whole
    assert "error: no variant of farm-failing could be ranked" in failing.stderr


def test_a_worker_process_killed_mid_chunk_is_redelivered_and_no_variant_counts_twice(
    farm_url, farm
):
    import signal

    import psutil

    victim = farm["workers"][0]
    (child,) = psutil.Process(victim.pid).children()  # prefork -c 1: one pool process
    Walker.background(SYMBOL, "farm-slow-sweep", chunk_size=3)
    inst = Walker.instance(SYMBOL, "farm-slow-sweep")

    def first_of_a_chunk_from_the_victim():
        if inst.data is None:
            return False
        return any(
            r["worker"].endswith(f":{child.pid}") and r["index"] % 3 == 0
            for r in inst.data.records.values()
        )

    wait_for(first_of_a_chunk_from_the_victim, 30, "the victim to finish a chunk's first variant")
    os.kill(child.pid, signal.SIGKILL)  # mid-chunk: its second variant is running
    assert Walker.wait(SYMBOL, "farm-slow-sweep", timeout=60)
    data = Walker.get_data(SYMBOL, "farm-slow-sweep")
    names = [p.strategy_name for p in inst.task.follow()]
    assert len(names) == len(set(names)) == 24  # redelivered (acks_late), each reported once
    assert data.unfinished == {} and data.strategies_tested == 24
    # the redelivered chunk skipped what was already collected: only the variant
    # the child died in ran twice
    from btfarm.orchestrator.sweeps.variants import expand
    from btfarm.shared.store import variant_marks

    client = farm["server"].client()
    space = expand(get_walker(data.walker_name))
    runs = {space.name(i): n for i, n in variant_marks.executions(client, data.run_id).items()}
    client.close()
    assert set(runs) == {v for v in names} and sorted(runs.values())[:-1] == [1] * 23
    assert runs[max(runs, key=runs.get)] <= 2 and data.duplicates_dropped == 0
    victim.wait_ready(configure())  # the worker replaced its child and still serves


def test_btfarm_worker_imports_the_module_and_serves_or_exits_naming_a_bad_one(farm_url, tmp_path):
    from tests.support.celery_workers import CeleryWorker

    bad = cli(
        farm_url,
        "worker",
        "--import",
        "no_such_farm_module",
        "-c",
        "1",
        "--loglevel",
        "WARNING",
        timeout=60,
        BTFARM_IMPORTS="",
    )
    assert bad.returncode != 0 and "no_such_farm_module" in bad.stderr

    good = CeleryWorker(farm_url, tmp_path)
    good.args = [
        sys.executable,
        "-m",
        "btfarm.orchestrator.cli",
        "worker",
        "--import",
        "tests.farm_strategies",
        "-c",
        "1",
        "-n",
        good.name,
        "--loglevel",
        "INFO",
        "--logfile",
        str(good.logfile),
        "--without-gossip",
        "--without-mingle",
    ]
    good.env["BTFARM_IMPORTS"] = ""
    try:
        good.start().wait_ready(configure())
        assert "imported tests.farm_strategies" in good.log()
    finally:
        good.stop()


def test_the_walker_report_pictures_are_written_linked_and_drawn_from_the_ranked_results(
    farm_url, tmp_path
):
    import numpy as np

    from btfarm.orchestrator.reports.series import heatmap
    from btfarm.orchestrator.reports.walker_pictures import swept_grids

    list(Walker.run(SYMBOL, "farm-sweep"))
    data = Walker.get_data(SYMBOL, "farm-sweep")
    path = Walker.dump(SYMBOL, "farm-sweep")
    text = path.read_text()
    folder = path.parent
    for alt, file in (
        ("sharpe_ratio of farm-sma by fast and slow", "farm-sweep.heatmap-farm-sma-fast-slow.svg"),
        ("sharpe_ratio over the variants", "farm-sweep.distribution.svg"),
        ("Equity of the best strategies", "farm-sweep.top-equity.svg"),
    ):
        assert f"![{alt}]({file})" in text
        assert (folder / file).read_text().count("<path") > 5
    assert (
        text.index("## Comparison") < text.index("## Pictures") < text.index("## PnL by strategy")
    )
    assert (folder / "farm-sweep.html").read_text().count("data:image/svg+xml;base64,") == 3
    # the series behind the heatmap: each ranked variant's metric at its cell, the unranked one NaN
    sweep = Walker.launcher.tally(SYMBOL, "farm-sweep", "test")
    grid = swept_grids(sweep.variants)["farm-sma"]
    assert grid == {"fast": farm_strategies.FAST, "slow": farm_strategies.SLOW}
    ranked = {s.strategy_name: s.metric_value for s in data.strategies}
    results = {
        v.strategy_name: (v.params, ranked.get(v.strategy_name)) for v in sweep.variants if v.params
    }
    hm = heatmap(grid, results, "fast", "slow", {})
    for name, (params, value) in results.items():
        cell = hm.matrix[grid["slow"].index(params["slow"]), grid["fast"].index(params["fast"])]
        assert (np.isnan(cell) and name not in ranked) or cell == value, name
    assert np.isnan(
        hm.matrix[grid["slow"].index(20), grid["fast"].index(20)]
    )  # never ranked, never zero


def test_a_second_orchestrator_on_the_same_walker_is_refused_with_the_first_run_id(
    farm_url, farm, tmp_path
):
    from btfarm.shared.store import keys

    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            "tests.farm_strategies",
            "farm-slow-sweep",
            "--symbol",
            SYMBOL,
            "--no-dump",
        ],
        cwd=REPO,
        env=farm_env(farm_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    client = farm["server"].client()
    try:
        run_id = wait_for(
            lambda: client.get(keys.walker_owner("farm-slow-sweep", SYMBOL)),
            30,
            "the first orchestrator to claim the walker",
        )
        second = cli(
            farm_url,
            "walker",
            "tests.farm_strategies",
            "farm-slow-sweep",
            "--symbol",
            SYMBOL,
            "--no-dump",
        )
        assert second.returncode == 2, second.stdout + second.stderr
        flat = " ".join(second.stderr.split())
        assert f"is already running as sweep {run_id}" in flat
        with pytest.raises(AlreadyRunningError, match=run_id):  # the same through the Python API
            Walker.run(SYMBOL, "farm-slow-sweep")
    finally:
        client.close()
        Walker.stop(SYMBOL, "farm-slow-sweep")
        assert first.wait(30) == 0 or first.returncode == 1  # stopped: a partial answer
    client = farm["server"].client()
    try:
        assert client.get(keys.walker_owner("farm-slow-sweep", SYMBOL)) is None  # freed at the end
    finally:
        client.close()


def test_results_as_a_frame_and_exported_from_redis_by_run_id(farm_url, farm, tmp_path):
    import pandas as pd

    from btfarm.shared.schemas import sweep
    from btfarm.shared.stats import BacktestStatistics
    from btfarm.shared.store import keys

    add_local_only_walker(
        "farm-export",
        ["farm-local-only", sweep("farm-sma", fast=[5, 10], slow=[20, 30]), "farm-pullback"],
        min_trades=3,
    )
    list(Walker.run(SYMBOL, "farm-export"))
    data = Walker.get_data(SYMBOL, "farm-export")
    frame = data.to_frame()
    assert list(frame["strategy_name"]) == list(
        data.variants
    )  # every variant, in the sweep's order
    assert len(frame) == 6 and set(frame["symbol"]) == {SYMBOL}
    assert {"fast", "slow", *BacktestStatistics.model_fields} <= set(frame.columns)
    failed = frame.set_index("strategy_name").loc["farm-local-only"]
    assert failed["status"] == "failed" and "not registered on worker" in failed["reason"]
    ranked = frame[frame["ranked"]].sort_values("rank")
    assert list(ranked["strategy_name"]) == [s.strategy_name for s in data.strategies]
    for row, hit in zip(ranked.itertuples(), data.strategies, strict=True):
        for field, value in hit.stats.model_dump().items():
            cell = getattr(row, field)
            assert (value is None and pd.isna(cell)) or cell == value, (row.strategy_name, field)
        if hit.params:
            assert (row.fast, row.slow) == (hit.params["fast"], hit.params["slow"])
    unranked = frame[(frame["status"] == "done") & ~frame["ranked"]]
    assert set(unranked["strategy_name"]) == set(
        data.unranked
    )  # fewer than min_trades: listed, why given
    assert all("min_trades=3" in why for why in unranked["reason"])

    out = tmp_path / "sweep.parquet"
    done = cli(farm_url, "walker", "export", data.run_id, str(out))
    assert done.returncode == 0, done.stderr
    assert f"6 variants of sweep {data.run_id}" in done.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame, check_dtype=False)
    assert (
        cli(farm_url, "walker", "export", data.run_id, str(tmp_path / "sweep.csv")).returncode == 0
    )
    assert list(pd.read_csv(tmp_path / "sweep.csv")["strategy_name"]) == list(
        frame["strategy_name"]
    )

    client = farm["server"].client()
    try:  # results Redis no longer holds are rows that say so
        client.delete(keys.walker_results(data.run_id))
    finally:
        client.close()
    Walker.export(data.run_id, tmp_path / "partial.parquet")
    partial = pd.read_parquet(tmp_path / "partial.parquet").set_index("strategy_name")
    assert set(partial["status"]) == {"missing"} and len(partial) == 6
    unknown = cli(farm_url, "walker", "export", "0000000000000000", str(out))
    assert unknown.returncode == 2 and "no sweep '0000000000000000'" in unknown.stderr


def _independent_daily(walker_name: str) -> dict[str, list[float]]:
    """Each variant backtested here, its closed signals' PnL summed per day by hand."""
    from btfarm.shared.frames import frame_bounds

    start, end = frame_bounds(get_frame(get_walker(walker_name).frame_name))
    days = -(-(end - start) // 86_400_000)
    out = {}
    for name, run in variant_runs(walker_name, SYMBOL):
        daily = [0.0] * days
        for closed in run.run():
            daily[min((closed["close_timestamp"] - start) // 86_400_000, days - 1)] += closed[
                "pnl"
            ]["pnl_percentage"]
        out[name] = daily
    return out


def test_a_farm_sweep_reports_how_far_its_winner_can_be_trusted(farm_url, tmp_path):
    """Deflated Sharpe ratio and PBO from the workers' PnL per day equal the same figures
    computed here from closed signals; the strict walker's thresholds refuse its winner."""
    import statistics

    from btfarm.shared import overfitting
    from tests.unit.test_overfitting import _pbo_by_definition

    for _ in Walker.run(SYMBOL, "farm-strict"):
        pass
    data = Walker.get_data(SYMBOL, "farm-strict")
    daily = _independent_daily("farm-strict")
    ranked = [s.strategy_name for s in data.strategies]
    sharpes = {n: statistics.mean(daily[n]) / statistics.stdev(daily[n]) for n in ranked}
    variance = statistics.variance(sharpes.values())
    sr0 = overfitting.expected_max_sharpe(len(ranked), variance)
    winner = ranked[0]
    x = daily[winner]
    mean = statistics.fmean(x)
    m2, m3, m4 = (statistics.fmean([(v - mean) ** k for v in x]) for k in (2, 3, 4))
    skew, kurtosis = m3 / m2**1.5, m4 / m2**2
    sr = sharpes[winner]
    dsr = statistics.NormalDist().cdf(
        (sr - sr0) * (len(x) - 1) ** 0.5 / (1 - skew * sr + (kurtosis - 1) / 4 * sr * sr) ** 0.5
    )
    figures = data.trust
    assert (figures.trials, figures.days, figures.winner) == (24, 10, winner)
    assert figures.trial_sharpe_variance == pytest.approx(variance, rel=1e-6)
    assert figures.expected_max_sharpe == pytest.approx(sr0, rel=1e-6)
    assert figures.winner_daily_sharpe == pytest.approx(sr, rel=1e-6)
    assert figures.deflated_sharpe == pytest.approx(dsr, abs=1e-6)
    import numpy as np

    assert figures.pbo == pytest.approx(
        _pbo_by_definition(np.array([daily[n] for n in ranked]).T, 4)
    )
    assert figures.pbo_splits == 6 and figures.missing == {}
    assert {s.strategy_name: s.daily_sharpe for s in data.strategies} == pytest.approx(
        sharpes, rel=1e-6
    )

    # min_dsr=0.999 and max_pbo=0: no winner is named, and everyone is told why
    assert data.best_strategy is None and data.best_metric is None
    assert data.refused.startswith(
        f"{winner} is not named the winner: its deflated Sharpe ratio is "
    )
    report = Walker.get_report(SYMBOL, "farm-strict")
    assert (
        "## Can the winner be trusted?" in report
        and f"- Best: none: {winner}" in report.replace("\\", "")
    )
    assert "★" not in report
    frame = data.to_frame()
    assert frame.set_index("strategy_name").loc[winner, "deflated_sharpe"] == pytest.approx(
        dsr, abs=1e-6
    )
    done = cli(
        farm_url,
        "walker",
        "tests.farm_strategies",
        "farm-strict",
        "--symbol",
        SYMBOL,
        "--no-dump",
        timeout=90,
    )
    assert done.returncode == 1, done.stderr
    assert "refused:" in done.stderr and "deflated Sharpe ratio" in done.stdout
    # on two symbols: ranked across them, but no best named where a symbol's winner is refused
    both = cli(
        farm_url,
        "walker",
        "tests.farm_strategies",
        "farm-strict",
        "--symbol",
        f"{SYMBOL},ETHUSDT",
        "--no-dump",
        timeout=120,
    )
    assert both.returncode == 1, both.stderr
    assert "refused:" in both.stderr and "is not named the best across symbols" in both.stderr


def test_a_walker_on_two_symbols_runs_a_sweep_each_and_ranks_across_them(farm_url):
    from btfarm.orchestrator.state_client import state
    from btfarm.shared.store import keys

    other = "ETHUSDT"
    progress = list(Walker.run([SYMBOL, other], "farm-sweep"))
    assert sorted(p.symbol for p in progress) == [SYMBOL] * 25 + [other] * 25
    data = Walker.get_data([SYMBOL, other], "farm-sweep")
    assert data.symbols == [SYMBOL, other]
    # each symbol is a sweep of its own: its own run id and plan, equal to its backtests here
    for symbol in (SYMBOL, other):
        one = data.per_symbol[symbol]
        assert one == Walker.get_data(symbol, "farm-sweep")
        assert Walker.plan_of(one.run_id).symbol == symbol
        expected = in_process_stats("farm-sweep", symbol)
        assert {s.strategy_name: s.stats.model_dump(mode="json") for s in one.strategies} == {
            n: s for n, s in expected.items() if s["total_signals"]
        }
    assert data.per_symbol[SYMBOL].run_id != data.per_symbol[other].run_id
    # the ranking across symbols, computed here from the two tables
    metric = {
        s: {r.strategy_name: r.metric_value for r in data.per_symbol[s].strategies}
        for s in data.symbols
    }
    common = [
        n for n in data.per_symbol[SYMBOL].variants if all(n in metric[s] for s in data.symbols)
    ]
    complete = [n for n in common if all(metric[s][n] is not None for s in data.symbols)]
    assert len(complete) >= 10  # enough trades for a Sharpe ratio on both symbols
    expected_rows = sorted(
        (
            (
                sum(metric[s][n] for s in data.symbols) / 2,
                min(metric[s][n] for s in data.symbols),
                n,
            )
            for n in complete
        ),
        key=lambda row: (-row[0], -row[1], common.index(row[2])),
    )
    expected_rows += [
        (None, None, n) for n in common if n not in complete
    ]  # no mean: last, in walker order
    # approx per number: pytest >= 9.2 refuses approx over nested data (a list of tuples)
    got_rows = [(r.mean_metric, r.worst_metric, r.strategy_name) for r in data.ranking]
    assert [row[2] for row in got_rows] == [row[2] for row in expected_rows]
    assert [row[:2] for row in got_rows] == [
        (None, None) if mean is None else (pytest.approx(mean), pytest.approx(worst))
        for mean, worst, _ in expected_rows
    ]
    assert [r.wins for r in data.ranking] == [
        sum(data.per_symbol[s].best_strategy == r.strategy_name for s in data.symbols)
        for r in data.ranking
    ]
    assert data.best_strategy == data.ranking[0].strategy_name
    assert len(data.to_frame()) == 50 and set(data.to_frame()["symbol"]) == {SYMBOL, other}
    assert "## Across symbols" in Walker.get_report([SYMBOL, other], "farm-sweep")

    # a symbol another run holds refuses the whole call, and frees what it claimed
    client = state()
    client.set(keys.walker_owner("farm-sweep", other), "someone-else", ex=60)
    try:
        with pytest.raises(AlreadyRunningError, match="someone-else"):
            Walker.run([SYMBOL, other], "farm-sweep")
        assert client.get(keys.walker_owner("farm-sweep", SYMBOL)) is None
    finally:
        client.delete(keys.walker_owner("farm-sweep", other))

    done = cli(
        farm_url,
        "walker",
        "tests.farm_strategies",
        "farm-sweep",
        "--symbol",
        f"{SYMBOL},{other}",
        "--no-dump",
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert f"farm-sweep on {SYMBOL}, {other}: {len(data.ranking)} variants compared" in done.stdout


def test_a_search_runs_its_trials_on_the_farm_and_resumes_its_study(farm_url):
    import optuna

    from btfarm.orchestrator.searches.journal import open_storage
    from btfarm.orchestrator.state_client import state
    from btfarm.shared.registry import add_walker
    from btfarm.shared.search_space import search
    from btfarm.shared.store import keys

    progress = list(Walker.run(SYMBOL, "farm-search"))
    assert [p.strategies_tested for p in progress] == list(range(1, 9))
    assert {p.total_strategies for p in progress} == {8} and {p.walker_name for p in progress} == {
        "farm-search"
    }
    data = Walker.get_data(SYMBOL, "farm-search")
    assert data.strategies_tested == 8 and len(data.search_trials) == 8 and data.resumed == 0
    params = [p for _, p in data.variants.values()]
    assert all(p["fast"] < p["slow"] for p in params)  # the constraint held: nothing else ran
    assert len({(p["fast"], p["slow"]) for p in params}) == 8  # no trial ran twice

    # every trial equals its backtest here
    exchange, frame = get_exchange("farm-market"), get_frame("farm-2d")
    candles = load_frame_candles(exchange, frame, SYMBOL)
    for name, (base, p) in data.variants.items():
        run = BacktestRun(
            get_strategy(base), exchange, frame, SYMBOL, candles, params=p, strategy_name=name
        )
        expected = json.loads(json.dumps(compute_statistics(run.run()).model_dump(mode="json")))
        got = (
            next((s.stats for s in data.strategies if s.strategy_name == name), None)
            or data.unranked.get(name, (None, None))[1]
        )
        assert got.model_dump(mode="json") == expected, name

    # the study is in the farm's Redis, each trial told its metric
    study_name = data.search_spec.rsplit("study ", 1)[1]
    storage = open_storage(state(), study_name)  # JSON journal lines under btfarm's prefix
    told = {
        t.user_attrs["variant"]: t.value
        for t in optuna.load_study(study_name=study_name, storage=storage).trials
        if t.user_attrs.get("evaluated")
    }
    assert told == {s.strategy_name: s.metric_value for s in data.strategies} | {
        n: None for n in data.unranked
    }

    # twelve trials now: the eight read back, four more run (one batch)
    add_walker(
        walker_name="farm-search",
        exchange_name="farm-market",
        frame_name="farm-2d",
        min_trades=1,
        strategies=[
            search(
                "farm-sma",
                n_trials=12,
                seed=3,
                batch=4,
                fast=(3, 20),
                slow=(10, 40),
                constraint=lambda p: p["fast"] < p["slow"],
            )
        ],
        override=True,
    )
    try:
        again = list(Walker.run(SYMBOL, "farm-search"))
        more = Walker.get_data(SYMBOL, "farm-search")
        assert [p.strategies_tested for p in again] == list(range(1, 13)) and more.resumed == 8
        assert list(more.variants)[:8] == list(data.variants)
        assert (
            Walker.get_data(SYMBOL, "farm-search.trials").total_strategies == 4
        )  # only the new ones ran
        # the search's own id is no sweep: a resume of it says how a search goes on
        with pytest.raises(
            NotFoundError,
            match=r"is the run of a search \(walker 'farm-search' on "
            r"BTCUSDT\).*run the walker again",
        ):
            Walker.resume(more.run_id)
        done = cli(
            farm_url,
            "walker",
            "tests.farm_strategies",
            "farm-search",
            "--symbol",
            SYMBOL,
            "--no-dump",
            timeout=90,
        )
        assert done.returncode == 0, done.stderr
        assert "search farm-search: 12 trials read back from its study, 0 run now" in done.stderr
        assert "resumed sweep" not in done.stderr
        farm_strategies.register()  # n_trials back to 8, with 12 in the study: 12 of 12, never 12 of 8
        items = list(Walker.run(SYMBOL, "farm-search"))
        assert [(p.strategies_tested, p.total_strategies) for p in items] == [
            (k, 12) for k in range(1, 13)
        ]

        # another orchestrator holding the walker refuses the search before it asks anything
        state().set(keys.walker_owner("farm-search", SYMBOL), "someone-else", ex=60)
        with pytest.raises(AlreadyRunningError, match="someone-else"):
            Walker.run(SYMBOL, "farm-search")
    finally:
        state().delete(keys.walker_owner("farm-search", SYMBOL))
        farm_strategies.register()


def test_walk_forward_trains_every_window_together_and_tests_each_winner_on_the_next(farm_url):
    progress = Walker.run(SYMBOL, "farm-wf")
    names = [f"farm-wf.wf{k}" for k in range(3)]
    # every window's training sweep was started before the first result is read
    assert all(Walker.instance(SYMBOL, n).task is not None for n in names)
    items = list(progress)
    assert sorted({p.walker_name for p in items}) == names and len(items) == 3 * 7
    data = Walker.get_data(SYMBOL, "farm-wf")
    exchange = get_exchange("farm-market")
    closed_all, both = [], []
    for k, (name, row) in enumerate(zip(names, data.windows, strict=True)):
        walker = get_walker(name)
        train = get_frame(walker.frame_name)  # a window of farm-10d: the workers resolved it too
        assert (row.window, row.train, row.walker_name) == (k, train.frame_name, name)
        expected = {
            n: compute_statistics(run.run()).model_dump(mode="json")
            for n, run in variant_runs(name, SYMBOL)
        }
        window = Walker.get_data(SYMBOL, name)
        assert {s.strategy_name: s.stats.model_dump(mode="json") for s in window.strategies} == {
            n: s for n, s in expected.items() if s["total_signals"]
        }
        winner = rank([(n, s) for n, s in expected.items() if s["total_signals"]], "total_pnl")[0][
            0
        ]
        assert row.winner == winner and row.in_sample == pytest.approx(
            expected[winner]["total_pnl"]
        )
        # out of sample: the winner backtested here on the test window that follows
        test = get_frame(row.test)
        assert test.start_date > train.end_date
        base, params = window.variants[winner]
        run = BacktestRun(
            get_strategy(base),
            exchange,
            test,
            SYMBOL,
            load_frame_candles(exchange, test, SYMBOL),
            params=params,
            strategy_name=winner,
        )
        closed = run.run()
        closed_all += closed
        assert row.oos_stats == compute_statistics(closed)
        assert row.out_of_sample == compute_statistics(closed).total_pnl
        both.append((row.in_sample, row.out_of_sample))
    assert data.stitched == compute_statistics(closed_all)
    mean_is = sum(i for i, _ in both) / 3
    expected_efficiency = sum(o for _, o in both) / 3 / mean_is if mean_is > 0 else None
    assert data.efficiency == (
        pytest.approx(expected_efficiency) if expected_efficiency is not None else None
    )
    report = Walker.get_report(SYMBOL, "farm-wf")
    assert (
        "# Walk-forward: farm-wf" in report
        and report.count("| farm-wf.wf") == 0
        and len(data.windows) == 3
    )

    done = cli(
        farm_url,
        "walker",
        "tests.farm_strategies",
        "farm-wf",
        "--symbol",
        SYMBOL,
        "--no-dump",
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("window ") == 3 and "walk-forward efficiency" in done.stdout


def test_a_stopped_search_ends_with_its_batch_and_the_next_run_goes_on_from_it(farm_url):
    from btfarm.shared.registry import add_walker
    from btfarm.shared.search_space import search

    # farm-slow on two days: ~1 s a trial, so the stop lands while the first batch runs
    add_walker(
        walker_name="farm-slow-search",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=[search("farm-slow", n_trials=8, seed=5, batch=4, fast=(3, 20), slow=(21, 60))],
        override=True,
    )
    progress = Walker.run(SYMBOL, "farm-slow-search")
    first = next(progress)
    Walker.stop(SYMBOL, "farm-slow-search")
    rest = list(progress)  # ends: the running batch stops at its next check, no new batch is asked
    stopped = Walker.get_data(SYMBOL, "farm-slow-search")
    assert stopped.stopped and first.strategies_tested == 1
    assert 1 <= len(stopped.search_trials) < 8 and len(rest) + 1 >= len(stopped.search_trials)
    (status,) = [r for r in Walker.list() if r["walker_name"] == "farm-slow-search"]
    assert status["outcome"] == "stopped"

    again = list(Walker.run(SYMBOL, "farm-slow-search"))
    done = Walker.get_data(SYMBOL, "farm-slow-search")
    assert done.resumed == len(stopped.search_trials) and len(done.search_trials) == 8
    assert [p.strategies_tested for p in again] == list(range(1, 9))
    assert list(done.variants)[: len(stopped.search_trials)] == list(stopped.variants)
    assert not done.stopped

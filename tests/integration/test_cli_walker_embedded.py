"""``btfarm walker`` on a fresh machine: no server configured, the embedded
Redis and a local worker pool started and stopped by the command itself."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from tests.support.celery_workers import REPO
from tests.support.processes import farm_processes_under, is_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _processes_under(folder) -> list[str]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        line = " ".join(p.info["cmdline"] or ())
        if str(folder) in line and ("redis" in line or is_worker(line)):
            found.append(f"{p.pid} {line}")
    return found


def test_btfarm_walker_runs_the_demo_sweep_embedded_and_leaves_no_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update({"PYTHONPATH": str(REPO), "COLUMNS": "120", "BTFARM_LOCAL_WORKERS": "2"})
    done = subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "walker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "25/25" in done.stderr  # the progress bar reached the end
    assert "demo-sweep on BTCUSDT: 25/25 tested" in done.stdout
    assert "sma-cross[fast=" in done.stdout  # variant names are not eaten as markup
    report = tmp_path / "dump" / "walker" / "demo-sweep.md"
    assert report.exists() and "# Walker: demo-sweep on BTCUSDT" in report.read_text()
    assert (tmp_path / ".btfarm" / "workers").is_dir()  # the local pool ran here
    assert _processes_under(tmp_path) == []


def test_btfarm_walker_on_three_symbols_shares_one_local_pool_and_ranks_across_them(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update({"PYTHONPATH": str(REPO), "COLUMNS": "200", "BTFARM_LOCAL_WORKERS": "2"})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            "--symbol",
            "BTCUSDT,ETHUSDT,SOLUSDT",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "75/75" in done.stderr  # one bar over the three sweeps
    assert "24 variants compared across symbols by the mean sharpe_ratio" in done.stdout
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert f"{symbol}: best " in done.stdout and f"{symbol}: sweep " in done.stderr
        assert (tmp_path / "dump" / "walker" / f"demo-sweep.{symbol}.md").exists()
    report = (tmp_path / "dump" / "walker" / "demo-sweep.symbols.md").read_text()
    assert "## Across symbols" in report and "[ETHUSDT](demo-sweep.ETHUSDT.md)" in report
    assert not (
        tmp_path / "dump" / "walker" / "demo-sweep.md"
    ).exists()  # the one-symbol report's name
    # the three sweeps ran side by side on one pool (each log file is one pool started)
    assert len(list((tmp_path / ".btfarm" / "workers").glob("btfarm-local-*.log"))) == 1
    assert _processes_under(tmp_path) == []


def test_a_local_pool_that_cannot_start_fails_the_run_with_its_reason(tmp_path, monkeypatch):
    from btfarm.orchestrator import Walker
    from btfarm.orchestrator.state_client import reset_state
    from btfarm.shared.demo import register_demo
    from btfarm.shared.errors import ConfigError
    from btfarm.shared.settings import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BTFARM_IMPORTS", "no_such_strategies_module")
    monkeypatch.setenv("BTFARM_LOCAL_WORKERS", "1")
    get_settings.cache_clear()
    reset_state()
    register_demo()
    try:
        with pytest.raises(
            ConfigError, match=r"(?s)local worker pool exited.*no_such_strategies_module"
        ):
            list(Walker.run("BTCUSDT", "demo-sweep"))
    finally:
        reset_state()
    assert _processes_under(tmp_path) == []


def embedded_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(
        BTFARM_STATE_DIR=str(tmp_path / "state"),
        BTFARM_DUMP_DIR=str(tmp_path / "dump"),
        BTFARM_LOCAL_WORKERS="1",
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


@contextlib.contextmanager
def slow_sweep_running(tmp_path) -> Iterator[subprocess.Popen]:
    """``btfarm walker`` on a slow sweep, embedded, once its local worker runs; killed after."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            "tests.farm_strategies",
            "farm-slow-sweep",
            "--no-dump",
        ],
        cwd=tmp_path,
        env=embedded_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: any(is_worker(" ".join(p.cmdline())) for p in farm_processes_under(tmp_path)),
            60,
            "the local worker to start",
        )
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_btfarm_walker_cleans_up_like_ctrl_c(tmp_path, signum):
    with slow_sweep_running(tmp_path) as proc:
        proc.send_signal(signum)
        proc.wait(60)
        wait_for(
            lambda: not farm_processes_under(tmp_path), 20, "the local worker and Redis to be gone"
        )
    assert farm_processes_under(tmp_path) == []


def test_the_local_worker_and_redis_exit_when_the_orchestrator_is_killed(tmp_path):
    with slow_sweep_running(tmp_path) as proc:
        wait_for(
            lambda: list((tmp_path / "state" / "workers").glob("*.log")), 10, "the worker's log"
        )
        proc.kill()  # SIGKILL: no cleanup of its own runs
        proc.wait(10)
        wait_for(
            lambda: not farm_processes_under(tmp_path), 45, "the local worker and Redis to notice"
        )
    assert farm_processes_under(tmp_path) == []


def test_a_local_worker_that_never_becomes_ready_fails_the_run_in_time(tmp_path):
    module = tmp_path / "hangs_in_the_worker.py"
    module.write_text(
        "import os, time\nimport tests.farm_strategies  # noqa: F401\n"
        "if os.environ.get('BTFARM_PARENT_PID'):  # only in the local worker\n"
        "    time.sleep(300)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            str(module),
            "farm-small",
            "--no-dump",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        env=embedded_env(tmp_path, BTFARM_LOCAL_WORKER_START_SECONDS="3"),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    flat = " ".join(done.stderr.split())
    assert (
        "the local worker did not become ready within 3 s (BTFARM_LOCAL_WORKER_START_SECONDS"
        in flat
    )
    assert farm_processes_under(tmp_path) == []


def test_btfarm_walker_says_when_a_search_ran_out_of_new_params(tmp_path):
    module = tmp_path / "tiny_search.py"
    module.write_text(
        "from btfarm.orchestrator import add_walker, search\n"
        "from btfarm.shared.demo import register_demo\n"
        "register_demo()\n"
        "add_walker(walker_name='tiny-search', exchange_name='synthetic', frame_name='demo-30d',\n"
        "           strategies=[search('sma-cross', n_trials=10, seed=1, sampler='random', fast=(5, 6),\n"
        "                              slow=[30])])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update({"PYTHONPATH": str(REPO), "COLUMNS": "200", "BTFARM_LOCAL_WORKERS": "1"})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            str(module),
            "tiny-search",
            "--no-dump",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tiny-search on BTCUSDT: 2/2 tested" in done.stdout  # the space has two points
    assert "the search ended early: the sampler offered no new params" in done.stderr
    assert "2 of 10 trials ran" in done.stderr
    assert _processes_under(tmp_path) == []


@pytest.mark.parametrize("own", [None, "3"])
def test_a_local_worker_runs_numeric_libraries_on_one_thread_unless_told_otherwise(
    tmp_path, monkeypatch, redis_server, own
):
    import psutil

    from btfarm.orchestrator.sweeps.local_pool import LocalPool
    from btfarm.shared.settings import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BTFARM_STATE_DIR", str(tmp_path / "state"))
    if own is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", own)
    get_settings.cache_clear()
    with LocalPool(redis_server.url, processes=1) as pool:
        environ = psutil.Process(pool.pid).environ()
        # (OpenBLAS's own thread per core spins ~0.1 s at numpy's import: 120 ms of a worker's start)
        assert environ["OPENBLAS_NUM_THREADS"] == (own or "1")
        assert environ["MKL_NUM_THREADS"] == "1"
        assert environ.get("OMP_NUM_THREADS") == os.environ.get(
            "OMP_NUM_THREADS"
        )  # pyarrow's pool: as given
    get_settings.cache_clear()

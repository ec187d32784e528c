"""``btfarm walker`` on a fresh machine: no server configured, the embedded
Redis and a local worker pool started and stopped by the command itself."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from tests.support.celery_workers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _processes_under(folder) -> list[str]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        line = " ".join(p.info["cmdline"] or ())
        if str(folder) in line and ("celery" in line or "redis" in line):
            found.append(f"{p.pid} {line}")
    return found


def test_btfarm_walker_runs_the_demo_sweep_embedded_and_leaves_no_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update({"PYTHONPATH": str(REPO), "COLUMNS": "120", "BTFARM_LOCAL_WORKERS": "2"})
    done = subprocess.run([sys.executable, "-m", "btfarm.orchestrator.cli", "walker"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "25/25" in done.stderr  # the progress bar reached the end
    assert "demo-sweep on BTCUSDT: 25/25 tested" in done.stdout
    assert "sma-cross[fast=" in done.stdout  # variant names are not eaten as markup
    report = tmp_path / "dump" / "walker" / "demo-sweep.md"
    assert report.exists() and "# Walker: demo-sweep on BTCUSDT" in report.read_text()
    assert (tmp_path / ".btfarm" / "workers").is_dir()  # the local pool ran here
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
        with pytest.raises(ConfigError, match=r"(?s)local worker pool exited.*no_such_strategies_module"):
            list(Walker.run("BTCUSDT", "demo-sweep"))
    finally:
        reset_state()
    assert _processes_under(tmp_path) == []

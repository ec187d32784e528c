"""Two strategy modules that both register one market and one frame (issue 34.2): ``btfarm
walker`` imports both, so does its real local worker, and the sweep runs to the end. Before,
the second import raised "already registered": the CLI exited, and a farm worker died at
start while the walker waited."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.integration.test_cli_walker_embedded import embedded_env
from tests.support.processes import farm_processes_under

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

SHARED = """
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.exchanges import synthetic_exchange
from btfarm.shared.registry import add_exchange, add_frame, add_strategy, add_walker

# the market and the week both modules use, written out in each
add_exchange(synthetic_exchange("shared-market", seed=3))
add_frame(frame_name="shared-week", interval="1m", start_date="2024-03-01", end_date="2024-03-07T23:59:00Z")
add_strategy(strategy_name="{strategy}", interval="5m", get_signal=sma_cross_signal, params={{"fast": {fast}}})
"""


def test_a_walker_over_two_modules_sharing_an_exchange_and_a_frame_runs_on_a_real_worker(tmp_path):
    (tmp_path / "trend_one.py").write_text(
        textwrap.dedent(SHARED.format(strategy="sma-one", fast=5))
    )
    (tmp_path / "trend_two.py").write_text(
        textwrap.dedent(SHARED.format(strategy="sma-two", fast=8))
        + (
            'add_walker(walker_name="shared-sweep", exchange_name="shared-market", frame_name="shared-week",\n'
            '           strategies=["sma-one", "sma-two"])\n'
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            "trend_two.py",
            "shared-sweep",
            "--import",
            "trend_one.py",
            "--no-dump",
        ],
        cwd=tmp_path,
        env=embedded_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already registered" not in done.stdout + done.stderr
    assert "shared-sweep on BTCUSDT: 2/2 tested, 2 ranked" in " ".join(done.stdout.split())
    worker_logs = list((tmp_path / "state" / "workers").glob("*.log"))
    assert worker_logs, "the sweep ran on the local worker"
    assert farm_processes_under(tmp_path) == []

"""``btfarm backtest`` (the real CLI, its own process, the embedded Redis) on a strategy whose
get_signal raises: each error names the file and line of the raise, and a run where no call
gave a signal exits 1 (it exited 0 with an empty report); one that raised now and then but
traded still exits 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.support.celery_workers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MODULE = """
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.exchanges import synthetic_exchange
from btfarm.shared.registry import add_exchange, add_frame, add_strategy

add_exchange(synthetic_exchange("synthetic"))
add_frame(frame_name="two-days", interval="1m", start_date="2024-03-01", end_date="2024-03-02T23:59:00Z")


def always_raises(symbol, when):
    params = {}
    return params["fast"]  # RAISES


def raises_on_the_hour(symbol, when):
    if when.minute == 0:
        raise ValueError("top of the hour")  # SOMETIMES
    return sma_cross_signal(symbol, when)


add_strategy(strategy_name="always-raises", interval="5m", get_signal=always_raises)
add_strategy(strategy_name="sometimes-raises", interval="5m", get_signal=raises_on_the_hour)
"""


def backtest(tmp_path, strategy: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(
        PYTHONPATH=str(REPO),
        COLUMNS="200",
        BTFARM_STATE_DIR=str(tmp_path / "state"),
        BTFARM_DUMP_DIR=str(tmp_path / "dump"),
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "backtest",
            "raising.py",
            "--symbol",
            "BTCUSDT",
            "--strategy",
            strategy,
            "--exchange",
            "synthetic",
            "--frame",
            "two-days",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )


def line_of(marker: str) -> int:
    return next(
        i for i, line in enumerate(textwrap.dedent(MODULE).splitlines(), start=1) if marker in line
    )


def test_a_backtest_whose_every_call_raised_fails_naming_the_line(tmp_path):
    (tmp_path / "raising.py").write_text(textwrap.dedent(MODULE))
    done = backtest(tmp_path, "always-raises")
    flat = " ".join(done.stderr.split())
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"get_signal raised KeyError at raising.py:{line_of('# RAISES')}: 'fast'" in flat
    assert "error: get_signal of always-raises raised " in flat and "no call gave a signal" in flat

    sometimes = backtest(tmp_path, "sometimes-raises")
    assert sometimes.returncode == 0, sometimes.stdout + sometimes.stderr
    assert (
        f"get_signal raised ValueError at raising.py:{line_of('# SOMETIMES')}: top of the hour"
        in " ".join(sometimes.stderr.split())
    )
    assert "no call gave a signal" not in sometimes.stderr
    closed = re.search(r"(\d+) closed signals; report:", sometimes.stdout)
    assert closed and int(closed.group(1)) > 0, sometimes.stdout  # it traded between its raises

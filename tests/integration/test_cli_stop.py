"""``btfarm stop`` (the real CLI, in its own process, on a real redis-server): a run the state
store does not know is an error naming the close matches, and exits non-zero (it said "stop
requested" and exited 0, while the misspelt run went on); a known running run gets its stop
flag; one that ended is told so."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from btfarm.shared.store import set_status
from btfarm.shared.store.stop_flags import is_stop_requested

pytestmark = pytest.mark.integration
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def btfarm(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(BTFARM_REDIS_URL=url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def runs(redis_client) -> None:
    set_status(redis_client, "walker", "BTCUSDT", "farm-slow-sweep", "running", progress=0.25)
    set_status(
        redis_client, "walker", "ETHUSDT", "farm-slow-sweep", "done", progress=1.0, outcome="done"
    )
    set_status(redis_client, "backtest", "BTCUSDT", "sma-cross", "running")


def test_stopping_a_run_nobody_knows_names_the_close_matches_and_fails(
    redis_server, redis_client, runs
):
    done = btfarm(redis_server.url, "stop", "walker", "BTCUSDT", "farm-slow-swep")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "stop requested" not in done.stdout
    line = " ".join(done.stderr.split())
    assert line.startswith(
        "error: no walker run BTCUSDT farm-slow-swep is known to the state store; "
        "nothing was stopped."
    ), line
    assert (
        'Did you mean "BTCUSDT farm-slow-sweep"' in line
    )  # the backtest of that symbol is no walker
    assert "sma-cross" not in line
    assert not is_stop_requested(redis_client, "walker", "BTCUSDT", "farm-slow-swep")


def test_stopping_in_a_mode_with_no_run_says_none_is_known(redis_server, redis_client, runs):
    done = btfarm(redis_server.url, "stop", "live", "BTCUSDT", "sma-cross")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "It knows no live run: `btfarm list` shows every run" in " ".join(done.stderr.split())


def test_a_running_run_is_asked_to_stop_and_an_ended_one_is_told_so(
    redis_server, redis_client, runs
):
    done = btfarm(redis_server.url, "stop", "walker", "BTCUSDT", "farm-slow-sweep")
    assert done.returncode == 0, done.stderr
    assert "stop requested for walker BTCUSDT:farm-slow-sweep" in done.stdout
    assert is_stop_requested(redis_client, "walker", "BTCUSDT", "farm-slow-sweep")

    ended = btfarm(redis_server.url, "stop", "walker", "ETHUSDT", "farm-slow-sweep")
    assert ended.returncode == 0, ended.stderr
    assert (
        "walker ETHUSDT:farm-slow-sweep is not running (it ended: done); nothing to stop"
        in ended.stdout
    )
    assert not is_stop_requested(redis_client, "walker", "ETHUSDT", "farm-slow-sweep")

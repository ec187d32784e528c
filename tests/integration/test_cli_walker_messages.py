"""What ``btfarm walker`` says when something is wrong (issue 34.2), the real CLI in its own
process: an export of a sweep nobody stored names export (it said "needed by Walker.resume");
a symbol the data lacks, when --symbol was not given, says BTCUSDT was the default; variants
that failed alike make one line naming their strategy (it said "VARIANT")."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.support.celery_workers import REPO
from tests.support.reference_data import SIM_CSV

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

MODULE = f"""
from btfarm.orchestrator import add_exchange, add_frame, add_strategy, add_walker, csv_exchange, sweep


def raiser(symbol, when):
    raise ValueError("no model loaded")


add_exchange(csv_exchange("files", files={{"SIMUSDT": {str(SIM_CSV)!r}}}))
add_frame(frame_name="jan-week", interval="1m", start_date="2025-01-02", end_date="2025-01-08T23:59:00Z")
add_strategy(strategy_name="raiser", interval="15m", get_signal=raiser, params={{"fast": 1}})
add_walker(walker_name="raisers", exchange_name="files", frame_name="jan-week",
           strategies=[sweep("raiser", fast=[1, 2, 3])])
"""


def btfarm(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    environ.update(
        PYTHONPATH=str(REPO),
        COLUMNS="200",
        BTFARM_STATE_DIR=str(tmp_path / "state"),
        BTFARM_DUMP_DIR=str(tmp_path / "dump"),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def module(tmp_path) -> str:
    (tmp_path / "raisers.py").write_text(textwrap.dedent(MODULE))
    return "raisers.py"


def test_exporting_a_sweep_nobody_stored_names_export(tmp_path, redis_server, redis_client):
    done = btfarm(
        tmp_path, "walker", "export", "nosuch", "out.csv", BTFARM_REDIS_URL=redis_server.url
    )
    assert done.returncode == 2, done.stdout + done.stderr
    flat = " ".join(done.stderr.split())
    assert "no sweep 'nosuch' is stored in Redis at" in flat and "(needed by Walker.export)" in flat
    assert "resume" not in flat
    assert not (tmp_path / "out.csv").exists()


def test_a_symbol_the_data_lacks_says_that_btcusdt_was_the_default(
    tmp_path, module, redis_server, redis_client
):
    done = btfarm(
        tmp_path, "walker", module, "raisers", "--no-dump", BTFARM_REDIS_URL=redis_server.url
    )
    assert done.returncode == 2, done.stdout + done.stderr
    flat = " ".join(done.stderr.split())
    assert 'exchange "files" has no candle file for BTCUSDT' in flat
    assert "(--symbol was not given, so it defaulted to BTCUSDT: pass --symbol SYMBOL" in flat

    named = btfarm(
        tmp_path,
        "walker",
        module,
        "raisers",
        "--symbol",
        "ETHUSDT",
        "--no-dump",
        BTFARM_REDIS_URL=redis_server.url,
    )
    assert named.returncode == 2 and "no candle file for ETHUSDT" in named.stderr
    assert "defaulted" not in named.stderr  # the user named it: nothing to explain


def test_variants_failing_alike_are_one_line_naming_their_strategy(tmp_path, module):
    done = btfarm(
        tmp_path,
        "walker",
        module,
        "raisers",
        "--symbol",
        "SIMUSDT",
        "--no-dump",
        BTFARM_LOCAL_WORKERS="1",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    flat = " ".join(done.stderr.split())
    assert "did not finish (3):" in flat
    assert '3 x failed: StrategyError: strategy "raiser[...]" on SIMUSDT at ' in flat, flat
    assert "get_signal raised ValueError at raisers.py:" in flat and "VARIANT" not in flat

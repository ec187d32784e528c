"""workers/malloc_tuning.py: with glibc's thresholds fixed, a fresh process's first
sweep page-faults a fraction of what it does with glibc's adaptive ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from btfarm.workers.malloc_tuning import fix_malloc_thresholds
from tests.unit.sim_data import GRID53

REPO = Path(__file__).resolve().parents[2]

# a fresh process backtests the first 20 grid53 variants as a worker child does
# (stats only, vectorised form) and prints the minor page faults they took
SWEEP = f"""
import resource, sys
from btfarm.workers.malloc_tuning import fix_malloc_thresholds
if sys.argv[1] == "fixed":
    assert fix_malloc_thresholds()
from btfarm.shared.demo import sma_cross_signal, sma_cross_signals
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.schemas import StrategySchema
from tests.unit.sim_data import load_sim
exchange, frame, candles = load_sim("malloc-sim")
strategy = StrategySchema(strategy_name="sma", interval="5m", get_signal=sma_cross_signal,
                          get_signals=sma_cross_signals)
def sweep(grid):
    for fast, slow in grid:
        run = BacktestRun(strategy, exchange, frame, "SIMUSDT", candles, params={{"fast": fast, "slow": slow}},
                          stats_only=True)
        for _ in run.steps(lambda: False):
            pass
        run.statistics()
sweep([(10, 30)])  # imports and first-call caches out of the count
from btfarm.shared import indicators
for length in {{n for pair in {GRID53[:20]!r} for n in pair}}:  # the shared means, kept for the sweep
    indicators.sma(candles, length)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
sweep({GRID53[:20]!r})
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* or GLIBC_TUNABLES from the caller
    done = subprocess.run([sys.executable, "-c", SWEEP, mode], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_fixed_thresholds_take_a_fraction_of_the_page_faults_of_a_fresh_process():
    adaptive, fixed = faults("adaptive"), faults("fixed")
    # (before the shared indicators, 728 vs 9,598: each variant's own cumulative sums were most
    # of the churn; with them shared the sweep churns less, and fixed thresholds still halve it)
    assert fixed * 2 < adaptive, (fixed, adaptive)


def test_a_process_told_its_malloc_thresholds_keeps_them(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    assert fix_malloc_thresholds() is False

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
import numpy as np
from btfarm.shared import demo
from btfarm.shared.demo import sma_cross_signal
def sma_cross_signals(candles, price, params):
    # the demo's rule with its means computed per variant, as a user's strategy would (not shared
    # through btfarm.shared.indicators): the per-variant churn the thresholds are for
    fast, slow, shift = int(params["fast"]), int(params["slow"]), demo.SHIFT
    n, sums = len(candles), np.r_[0.0, np.cumsum(candles.close)]
    first = slow + shift
    def mean(back, length):
        return (sums[first - back:n - back] - sums[first - back - length:n - back - length]) / length
    side = np.zeros(n, dtype=np.int8)
    if n > first:
        fn, fb, sn, sb = mean(0, fast), mean(shift, fast), mean(0, slow), mean(shift, slow)
        side[first:][(fb <= sb) & (fn > sn)] = 1
        side[first:][(fb >= sb) & (fn < sn)] = -1
    return {{"position": side, "price_take_profit": price * (1 + side / 100),
            "price_stop_loss": price * (1 - side / 100), "minute_estimated_time": demo.EXPIRY_MINUTES}}
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.schemas import StrategySchema
import pandas as pd
from btfarm.shared.engine.backtest_run import load_frame_candles
from btfarm.shared.exchanges import dataframe_exchange
from tests.unit.sim_data import DATA, load_sim
_, frame, _ = load_sim("malloc-sim")
# candles from a DataFrame, as a ccxt or DataFrame exchange gives them (Parquet and CSV files are
# read by pyarrow into memory of its own, and a heap pandas has not grown shows no difference)
exchange = dataframe_exchange("malloc-df", {{"SIMUSDT": pd.read_csv(DATA)}})
candles = load_frame_candles(exchange, frame, "SIMUSDT")
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
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
sweep({GRID53[:20]!r})
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* or GLIBC_TUNABLES from the caller
    done = subprocess.run(
        [sys.executable, "-c", SWEEP, mode],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_fixed_thresholds_take_a_fraction_of_the_page_faults_of_a_fresh_process():
    adaptive, fixed = faults("adaptive"), faults("fixed")
    # ~290 fixed against 540-740 adaptive here (the adaptive count varies run to run); since a
    # sweep's runs share their frame's ticks (backtest_run._ticks_of), one allocation per variant
    # less churns on both sides (the ratio was above 3 before). Without the tuning they are equal.
    assert fixed * 1.5 < adaptive, (fixed, adaptive)


def test_a_process_told_its_malloc_thresholds_keeps_them(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    assert fix_malloc_thresholds() is False

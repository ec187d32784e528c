"""The single backtest as a user runs it: ``python bench/end_to_end.py [RUNS]``.

Each run is a fresh process that imports its library (not timed), then times
what a user's first call costs: btfarm's ``Backtest.run`` of the README
example (examples/sma_cross_5m.py: loading its CSV, the state store, events,
every closed signal built) against backtesting.py 0.6.6 reading the same CSV
and running the same rules (bench/peer_backtesting_py.py). The bench's
"single" case times the engines alone, candles already loaded; this is the
figure a user sees. Prints the medians (JSON) and their ratio.

btfarm keeps a CSV's parsed table (shared/exchanges/parsed_files.py) in the
state folder. Each of the RUNS rounds times, side by side, a first run in a
new state folder (it parses the CSV, as a user's very first backtest of a
file does: ``btfarm_first_run_s``), a second run in that folder (as a user's
next backtests of the file are: ``btfarm_backtest_run_s``), and
backtesting.py, which parses the CSV every run; each figure is the median
of its RUNS.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CSV = REPO / "examples" / "data" / "sim-30d-1m.csv"

BTFARM = """
import time
import examples.sma_cross_5m  # registers "sim", "sim-30d", "sma-cross-5m"
from btfarm.orchestrator import Backtest
started = time.perf_counter()
closed = list(Backtest.run("SIMUSDT", "sma-cross-5m", "sim", "sim-30d"))
print(time.perf_counter() - started, len(closed))
"""

PEER = f"""
import sys, time
sys.path.insert(0, {str(HERE)!r})
from peer_backtesting_py import backtest, load
started = time.perf_counter()
stats = backtest(load({str(CSV)!r})).run()
print(time.perf_counter() - started, stats["# Trades"])
"""


def timed(code: str, env: dict[str, str]) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"a run failed:\n{done.stderr[-2000:]}")
    seconds, trades = done.stdout.split()[-2:]
    return float(seconds), int(trades)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    sys.path.insert(0, str(HERE))
    from bytecode import compile_btfarm

    compile_btfarm()  # (the import is not timed, but a cold one is no user's second run either)
    firsts, ours, theirs = [], [], []
    with tempfile.TemporaryDirectory(prefix="btfarm-e2e-") as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
        env.update(PYTHONPATH=str(REPO), BTFARM_DUMP_DIR=str(Path(scratch) / "dump"))
        # each round side by side (the machine's speed drifts): a first run in a new state
        # folder (it parses the CSV), a second in the same folder, then backtesting.py
        for index in range(runs):
            env["BTFARM_STATE_DIR"] = str(Path(scratch) / f"state{index}")
            firsts.append(timed(BTFARM, env))
            ours.append(timed(BTFARM, env))
            if theirs is not None:
                try:
                    theirs.append(timed(PEER, env))
                except SystemExit as exc:
                    theirs = None
                    print(f"backtesting.py not run ({str(exc)[-200:]}); pip install -e '.[bench]'",
                          file=sys.stderr)
    btfarm_s = statistics.median(s for s, _ in ours)
    first_s = statistics.median(s for s, _ in firsts)
    out = {"runs": runs, "btfarm_backtest_run_s": round(btfarm_s, 4), "btfarm_trades": ours[0][1],
           "btfarm_first_run_s": round(first_s, 4)}
    if theirs:
        peer_s = statistics.median(s for s, _ in theirs)
        out.update(backtesting_py_run_s=round(peer_s, 4), backtesting_py_trades=theirs[0][1],
                   ratio=round(peer_s / btfarm_s, 1), ratio_first_run=round(peer_s / first_s, 1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

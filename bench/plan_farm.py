"""The plan sweep beside the plain one: ``python bench/plan_farm.py [ROUNDS]`` (default 3).

Issue 31 §2's bench: "year1000" (1,000 variants of the benchmark cross over a year of 1m
candles, bench/data/SIMUSDT.parquet from bench/make_year.py) and "year1000-plan" (the same
variants with a position plan: a trailing-stop ladder, a partial close at level 50 and
breakeven; bench/plan_strategies.py), each on 2 fresh workers and a fresh redis-server,
start-up included: timed from spawning the workers to the last result, as bench/farm.py times
its year cases. The two take turns, ROUNDS times each, so a slow spell of the machine hits
both alike; each sweep runs in a process of its own (``--one CASE``). Prints one JSON line per
sweep, then the medians with min-max and their ratio (the goal: the plan within 1.5x).
Everything started is stopped by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import farm  # noqa: E402  (its redis, worker and CPU helpers)

STRATEGIES = HERE / "plan_strategies.py"
CASES = ("year1000", "year1000-plan")
WORKERS = 2
SYMBOL = "SIMUSDT"


def plan_env(port: int) -> dict[str, str]:
    """farm.farm_env, with the workers importing bench/plan_strategies.py."""
    url = f"redis://127.0.0.1:{port}/0"
    os.environ.update(BTFARM_REDIS_URL=url, BTFARM_IMPORTS=str(STRATEGIES))
    from btfarm.workers.thread_env import worker_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(BTFARM_REDIS_URL=url, BTFARM_IMPORTS=str(STRATEGIES))
    return worker_env(env)


def one(case: str) -> dict:
    """One sweep of ``case`` on fresh workers, start-up included."""
    from bytecode import compile_btfarm

    compile_btfarm()
    logdir = Path(tempfile.mkdtemp(prefix="btfarm-plan-bench-"))
    server, port = farm.start_redis(logdir)
    env = plan_env(port)
    procs: list[subprocess.Popen] = []
    over = None
    try:
        import plan_strategies  # noqa: F401  registers the walkers here too

        from btfarm.orchestrator.walker import Walker

        started = time.monotonic()
        farm.start_workers(WORKERS, port, env, logdir, "plan", procs)
        over = farm.watch_workers(procs, logdir)  # the walker plans and submits while they boot
        for _ in Walker.run(SYMBOL, case):
            pass
        seconds = time.monotonic() - started
        data = Walker.get_data(SYMBOL, case)
        trades = [s.stats.total_signals for s in data.strategies]
        cpu = farm.pool_cpu_seconds(procs)
        return {
            "case": case,
            "seconds": round(seconds, 3),
            "variants": len(trades),
            "unfinished": len(data.unfinished),
            "mean_trades": round(statistics.fmean(trades), 1),
            "pool_cpu_ms_per_variant": round(cpu / max(len(trades), 1) * 1000, 3),
        }
    finally:
        if over is not None:
            over.set()  # the workers' exits that follow are ours
        for p in procs:
            farm.stop(p)
        farm.stop(server)
        shutil.rmtree(logdir, ignore_errors=True)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2])))
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if not farm_year_data():
        sys.exit("bench/data/SIMUSDT.parquet is missing: run python bench/make_year.py first")
    seen: dict[str, list[dict]] = {case: [] for case in CASES}
    for k in range(rounds):
        for case in CASES if k % 2 == 0 else CASES[::-1]:  # each goes first in turn
            done = subprocess.run(
                [sys.executable, __file__, "--one", case],
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if done.returncode != 0:
                sys.exit(f"{case} failed: {done.stderr.strip()[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(result), flush=True)
            seen[case].append(result)
    medians = {}
    for case, results in seen.items():
        seconds = [r["seconds"] for r in results]
        medians[case] = statistics.median(seconds)
        cpu = statistics.median(r["pool_cpu_ms_per_variant"] for r in results)
        print(
            f"{case}: median {medians[case]:.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f}, "
            f"{len(seconds)} runs), pool CPU {cpu:.2f} ms a variant, {results[0]['mean_trades']} trades a "
            f"variant, {results[0]['variants']} variants"
        )
    print(
        f"year1000-plan / year1000: {medians['year1000-plan'] / medians['year1000']:.2f}x (goal <= 1.5x)"
    )


def farm_year_data() -> bool:
    return (HERE / "data" / "SIMUSDT.parquet").exists()


if __name__ == "__main__":
    main()

"""How far one orchestrator and one Redis reach: ``python bench/reach.py [WORKERS] [CHUNK] [VARIANTS]``.

Sweeps ``REACH_VARIANTS`` variants of a strategy that never trades over one
day (bench/farm_strategies.py, walker "reach") through a private redis-server
and WORKERS real workers (default 2), in chunks of CHUNK variants (default
50: many chunks, as a big farm would have), and prints the orchestrator's
CPU and Redis' CPU per result, after an untimed warm-up sweep of 1,000
variants (walker "reach-warm": what a process does once, its imports, its
connections, the workers' candles, is not counted per result). At a variant
cost of C seconds, one orchestrator and one Redis feed about C / (their CPU
per result) worker processes: it prints that number at 3 ms and at 30 ms. It
also prints the orchestrator's peak RSS and Redis' peak memory:
``python bench/reach.py 2 1000 1000000`` is the million-variant case.
``BENCH_REACH_COMMANDS=1`` also prints Redis' time by command.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from farm import farm_env, start_redis, start_workers, stop, wait_for_workers  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    # a SIGTERM (e.g. from `timeout`) must still run the finally below, which stops what we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    if len(sys.argv) > 3:  # before farm_strategies is imported (here and by the workers)
        os.environ["BENCH_REACH_VARIANTS"] = sys.argv[3]
    logdir = Path(tempfile.mkdtemp(prefix="btfarm-reach-"))
    server, port = start_redis(logdir)
    env = farm_env(port)
    procs: list[subprocess.Popen] = []
    keep_logs = False
    try:
        import farm_strategies
        import redis

        from btfarm.orchestrator.walker import Walker
        from btfarm.workers import app

        wait_for_workers(
            app, start_workers(workers, port, env, logdir, "reach", procs), time.monotonic(), logdir
        )
        client = redis.Redis(port=port, decode_responses=True)

        def redis_cpu() -> float:
            info = client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        for _ in Walker.run("SIMUSDT", "reach-warm", chunk_size=chunk):
            pass
        client.config_resetstat()
        cpu0, redis0, wall0 = cpu_seconds(), redis_cpu(), time.perf_counter()
        last = None
        for progress in Walker.run("SIMUSDT", "reach", chunk_size=chunk):
            last = progress
        wall, cpu, rcpu = time.perf_counter() - wall0, cpu_seconds() - cpu0, redis_cpu() - redis0
        # the sweep's own figures: get_data of a million variants builds a million ranked rows
        results = last.strategies_tested if last is not None else 0
        if results == 0:  # no figure per result to give: say so instead of dividing by nothing
            keep_logs = True
            sys.exit(f"reach: no variant finished; the worker logs are kept in {logdir}")
        per_result = (cpu + rcpu) / results  # seconds of orchestrator and Redis CPU per result
        print(
            json.dumps(
                {
                    "variants": farm_strategies.REACH_VARIANTS,
                    "results": results,
                    "workers": workers,
                    "chunk": chunk,
                    "seconds": round(wall, 2),
                    "results_per_second": round(results / wall),
                    "orchestrator_cpu_us_per_result": round(cpu / results * 1e6, 1),
                    "redis_cpu_us_per_result": round(rcpu / results * 1e6, 1),
                    "farm_cpu_us_per_result": round(per_result * 1e6, 1),
                    "workers_fed_at_3ms": int(0.003 / per_result),
                    "workers_fed_at_30ms": int(0.030 / per_result),
                    "orchestrator_peak_rss_mb": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    ),
                    "redis_peak_memory_mb": round(
                        int(client.info("memory")["used_memory_peak"]) / 2**20
                    ),
                }
            )
        )
        if os.environ.get("BENCH_REACH_COMMANDS"):  # where Redis' CPU went, by command
            stats = sorted(client.info("commandstats").items(), key=lambda kv: -kv[1]["usec"])
            for name, stat in stats[:15]:
                print(
                    f"{name:>28} calls={stat['calls']:>8} usec={stat['usec']:>10} per_call={stat['usec_per_call']}"
                )
    finally:
        for p in procs:
            stop(p)
        stop(server)
        if not keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    main()

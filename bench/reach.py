"""How far one orchestrator and one Redis reach: ``python bench/reach.py [WORKERS] [CHUNK]``.

Sweeps ``REACH_VARIANTS`` variants of a strategy that never trades over one
day (bench/farm_strategies.py, walker "reach") through a private redis-server
and WORKERS real workers (default 2), in chunks of CHUNK variants (default
50: many chunks, as a big farm would have), and prints the orchestrator's
CPU and Redis' CPU per result. At a variant cost of C seconds, one
orchestrator and one Redis can feed about C / (their CPU per result)
worker processes.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from farm import READY_SECONDS, STRATEGIES, free_port, redis_binary, stop  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    logdir = Path(tempfile.mkdtemp(prefix="btfarm-reach-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(BTFARM_REDIS_URL=url, BTFARM_IMPORTS=str(STRATEGIES))
    os.environ.update(BTFARM_REDIS_URL=url, BTFARM_IMPORTS=str(STRATEGIES))
    server = subprocess.Popen([redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(logdir)], stdout=subprocess.DEVNULL,
                              start_new_session=True)
    procs: list[subprocess.Popen] = []
    try:
        import redis

        client = redis.Redis(port=port, decode_responses=True)
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # polling readiness with a deadline
        import farm_strategies

        from btfarm.orchestrator.walker import Walker
        from btfarm.workers import app

        names = [f"reach{i}-{port}@{socket.gethostname()}" for i in range(workers)]
        for index, name in enumerate(names):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "btfarm.workers", "worker", "--pool", "prefork", "-c", "1",
                 "-Q", "btfarm", "-n", name, "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
                 "--logfile", str(logdir / f"{index}.log")], env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        for name in names:
            while not app.control.ping(destination=[name], timeout=0.5):
                pass
        redis_cpu = lambda: sum(float(client.info("cpu")[k]) for k in ("used_cpu_user", "used_cpu_sys"))  # noqa: E731
        cpu0, redis0, wall0 = cpu_seconds(), redis_cpu(), time.perf_counter()
        for _ in Walker.run("SIMUSDT", "reach", chunk_size=chunk):
            pass
        wall, cpu, rcpu = time.perf_counter() - wall0, cpu_seconds() - cpu0, redis_cpu() - redis0
        results = Walker.get_data("SIMUSDT", "reach").strategies_tested
        print(json.dumps({"variants": farm_strategies.REACH_VARIANTS, "results": results, "workers": workers,
                          "chunk": chunk, "seconds": round(wall, 2), "results_per_second": round(results / wall),
                          "orchestrator_cpu_us_per_result": round(cpu / results * 1e6, 1),
                          "redis_cpu_us_per_result": round(rcpu / results * 1e6, 1)}))
    finally:
        for p in procs:
            stop(p)
        stop(server)


if __name__ == "__main__":
    main()

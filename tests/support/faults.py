"""The faults the reliability tests inject, as one small enumerated helper (STYLE 19).

Every fault acts on a process the test started, by PID; none sleeps: the
caller polls for what it waits on, with a deadline (``processes.wait_for``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import time

import psutil

from .celery_workers import CeleryWorker
from .redis_server import RedisServer

WORKER_FAULTS = ("child", "worker")  # kill -9 the pool process / the whole worker (main + pool)
# every worker gone: each killed (kill -9, no goodbye), or each exiting on its own when its
# broker Redis is at maxmemory (Celery's "Unrecoverable error: OutOfMemoryError")
WORKER_LOSSES = ("killed", "broker-full")
LOSS_TIMEOUT_SECONDS = 60.0  # for every worker to be gone


def kill_worker(worker: CeleryWorker, how: str) -> list[int]:
    """SIGKILL a Celery worker's pool process (``child``: the main process
    redelivers its task) or the whole worker (``worker``: nobody redelivers;
    the broker keeps the message until its visibility timeout). Returns the
    PIDs killed."""
    if how not in WORKER_FAULTS:
        raise ValueError(f"how must be one of {WORKER_FAULTS}, got {how!r}")
    main = psutil.Process(worker.pid)
    children = main.children(recursive=True)
    victims = (
        [c.pid for c in children] if how == "child" else [main.pid, *(c.pid for c in children)]
    )
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if how == "worker":
        worker.process.wait(timeout=10)
    return victims


def lose_every_worker(
    workers: list[CeleryWorker], how: str, broker: RedisServer | None = None
) -> None:
    """Every worker of the farm gone mid-sweep. ``killed``: each whole worker SIGKILLed.
    ``broker-full``: the ``broker`` Redis at ``maxmemory`` (noeviction), so each worker exits
    when it next takes a task; once all exited the limit is lifted, as an operator who freed
    memory would, so nothing but the lost workers stands in the sweep's way."""
    if how not in WORKER_LOSSES:
        raise ValueError(f"how must be one of {WORKER_LOSSES}, got {how!r}")
    if how == "killed":
        for worker in workers:
            kill_worker(worker, "worker")
        return
    if broker is None:
        raise ValueError("broker-full needs the broker's RedisServer")
    client = broker.client()
    try:
        client.config_set(
            "maxmemory", "1"
        )  # below any use: every write that grows memory is refused
        deadline = time.monotonic() + LOSS_TIMEOUT_SECONDS
        for worker in workers:
            try:
                worker.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                raise TimeoutError(
                    f"worker {worker.name} still runs {LOSS_TIMEOUT_SECONDS:g} s after its "
                    f"broker filled: {worker.log()[-1500:]}"
                ) from None
    finally:
        client.config_set("maxmemory", "0")
        client.close()


def restart_redis(server: RedisServer) -> None:
    """Stop the redis-server and start it again on the same port and data folder."""
    if server.data_dir is None:
        raise ValueError("restart_redis needs a RedisServer with a data_dir, or its data is lost")
    server.restart()


def restart_redis_empty(server: RedisServer) -> None:
    """Stop the redis-server, drop everything it stored, start it again on the same port:
    a Redis restarted without persistence (``shutdown nosave``, then a start)."""
    server.stop()
    if server.data_dir is not None:
        shutil.rmtree(server.data_dir, ignore_errors=True)
        server.data_dir.mkdir(parents=True)
    server.start()


def kill_process(process: subprocess.Popen) -> None:
    """SIGKILL a subprocess (an orchestrator) and its process group; reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait(timeout=10)


def skewed_clock(seconds: int) -> dict[str, str]:
    """The environment that runs a process with its wall clock ``seconds`` off (Debian's
    libfaketime, preloaded: no wrapper process, so the PID stays the program's)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        raise RuntimeError("libfaketime is not installed: apt-get install faketime (.ci/run does)")
    return {"LD_PRELOAD": found[0], "FAKETIME": f"{seconds:+d}s", "FAKETIME_NO_CACHE": "1"}

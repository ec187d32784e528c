"""The environment a worker process starts with: numeric libraries on one thread each.

A worker runs one variant at a time per pool process, and a farm runs one pool
process per core, so a library's own thread pool only oversubscribes the cores.
OpenBLAS (numpy's) starts a thread per core when numpy is imported, and each
spins ~0.1 s before it sleeps: 120 ms of CPU at every worker's start (measured
on 2 cores: 530 -> 410 ms per start), taken from the workers and the
orchestrator starting beside it. A worker never calls BLAS (the trust figures'
matrix products run in the orchestrator). It must be set before numpy loads,
so it goes into the environment of the process being started; a value the
user set wins. OMP_NUM_THREADS is left alone: pyarrow sizes its thread pool
by it, and a worker reading a year of candles on one thread took more CPU,
and twice the time, than on the pool.
"""

from __future__ import annotations

from collections.abc import Mapping

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a worker process: ``ONE_THREAD`` where it sets none of them itself."""
    return {**ONE_THREAD, **env}

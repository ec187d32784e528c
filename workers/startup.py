"""What a worker process does before its first task.

The main worker process imports the user's strategy modules
(``BTFARM_IMPORTS``, or ``btfarm worker --import``) once, so forked children
inherit the registrations; every process (child or solo) builds its own
Redis client on first use, never one inherited across ``fork`` (STYLE 6).

Each pool child caps its data segment (``RLIMIT_DATA``, which on Linux
counts private anonymous mappings: every large allocation) at
``BTFARM_WORKER_MAX_MEMORY_MB``: a strategy that allocates without bound gets
a ``MemoryError`` in its own variant instead of taking the machine down.
Celery's ``worker_max_memory_per_child`` (the same number) replaces a child
whose resident memory grew past it after a task. The main process fixes
glibc's malloc thresholds before it forks (malloc_tuning.py): a new child
would otherwise run its first hundred variants at half speed.
"""

from __future__ import annotations

import logging
import os
import resource
import threading

import redis
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

from btfarm.shared.engine import batch_kernel
from btfarm.shared.errors import BtfarmError
from btfarm.shared.importing import import_user_module
from btfarm.shared.settings import get_settings
from btfarm.shared.store import worker_registry
from btfarm.shared.store.connection import connect, connect_url

from .app import TASK_QUEUE
from .heartbeat import Heartbeat
from .malloc_tuning import fix_malloc_thresholds
from .parent_watch import watch_parent

log = logging.getLogger("btfarm.workers")

_client: redis.Redis | None = None
_client_pid: int | None = None
_lock = threading.Lock()
_imported: set[str] = set()
_heartbeat: Heartbeat | None = None


def import_modules(specs: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """Import ``specs`` (default ``BTFARM_IMPORTS``) not imported yet; returns them."""
    done = []
    for spec in specs if specs is not None else get_settings().imports:
        if spec not in _imported:
            import_user_module(spec)
            _imported.add(spec)
            done.append(spec)
    return done


def worker_client() -> redis.Redis:
    """This process's state-store client, built after fork on first use."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            _client = connect()
            _client_pid = os.getpid()
        return _client


@worker_init.connect
def _on_worker_init(sender: object = None, **_: object) -> None:
    """Fail at start, not on the first task: a worker that cannot import the
    user's modules or reach the state store exits with the reason (Celery
    swallows ``Exception`` from signal handlers, so this raises SystemExit),
    and records it in Redis when it can, so a sweep waiting for workers shows
    it (keys.worker_start_failures) instead of waiting in silence."""
    fix_malloc_thresholds()  # here for the solo and thread pools; forked children inherit it
    try:
        import_modules()
        worker_client().ping()
    except Exception as exc:
        log.critical("btfarm worker cannot start: %s: %s", type(exc).__name__, exc)
        _record_start_failure(getattr(sender, "hostname", None), f"{type(exc).__name__}: {exc}")
        raise SystemExit(f"btfarm worker cannot start: {type(exc).__name__}: {exc}") from exc


def _record_start_failure(node: str | None, error: str) -> None:
    """Best effort: a worker that cannot reach Redis cannot say why it exits there."""
    settings = get_settings()
    url = settings.state_url or settings.redis_url
    if not node or not url:  # (with no URL, connecting would start an embedded server)
        return
    try:
        client = connect_url(url, attempts=1)
    except BtfarmError:
        return
    try:
        worker_registry.record_start_failure(client, node, error, settings.imports)
    except redis.RedisError as exc:
        log.warning("btfarm worker could not record why it exits: %s", exc)
    finally:
        client.close()


@worker_ready.connect
def _on_worker_ready(sender: object = None, **_: object) -> None:
    """Logged once logging is set up (it is not yet at ``worker_init``); the
    heartbeat starts now that the pool runs, for a worker that takes sweep chunks
    (``btfarm beat``'s own worker, which takes scheduled runs only, is no sweep's worker)."""
    global _heartbeat
    controller = getattr(sender, "controller", None)
    slots = getattr(controller, "concurrency", None) or 1
    node = getattr(sender, "hostname", None) or getattr(controller, "hostname", None)
    if node and _takes_chunks(sender):
        _heartbeat = Heartbeat(node, int(slots)).start()
    log.info("btfarm worker imported %s", ", ".join(sorted(_imported)) or "no user modules")
    settings = get_settings()
    if settings.parent_pid:  # the embedded default's worker: stop with the orchestrator
        watch_parent(settings.parent_pid, settings.state_dir)
    slow_lane = batch_kernel.unavailable_reason()
    if slow_lane:
        log.warning("btfarm worker runs sweep variants in the Python batch loop: %s", slow_lane)


def _takes_chunks(consumer: object) -> bool:
    """Whether this worker consumes the chunk queue (True when it cannot tell)."""
    app = getattr(consumer, "app", None)
    try:
        queues = app.amqp.queues.consume_from if app is not None else None
    except AttributeError:
        return True
    return not queues or TASK_QUEUE in queues


def cap_memory(megabytes: int) -> None:
    """Limit this process's data segment to ``megabytes`` (never above the hard limit)."""
    wanted = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (wanted, hard))


@worker_process_init.connect
def _on_worker_process_init(**_: object) -> None:
    global _client
    _client = None  # never reuse the parent's sockets
    import_modules()
    worker_client()
    cap_memory(get_settings().worker_max_memory_mb)


@worker_shutdown.connect
def _on_worker_shutdown(**_: object) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()

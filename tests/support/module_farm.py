"""A farm for a test module: a redis-server and ready ``celery worker`` processes, this
process pointed at it (``BTFARM_REDIS_URL``) while the module's tests run, everything stopped
by PID at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from btfarm.shared.settings import get_settings
from btfarm.workers.app import configure

from .celery_workers import CeleryWorker
from .redis_server import RedisServer


def module_farm(logdir: Path, count: int = 2, **worker_env: str) -> Iterator[dict[str, Any]]:
    """``{"url", "server", "workers"}``: a redis-server and ``count`` ready workers (prefork
    -c 1, given ``worker_env``), for a module-scoped fixture to ``yield from``."""
    server = RedisServer().start()
    workers = [CeleryWorker(server.url, logdir, **worker_env) for _ in range(count)]
    try:
        for w in workers:
            w.start()
        os.environ["BTFARM_REDIS_URL"] = server.url
        get_settings.cache_clear()
        app = configure()
        for w in workers:
            w.wait_ready(app)
        yield {"url": server.url, "workers": workers, "server": server}
    finally:
        os.environ.pop("BTFARM_REDIS_URL", None)
        for w in workers:
            w.stop()
        server.close()

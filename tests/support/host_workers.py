"""The farm over the hosts of netns.py: the hosts for a test module (skipped, with the reason,
where they cannot be made), the hub's Redis bound to every link, and one Celery worker per
host, each reaching that Redis over its own link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .celery_workers import CeleryWorker
from .faulted_sweep import start_workers, stop_workers
from .netns import Hosts, HostsUnavailable
from .redis_server import RedisServer


def made_hosts(count: int) -> Iterator[Hosts]:
    """``count`` hosts, removed afterwards, for a fixture to ``yield from``; the test is
    skipped, with the reason, where network namespaces cannot be made."""
    try:
        made = Hosts(count).create()
    except HostsUnavailable as exc:
        pytest.skip(f"network namespaces cannot be made here: {exc}")
    try:
        yield made
    finally:
        made.close()


def hub_redis(hosts: Hosts, password: str) -> RedisServer:
    """A redis-server (to start with ``with``) on loopback and on the hub's end of every link."""
    return RedisServer(password=password, also_bind=tuple(h.hub_address for h in hosts.hosts))


def workers_on(
    hosts: Hosts,
    server: RedisServer,
    logdir: Path,
    env: dict[str, str] | None = None,
    env_of_first: dict[str, str] | None = None,
) -> list[CeleryWorker]:
    """One ready worker per host, each given Redis' address on its own link; ``env`` for
    every worker, ``env_of_first`` besides for the first host's (a skewed clock, say).
    On a failure those started are stopped."""
    started: list[CeleryWorker] = []
    try:
        for index, host in enumerate(hosts.hosts):
            extra = {**(env or {}), **((env_of_first or {}) if index == 0 else {})}
            started += start_workers(
                server.url_at(host.hub_address), logdir, count=1, prefixes=(host.prefix,), **extra
            )
    except BaseException:
        stop_workers(started)
        raise
    return started

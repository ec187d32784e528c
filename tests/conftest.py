"""Fixtures every test may use: a private Redis, and isolation from the environment."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from btfarm.orchestrator.state_client import reset_state
from btfarm.orchestrator.sweeps import local_pool
from btfarm.shared.settings import get_settings
from btfarm.shared.store import embedded_redis
from tests.support.redis_server import RedisServer

_FOLDER_MARKERS = {"unit": pytest.mark.unit, "integration": pytest.mark.integration}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test under tests/unit or tests/integration gets that marker if it lacks it,
    so ``-m unit`` selects by folder too."""
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in _FOLDER_MARKERS and item.get_closest_marker(folder) is None:
            item.add_marker(_FOLDER_MARKERS[folder])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server private to this test session, on a free port."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session's server, emptied before and after the test."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.flushall()
    client.close()


def _redis_servers_of(tmp_path: Path) -> set[int]:
    """redis-server processes this test may have started: children of this
    process, or servers whose socket lies under the test's tmp_path (embedded
    servers are daemonized, so their parent is not us). Other engineers' or
    the system's servers never match."""
    found = set()
    for p in psutil.process_iter(["name", "status", "ppid", "cmdline"]):
        if "redis-server" not in (p.info["name"] or "") or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if p.info["ppid"] == os.getpid() or str(tmp_path) in " ".join(p.info["cmdline"] or ()):
            found.add(p.pid)
    return found


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No test sees the developer's BTFARM_* variables, ./.btfarm, ./dump or the imports an
    earlier test's CLI registered; an
    ``integration`` test must leave no redis-server behind (servers of
    session fixtures, set up before this one, are excepted)."""
    for name in [n for n in os.environ if n.startswith("BTFARM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BTFARM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BTFARM_DUMP_DIR", str(tmp_path / "dump"))  # never into the repository
    # what an in-process `btfarm walker` (CliRunner) imported for its user stays with that test
    monkeypatch.setattr(local_pool, "_registered_imports", [])
    get_settings.cache_clear()
    integration = request.node.get_closest_marker("integration") is not None
    before = _redis_servers_of(tmp_path) if integration else set()  # session servers
    yield
    # drop the orchestrator's state client (a later test's settings may name another store, and
    # an embedded server this test joined is gone with its tmp_path) and leave that server
    reset_state()
    embedded_redis.close()
    get_settings.cache_clear()
    if integration:
        leftover = sorted(_redis_servers_of(tmp_path) - before)
        for pid in leftover:  # report the leak, but do not let it outlive the session
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not leftover, f"the test left redis-server processes running: {leftover}"

"""Security of the farm (issue 5): pickle is refused by workers; Redis
credentials in URLs never reach logs, reports or CLI output.

A password-protected redis-server and one real worker; the CLI in subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from btfarm.workers.app import TASK_QUEUE, configure
from tests import farm_strategies
from tests.support.celery_workers import REPO, CeleryWorker, farm_env
from tests.support.processes import wait_for
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
PASSWORD = "security-suite-pa55word"
SYMBOL = farm_strategies.SYMBOL


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[tuple[RedisServer, CeleryWorker]]:
    logdir = tmp_path_factory.mktemp("secured")
    with RedisServer(password=PASSWORD) as server:
        worker = CeleryWorker(server.url, logdir)
        try:
            worker.start()
            os.environ["BTFARM_REDIS_URL"] = server.url
            get_settings.cache_clear()
            worker.wait_ready(configure())
            yield server, worker
        finally:
            os.environ.pop("BTFARM_REDIS_URL", None)
            worker.stop()


@pytest.fixture
def url(secured, monkeypatch) -> Iterator[str]:
    server, _ = secured
    monkeypatch.setenv("BTFARM_REDIS_URL", server.url)
    get_settings.cache_clear()
    reset_state()
    configure()
    yield server.url
    reset_state()


class _CreatesAFileWhenUnpickled:
    """Unpickling this opens (creates) ``path``: proof that a worker deserialised it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickled_task_message_is_refused_and_not_executed(url, secured, tmp_path):
    server, worker = secured
    marker = tmp_path / "unpickled"
    app = configure()
    app.send_task(
        "btfarm.backtest_chunk",
        task_id="pickle-probe",
        queue=TASK_QUEUE,
        kwargs={"run_id": "pickle-probe", "payload": _CreatesAFileWhenUnpickled(str(marker))},
        serializer="pickle",
    )
    wait_for(lambda: "untrusted content" in worker.log(), 30, "the worker to refuse the message")
    assert "pickle" in worker.log().split("untrusted content")[1][:200]
    assert not marker.exists()  # never unpickled
    client = server.client()
    try:
        assert not client.exists(keys.chunk_task("pickle-probe"))  # the task never started
        assert client.llen(TASK_QUEUE) == 0  # and the message is not left to loop
    finally:
        client.close()
    worker.wait_ready(app)  # the worker still serves


def _everything_printed(*parts: str | Path) -> str:
    return "\n".join(p.read_text(errors="replace") if isinstance(p, Path) else p for p in parts)


def test_a_walker_on_a_password_url_never_prints_the_password(url, secured, tmp_path):
    _, worker = secured
    env = farm_env(url, BTFARM_DUMP_DIR=str(tmp_path / "dump"), COLUMNS="200")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            "tests.farm_strategies",
            "farm-small",
            "--symbol",
            SYMBOL,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "list", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listed.returncode == 0, listed.stderr
    report = tmp_path / "dump" / "walker" / "farm-small.md"
    printed = _everything_printed(
        run.stdout, run.stderr, listed.stdout, listed.stderr, report, worker.logfile
    )
    assert "farm-small" in printed and "## Fingerprint" in printed
    assert PASSWORD not in printed


@pytest.mark.parametrize("case", ["nobody listens", "wrong password"])
def test_a_redis_that_refuses_or_is_away_is_named_with_the_password_masked(
    url, secured, tmp_path, case
):
    server, _ = secured
    if case == "nobody listens":
        bad = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
        expected = "did not answer"
    else:
        bad = f"redis://:{PASSWORD}-not@127.0.0.1:{server.port}/0"
        expected = "refused the credentials"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            "tests.farm_strategies",
            "farm-small",
            "--symbol",
            SYMBOL,
        ],
        cwd=REPO,
        env=farm_env(bad, BTFARM_DUMP_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert expected in run.stderr and "***@127.0.0.1" in run.stderr, run.stderr
    assert PASSWORD not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr

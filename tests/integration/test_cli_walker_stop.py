"""Ctrl-C during ``btfarm walker`` (issue 34.2): the sweep stops, the command says how far it
got, that it stopped and how to finish it (with its imports), and exits 130 instead of
click's "Aborted!"; ``btfarm list`` then shows the share that ran, not 0 %.

Real processes: a redis-server, one ``celery worker``, ``btfarm walker`` and ``btfarm list``
as subprocesses; SIGINT is sent once the store says a first chunk's results are in.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from btfarm.shared.settings import get_settings
from btfarm.shared.store import run_status
from btfarm.workers.app import configure
from tests.support.celery_workers import REPO, TEST_IMPORTS, CeleryWorker, farm_env
from tests.support.processes import stop_process, wait_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]
WALKER = "farm-slow-sweep"  # 24 variants of ~1 s each


@pytest.fixture
def farm(tmp_path, monkeypatch) -> Iterator[RedisServer]:
    with RedisServer() as server:
        monkeypatch.setenv("BTFARM_REDIS_URL", server.url)
        get_settings.cache_clear()
        worker = CeleryWorker(server.url, tmp_path / "workers").start()
        try:
            worker.wait_ready(configure())
            yield server
        finally:
            worker.stop()
            get_settings.cache_clear()


def walker_status(client) -> dict | None:
    rows = [r for r in run_status.list_status(client, "walker") if r["name"] == WALKER]
    return rows[0] if rows else None


def test_ctrl_c_prints_what_ran_stopped_and_the_resume_command_and_list_keeps_the_share(
    farm, tmp_path
):
    client = farm.client()
    env = farm_env(farm.url, BTFARM_DUMP_DIR=str(tmp_path / "dump"), COLUMNS="200")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "btfarm.orchestrator.cli",
                "walker",
                TEST_IMPORTS,
                WALKER,
                "--chunk-size",
                "2",
            ],
            cwd=REPO,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            wait_for(
                lambda: (walker_status(client) or {}).get("progress", 0) > 0,
                60,
                "the walker's status to show a first chunk's results",
            )
            proc.send_signal(signal.SIGINT)
            code = proc.wait(60)
        finally:
            stop_process(proc)
    said = out.read_text() + err.read_text()
    assert code == 130, said
    assert "Aborted!" not in said and "Traceback" not in said
    flat = " ".join(said.split())
    found = re.search(rf"{WALKER} on \S+: stopped, (\d+)/24 variants done \(sweep (\w+)\)", flat)
    assert found, said
    done, run_id = int(found.group(1)), found.group(2)
    assert 0 < done < 24
    assert f"finish it with: btfarm walker resume {run_id} --import {TEST_IMPORTS}" in flat

    listed = subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "list", "--mode", "walker", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == WALKER]
    assert (row["status"], row["outcome"], row["id"]) == ("done", "stopped", run_id)
    assert row["progress"] == pytest.approx(done / 24)  # was 0: the stop wrote it over
    table = subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "list", "--mode", "walker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"{done / 24 * 100:.0f}%" in table.stdout, table.stdout

"""``btfarm status`` (issue 34 §3, the sweep-level view Flower lacks), the real CLI in its own
process on a real redis-server: a slow sweep run by ``btfarm walker`` on a real ``celery
worker`` shows its run id, a done count that grows between two reads, a rate and the worker;
names planted with terminal escapes are shown inert; a bad entry is skipped by name; an
empty store says it knows no sweep."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys, set_status, worker_registry
from btfarm.workers.app import configure
from tests.support.celery_workers import REPO, TEST_IMPORTS, CeleryWorker, farm_env
from tests.support.processes import stop_process, wait_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]
WALKER = "farm-slow-sweep"  # 24 variants of ~1 s each
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m[bold]"  # retitle, clear, recolour; rich markup


def btfarm(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", *args],
        cwd=REPO,
        env=farm_env(url, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def status_json(url: str) -> dict:
    shown = btfarm(url, "status", "--once", "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


@pytest.fixture
def farm(tmp_path, monkeypatch) -> Iterator[tuple[RedisServer, CeleryWorker]]:
    with RedisServer() as server:
        monkeypatch.setenv("BTFARM_REDIS_URL", server.url)
        get_settings.cache_clear()
        worker = CeleryWorker(server.url, tmp_path / "workers").start()
        try:
            worker.wait_ready(configure())
            yield server, worker
        finally:
            worker.stop()
            get_settings.cache_clear()


def test_status_follows_a_running_sweep_and_its_worker(farm, tmp_path):
    server, worker = farm
    env = farm_env(server.url, BTFARM_DUMP_DIR=str(tmp_path / "dump"), COLUMNS="200")
    with (tmp_path / "out.txt").open("w") as out:
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
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:

            def sweep_with_results() -> dict | None:
                sweeps = [s for s in status_json(server.url)["sweeps"] if s["walker"] == WALKER]
                return sweeps[0] if sweeps and (sweeps[0]["done"] or 0) > 0 else None

            first = wait_for(
                sweep_with_results, 60, "btfarm status to show the sweep's first results"
            )
            later = wait_for(
                lambda: (s := sweep_with_results()) and s["done"] > first["done"] and s,
                60,
                "the done count btfarm status shows to grow",
            )
            farm_view = status_json(server.url)
            table = btfarm(server.url, "status", "--once")
            proc.send_signal(signal.SIGINT)  # the sweep takes ~24 s: it need not finish
            proc.wait(60)
        finally:
            stop_process(proc)
    assert (
        first["run_id"] == later["run_id"] and len(first["run_id"]) >= 8
    )  # the sweep's id, not symbol:name
    assert first["run_id"] in (tmp_path / "out.txt").read_text()  # the id the walker printed
    assert (later["total"], later["status"]) == (24, "running")
    assert 0 < first["done"] < later["done"] < 24
    assert later["share"] == pytest.approx(later["done"] / 24)
    assert later["rate"] > 0 and later["eta_seconds"] > 0
    assert {"node": worker.name, "slots": 1} in farm_view["workers"]
    assert farm_view["skipped"] == [] and farm_view["start_failures"] == []
    assert table.returncode == 0, table.stderr
    assert first["run_id"] in table.stdout and WALKER in table.stdout
    assert worker.name in table.stdout and "1 live worker(s)" in table.stdout


def test_status_shows_planted_names_inert_and_skips_a_bad_entry_by_name(redis_server, redis_client):
    set_status(
        redis_client,
        "walker",
        f"SYM{ESCAPES}",
        f"walk{ESCAPES}",
        "running",
        id=f"run{ESCAPES}",
        progress=0.5,
        total_strategies=10,
    )
    bad = keys.instance_status("walker", "ETHUSDT", "total-abc")
    set_status(
        redis_client,
        "walker",
        "ETHUSDT",
        "total-abc",
        "running",
        progress=0.5,
        total_strategies="abc",
    )
    worker_registry.announce(redis_client, f"node{ESCAPES}", 3)
    worker_registry.record_start_failure(
        redis_client, "broken@host", f"ImportError: no {ESCAPES}", ["mine"]
    )

    shown = btfarm(redis_server.url, "status", "--once")
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    for control in ("\x1b", "\x07"):
        assert control not in shown.stdout + shown.stderr
    flat = "".join(shown.stdout.split())  # a long cell may wrap; the escaped text is whole
    inert = r"\x1b]0;pwned\x07\x1b[2J\x1b[31m[bold]"
    for name in (f"walk{inert}", f"SYM{inert}", f"node{inert}", f"ImportError:no{inert}"):
        assert name in flat, shown.stdout
    assert "5/10" in shown.stdout and "broken@host" in shown.stdout
    skipped = [line for line in shown.stderr.splitlines() if line.startswith("skipped ")]
    assert skipped == [f"skipped {bad}: total_strategies='abc' is not a number"], shown.stderr

    machine = btfarm(redis_server.url, "status", "--once", "--json")
    assert machine.returncode == 0 and "\x1b" not in machine.stdout  # JSON writes it as \u001b
    farm_view = json.loads(machine.stdout)
    assert [s["walker"] for s in farm_view["sweeps"]] == [f"walk{ESCAPES}"]
    assert farm_view["workers"] == [{"node": f"node{ESCAPES}", "slots": 3}]
    assert [s["key"] for s in farm_view["skipped"]] == [bad]


def test_status_names_an_unreadable_worker_record_and_still_shows_the_sweeps(
    redis_server, redis_client
):
    set_status(
        redis_client, "walker", "BTCUSDT", "fine", "running", progress=0.25, total_strategies=4
    )
    redis_client.set(keys.worker_slots(), "not a hash")
    worker_registry.record_start_failure(redis_client, "n@h", "boom", [])  # the key is fine
    raw = redis.Redis.from_url(redis_server.url)
    raw.set(keys.worker_start_failures(), b"\xff\xfe")  # and now it is not
    raw.close()
    farm_view = status_json(redis_server.url)
    assert [(s["walker"], s["done"], s["total"]) for s in farm_view["sweeps"]] == [("fine", 1, 4)]
    whys = " ".join(s["why"] for s in farm_view["skipped"])
    assert "the live workers cannot be read" in whys and "WRONGTYPE" in whys
    assert "the worker start failures cannot be read" in whys


def test_status_with_no_sweep_says_so(redis_server, redis_client):
    shown = btfarm(redis_server.url, "status", "--once")
    assert shown.returncode == 0, shown.stderr
    assert "no walker sweep is known to the state store" in shown.stdout
    assert "no worker is alive" in shown.stdout
    assert status_json(redis_server.url) == {
        "sweeps": [],
        "workers": [],
        "start_failures": [],
        "skipped": [],
    }

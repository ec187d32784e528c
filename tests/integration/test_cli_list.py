"""``btfarm list`` (the real CLI, in its own process) on a real redis-server holding what
anyone who can write to the farm's Redis could plant: names with terminal escape
sequences, a status whose progress is not a number, a key of another type, text that
is not UTF-8. Every readable entry is listed, escaped; each bad one is skipped by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from btfarm.shared.store import keys, set_status

pytestmark = pytest.mark.integration
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m[bold]"  # retitle, clear, recolour; rich markup


def btfarm(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(BTFARM_REDIS_URL=url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def planted(redis_server, redis_client) -> dict[str, str]:
    """Two good entries (one with escape sequences in its names) and three bad ones."""
    set_status(redis_client, "walker", "BTCUSDT", "good-sweep", "running", progress=0.25)
    set_status(redis_client, "backtest", f"SYM{ESCAPES}", f"name{ESCAPES}", "done", progress=1.0)
    bad = {
        "progress": keys.instance_status("walker", "ETHUSDT", "progress-abc"),
        "type": keys.instance_status("live", "ETHUSDT", "a-string"),
        "bytes": keys.instance_status("backtest", "ETHUSDT", "not-utf8"),
    }
    set_status(redis_client, "walker", "ETHUSDT", "progress-abc", "running")
    redis_client.hset(bad["progress"], "progress", "abc")
    redis_client.set(bad["type"], "not a hash")
    raw = redis.Redis.from_url(redis_server.url)
    raw.hset(bad["bytes"], mapping={"name": b"\xff\xfe", "mode": "backtest", "status": "done"})
    raw.close()
    redis_client.sadd(keys.instance_index(), bad["type"], bad["bytes"])
    return bad


def test_btfarm_list_shows_every_readable_entry_escaped_and_names_each_unreadable_one(
    redis_server, planted
):
    listed = btfarm(redis_server.url, "list")
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    assert "good-sweep" in listed.stdout and "25%" in listed.stdout
    for control in ("\x1b", "\x07"):
        assert control not in listed.stdout + listed.stderr
    assert r"name\x1b]0;pwned\x07\x1b[2J\x1b[31m[bold]" in listed.stdout  # shown, inert
    skipped = [line for line in listed.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 3, listed.stderr
    by_key = {key: next(line for line in skipped if key in line) for key in planted.values()}
    assert "progress='abc' is not a number" in by_key[planted["progress"]]
    assert "WRONGTYPE" in by_key[planted["type"]]
    assert "utf-8" in by_key[planted["bytes"]].lower()


def test_btfarm_list_json_keeps_stdout_valid_and_skips_to_stderr(redis_server, planted):
    listed = btfarm(redis_server.url, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(row["name"] for row in rows) == ["good-sweep", f"name{ESCAPES}"]
    assert "\x1b" not in listed.stdout  # JSON writes it as \u001b
    assert sum(line.startswith("skipped ") for line in listed.stderr.splitlines()) == 3


def test_btfarm_list_names_an_index_of_the_wrong_type(redis_server, redis_client):
    redis_client.set(keys.instance_index(), "not a set")
    listed = btfarm(redis_server.url, "list")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert f"skipped {keys.instance_index()}: the index of statuses cannot be read" in listed.stderr

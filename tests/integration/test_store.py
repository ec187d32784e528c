"""shared/store against real redis-servers: stop flags, statuses, connecting,
and the embedded server shared between processes and stopped by the last."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from btfarm.shared.errors import SettingsError, StoreUnavailable, UsageError
from btfarm.shared.settings import Settings, get_settings
from btfarm.shared.store import (
    StopPoller,
    clear_stop,
    connect,
    connection,
    delete_status,
    embedded_redis,
    embedded_server,
    is_stop_requested,
    keys,
    list_status,
    request_stop,
    set_status,
)
from tests.support.redis_server import free_port

pytestmark = pytest.mark.integration


def exists_calls(r: redis.Redis) -> int:
    """How many EXISTS commands the server has run: counts the poller's round trips."""
    return int(r.info("commandstats").get("cmdstat_exists", {}).get("calls", 0))


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def run_python(code: str, *, stdin: str = "") -> list[str]:
    """Run ``code`` in a fresh interpreter (same environment, so same state dir)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


# ---------------------------------------------------------------- stop flags


def test_stop_flag_is_set_read_and_cleared_per_mode(redis_client):
    assert not is_stop_requested(redis_client, "backtest", "BTCUSDT", "sma")
    request_stop(redis_client, "backtest", "BTCUSDT", "sma")
    assert is_stop_requested(redis_client, "backtest", "BTCUSDT", "sma")
    assert not is_stop_requested(redis_client, "live", "BTCUSDT", "sma")
    assert 0 < redis_client.ttl(keys.stop_flag("backtest", "BTCUSDT", "sma")) <= 86_400
    clear_stop(redis_client, "backtest", "BTCUSDT", "sma")
    assert not is_stop_requested(redis_client, "backtest", "BTCUSDT", "sma")


def test_stop_poller_asks_redis_at_most_every_n_seconds(redis_client):
    now = [100.0]
    poller = StopPoller(redis_client, "walker", "BTCUSDT", "sweep", 0.5, clock=lambda: now[0])
    redis_client.config_resetstat()
    assert not poller.stopped()  # the first call asks
    request_stop(redis_client, "walker", "BTCUSDT", "sweep")
    for step in (0.1, 0.2, 0.4):
        now[0] = 100.0 + step
        assert not poller.stopped()  # answered from memory
    assert exists_calls(redis_client) == 1
    now[0] = 100.5
    assert poller.stopped()
    clear_stop(redis_client, "walker", "BTCUSDT", "sweep")
    now[0] = 200.0
    assert poller.stopped()  # once seen, it stays seen, with no more round trips
    assert exists_calls(redis_client) == 2


def test_stop_poller_reads_its_period_from_settings(redis_client, monkeypatch):
    monkeypatch.setenv("BTFARM_STOP_CHECK_SECONDS", "7.5")
    get_settings.cache_clear()
    poller = StopPoller(redis_client, "live", "ETHUSDT", "x")
    assert poller._every == 7.5


def test_stop_poller_survives_an_unreachable_redis(caplog):
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    poller = StopPoller(dead, "backtest", "BTCUSDT", "sma", every_seconds=0)
    with caplog.at_level(logging.WARNING, logger="btfarm.store"):
        assert not poller.stopped()
    assert "will retry" in caplog.text


# ---------------------------------------------------------------- run status


def test_status_round_trip_with_typed_fields(redis_client):
    set_status(redis_client, "backtest", "BTCUSDT", "sma", "running", progress=0.25, note="x")
    [row] = list_status(redis_client)
    assert row["id"] == "BTCUSDT:sma"
    assert (row["symbol"], row["name"], row["mode"]) == ("BTCUSDT", "sma", "backtest")
    assert row["status"] == "running" and row["crashed"] is False
    assert row["progress"] == 0.25
    assert row["pid"] == os.getpid()
    assert row["host"] and row["updated_at"] > 1_700_000_000_000
    assert row["note"] == "x"


def test_list_is_sorted_and_filters_by_mode(redis_client):
    set_status(redis_client, "walker", "ETHUSDT", "sweep", "idle")
    set_status(redis_client, "backtest", "ETHUSDT", "b", "done", progress=1)
    set_status(redis_client, "backtest", "BTCUSDT", "z", "running")
    set_status(redis_client, "backtest", "BTCUSDT", "a", "running")
    rows = list_status(redis_client)
    assert [(r["mode"], r["symbol"], r["name"]) for r in rows] == [
        ("backtest", "BTCUSDT", "a"),
        ("backtest", "BTCUSDT", "z"),
        ("backtest", "ETHUSDT", "b"),
        ("walker", "ETHUSDT", "sweep"),
    ]
    assert [r["name"] for r in list_status(redis_client, mode="walker")] == ["sweep"]
    with pytest.raises(ValueError, match="mode"):
        list_status(redis_client, mode="walk")


def test_a_running_status_whose_process_died_here_reads_done_and_crashed(redis_client):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that is surely gone
    set_status(redis_client, "live", "BTCUSDT", "dead", "running", pid=child.pid)
    set_status(redis_client, "live", "BTCUSDT", "far", "running", pid=child.pid, host="elsewhere")
    set_status(redis_client, "live", "BTCUSDT", "me", "running")
    by_name = {r["name"]: r for r in list_status(redis_client, mode="live")}
    assert (by_name["dead"]["status"], by_name["dead"]["crashed"]) == ("done", True)
    assert (by_name["far"]["status"], by_name["far"]["crashed"]) == ("running", False)
    assert (by_name["me"]["status"], by_name["me"]["crashed"]) == ("running", False)
    stored = redis_client.hget(keys.instance_status("live", "BTCUSDT", "dead"), "status")
    assert stored == "running"  # kept as written, for post-mortems


def test_deleted_statuses_leave_the_index(redis_client):
    set_status(redis_client, "backtest", "BTCUSDT", "a", "done")
    set_status(redis_client, "backtest", "BTCUSDT", "b", "done")
    delete_status(redis_client, "backtest", "BTCUSDT", "a")
    redis_client.delete(keys.instance_status("backtest", "BTCUSDT", "b"))  # expired or removed
    assert list_status(redis_client) == []
    assert redis_client.scard(keys.instance_index()) == 0


def test_bad_status_values_are_refused(redis_client):
    with pytest.raises(ValueError, match="idle, running, done"):
        set_status(redis_client, "backtest", "BTCUSDT", "a", "finished")
    with pytest.raises(ValueError, match="0..1"):
        set_status(redis_client, "backtest", "BTCUSDT", "a", "running", progress=1.5)
    with pytest.raises(UsageError, match="extra"):
        set_status(redis_client, "backtest", "BTCUSDT", "a", "running", extra=[1])


# ---------------------------------------------------------------- connecting by URL


def test_connect_uses_the_state_url(redis_server, redis_client):
    r = connect(Settings(state_url=redis_server.url))
    r.set("btfarm:test", "seen")
    assert redis_client.get("btfarm:test") == "seen"


def test_connect_falls_back_to_redis_url(redis_server, redis_client):
    assert connect(Settings(redis_url=redis_server.url)).ping()


def test_an_absent_server_raises_store_unavailable_without_the_password(monkeypatch):
    monkeypatch.setattr(connection, "BACKOFF_SECONDS", 0.01)
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreUnavailable) as caught:
        connect(Settings(state_url=url))
    message = str(caught.value)
    assert "s3cret" not in message
    assert "***" in message and "4 attempts" in message
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_refused_credentials_are_a_settings_error_at_once(redis_server):
    url = f"redis://user:s3cret@{redis_server.host}:{redis_server.port}/0"
    with pytest.raises(SettingsError, match="refused the credentials") as caught:
        connect(Settings(state_url=url))
    assert "s3cret" not in str(caught.value)


def test_a_malformed_url_is_a_settings_error():
    with pytest.raises(SettingsError, match="BTFARM_STATE_URL"):
        connect(Settings(state_url="http://example/0"))


# ---------------------------------------------------------------- embedded server

JOIN_AND_PRINT = """
    from btfarm.shared.store import connect, embedded_server
    r = connect()
    print(embedded_server().pid, r.get("k"), flush=True)
"""


def test_a_second_process_joins_the_same_embedded_server():
    r = connect()  # no URL: embedded, in the test's state dir
    server = embedded_server()
    pid = server.pid
    r.set("k", "from-the-first")
    assert Path(server.socket_path).is_relative_to(Path(os.environ["BTFARM_STATE_DIR"]))

    assert run_python(JOIN_AND_PRINT) == [str(pid), "from-the-first"]

    assert not gone(pid), "the second process stopped a server the first still uses"
    assert r.smembers(keys.embedded_clients()) == {server.member}
    embedded_redis.close()
    assert gone(pid)
    assert not server.pidfile.exists() and not Path(server.socket_path).exists()


def test_the_starter_leaving_first_does_not_stop_a_server_in_use(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(JOIN_AND_PRINT + "    input()\n")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid_text, _ = holder.stdout.readline().split()
        r = connect()
        assert embedded_server().pid == int(pid_text)
        holder.communicate("\n", timeout=30)  # the starter leaves
        assert holder.returncode == 0
        assert r.ping(), "the starter stopped a server another process still uses"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    embedded_redis.close()
    assert gone(int(pid_text))


def test_a_crashed_member_does_not_keep_the_server_alive():
    server = embedded_server()
    pid = server.pid
    run_python(JOIN_AND_PRINT + "    import os; os._exit(0)  # no atexit: a crash\n")
    assert server.client().scard(keys.embedded_clients()) == 2
    embedded_redis.close()
    assert gone(pid)


def test_a_killed_server_leaves_stale_files_that_do_not_block_the_next_start():
    server = embedded_server()
    old_pid = server.pid
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not gone(old_pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.pidfile.exists() and Path(server.socket_path).exists()

    again = embedded_server()  # notices the dead server and starts anew
    assert again.pid not in (None, old_pid)
    assert again.client().ping()
    embedded_redis.close()


def test_a_stale_pidfile_naming_an_unrelated_process_is_ignored(tmp_path):
    state = tmp_path / "stale"
    (state / "redis").mkdir(parents=True)
    (state / "redis" / "redis.pid").write_text(f"{os.getpid()}\n")  # alive, but not redis
    (state / "redis" / "redis.sock").write_text("")  # a plain file where the socket was
    server = embedded_server(state)
    assert server.pid != os.getpid()
    assert server.client().ping()
    embedded_redis.close()
    assert not (state / "redis" / "redis.pid").exists()


def test_data_survives_a_stop_and_start_of_the_embedded_server():
    connect().set(keys.live_signal("BTCUSDT", "sma"), '{"id": "s1"}')
    embedded_redis.close()
    assert connect().get(keys.live_signal("BTCUSDT", "sma")) == '{"id": "s1"}'


def test_a_long_state_dir_puts_the_socket_in_the_temp_folder(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5)
    server = embedded_server(deep)
    assert len(os.fsencode(server.socket_path)) <= embedded_redis.SOCKET_PATH_MAX
    assert server.client().ping()
    pid = server.pid
    embedded_redis.close()
    assert gone(pid)
    assert not Path(server.socket_path).exists()


def test_processes_starting_together_share_one_server():
    code = JOIN_AND_PRINT + "    input()\n"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        pids = {p.stdout.readline().split()[0] for p in procs}  # all joined, none left
        for p in procs:
            p.communicate("\n", timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert len(pids) == 1
    assert gone(int(pids.pop()))  # the last one out stopped it


def test_a_forked_child_never_leaves_on_its_parents_behalf():
    server = embedded_server()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        server.close()
        embedded_redis.close()
        os._exit(0)
    os.waitpid(child, 0)
    assert server.client().sismember(keys.embedded_clients(), server.member)
    assert server.client().ping()

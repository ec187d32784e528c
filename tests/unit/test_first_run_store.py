"""A fresh process's first connection to the embedded store: one connection, no
handshake extras, and a start that waits on a starting server without a client's
retry pauses (issue 33: the fixed cost of a single backtest)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from btfarm.shared.errors import StoreUnavailable
from btfarm.shared.store import embedded_redis
from btfarm.shared.store.embedded_redis import EmbeddedServer


def test_the_first_client_is_the_connection_the_start_opened(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path) as server:
        first, second = server.client(), server.client()
        assert first is not second
        assert first.connection_pool._created_connections == 1  # opened by start()'s join
        assert second.connection_pool._created_connections == 0
        assert first.ping() and second.ping()
        first.close()
        second.close()


def test_a_client_sends_no_client_setinfo(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path) as server:
        client = server.client()
        info = client.client_info()
        assert info.get("lib-name", "") == "" and info.get("lib-ver", "") == ""
        client.close()


def test_a_spare_client_is_closed_when_the_process_leaves(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path).start()
    try:
        spare = server._spare[0]
    finally:
        server.close()  # (also when the assertion above fails: no server left running)
    assert server._spare == []
    assert all(c._sock is None for c in spare.connection_pool._available_connections)


def test_ping_says_why_a_server_does_not_answer(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path)
    assert server._ping().startswith("FileNotFoundError")
    server.dir.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as fake:
        fake.bind(str(server.socket_path))
        fake.listen(1)

        def answer() -> None:
            conn, _ = fake.accept()
            with conn:
                conn.recv(64)
                conn.sendall(b"-LOADING Redis is loading the dataset in memory\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        assert server._ping() == "-LOADING Redis is loading the dataset in memory"
        thread.join()


def test_a_server_that_never_answers_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_redis, "START_TIMEOUT_SECONDS", 0.05)
    server = EmbeddedServer(tmp_path)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"did not answer PING within .*FileNotFoundError"):
        server._wait_ready(None)
    assert time.monotonic() - started < 1.0


def test_a_server_still_loading_is_asked_again_within_milliseconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real server cannot be held in its loading phase on demand, so a socket plays one: it
    # answers -LOADING, then PONG. A ping through a redis-py client would sleep its retry
    # pause (40 ms) after the -LOADING; the start's own loop looks again within a few ms
    server = EmbeddedServer(tmp_path)
    server.dir.mkdir(parents=True)
    monkeypatch.setattr(EmbeddedServer, "_running_pid", lambda self: 4242)
    answers = [b"-LOADING Redis is loading the dataset in memory\r\n", b"+PONG\r\n"]
    asked = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as fake:
        fake.bind(str(server.socket_path))
        fake.listen(2)

        def answer() -> None:
            for reply in answers:
                conn, _ = fake.accept()
                with conn:
                    asked.append(conn.recv(64))
                    conn.sendall(reply)

        thread = threading.Thread(target=answer)
        thread.start()
        started = time.perf_counter()
        server._wait_ready(None)
        waited = time.perf_counter() - started
        thread.join()
    assert asked == [b"PING\r\n", b"PING\r\n"]
    assert waited < 0.035

"""This process's client of the state store (Redis), made on first use.

Settings are read once per process, so one client serves every instance;
``reset_state`` drops it (tests, or after settings change).

``write_when_connected`` lets a run start before the embedded server is up (8 ms quiet,
30-60 ms under load, on the path of every fresh process): the run's first write waits in
a queue that ``state()`` empties, under its lock, before it hands the client to anyone,
so whatever reads the store next reads it after that write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

import redis

from btfarm.shared.settings import get_settings
from btfarm.shared.store.connection import connect
from btfarm.shared.store.embedded_redis import close

_client: redis.Redis | None = None
_lock = threading.Lock()
# writes waiting for the connection, in order, each with the future its caller waits on; a lock
# of their own, so queueing one never waits for a connection that holds _lock
_pending: list[tuple[Callable[[redis.Redis], object], Future[None]]] = []
_pending_lock = threading.Lock()


def state() -> redis.Redis:
    global _client
    with _lock:
        if _client is None:
            try:
                _client = connect()
            except BaseException as exc:
                _fail_pending(exc)
                raise
        if _pending:
            _flush(_client)
        return _client


def _flush(client: redis.Redis) -> None:
    while True:
        with _pending_lock:
            if not _pending:
                return
            write, future = _pending.pop(0)
        try:
            write(client)
        except BaseException as exc:  # the run that queued it raises it (see write_when_connected)
            future.set_exception(exc)
        else:
            future.set_result(None)


def _fail_pending(exc: BaseException) -> None:
    with _pending_lock:
        failed = _pending[:]
        _pending.clear()
    for _, future in failed:
        future.set_exception(exc)


def done_future() -> Future[None]:
    """A future already done (a write made at once)."""
    future: Future[None] = Future()
    future.set_result(None)
    return future


def write_when_connected(write: Callable[[redis.Redis], object]) -> Future[None]:
    """``write(client)`` now when the store is connected or is a URL's server (a PING away);
    else queued, connecting on a thread of its own, and run before ``state()`` gives the client
    to any other caller. The future is done once the write is, or holds the write's or the
    connection's error (``StoreUnavailable``...). A write made now raises to the caller."""
    settings = get_settings()
    if _client is not None or settings.state_url or settings.redis_url:
        write(state())
        return done_future()
    future: Future[None] = Future()
    with _pending_lock:
        _pending.append((write, future))

    def connect_quietly() -> None:
        try:
            state()  # runs the queued writes, or fails their futures with its error
        except BaseException:  # held by the futures, raised by the runs that wait on them
            pass

    threading.Thread(target=connect_quietly, name="btfarm-state-write", daemon=True).start()
    return future


def warm_state() -> None:
    """Begin connecting (starting the embedded server, ~8 ms) on a thread of its own, so
    the caller's next work (reading candles) overlaps it; ``state()`` then waits for it.
    A failure is left for ``state()`` to meet again and raise, to the caller that needs
    the store (an error kept from here could be stale by the time anyone asks)."""
    if _client is not None:
        return

    def connect_quietly() -> None:
        try:
            state()
        except Exception:  # see above: state() raises it to its caller
            pass

    threading.Thread(target=connect_quietly, name="btfarm-state-connect", daemon=True).start()


def reset_state() -> None:
    """Forget the client and leave any embedded server (the last one out stops it)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
    close()

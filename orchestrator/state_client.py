"""This process's client of the state store (Redis), made on first use.

Settings are read once per process, so one client serves every instance;
``reset_state`` drops it (tests, or after settings change).
"""

from __future__ import annotations

import threading

import redis

from btfarm.shared.store.connection import connect
from btfarm.shared.store.embedded_redis import close

_client: redis.Redis | None = None
_lock = threading.Lock()


def state() -> redis.Redis:
    global _client
    with _lock:
        if _client is None:
            _client = connect()
        return _client


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

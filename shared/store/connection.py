"""The Redis connection of the state store: a URL, or the private embedded server.

With ``BTFARM_STATE_URL`` (or ``BTFARM_REDIS_URL``) set, ``connect()`` returns a
client for that server, after checking with a few PINGs (backing off) that it
answers; if it stays away the caller gets ``StoreUnavailable`` with the URL's
password redacted.

With no URL (the embedded default of DESIGN.md) ``connect()`` starts, or joins,
the redis-server of ``embedded_redis.py`` under ``settings.state_dir``. The
same code then runs on a laptop and on a farm; only the URL differs.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import redis

from ..errors import SettingsError, StoreUnavailable
from ..settings import Settings, get_settings, redact_url
from .client_options import NO_CLIENT_INFO
from .embedded_redis import embedded_server
from .retry_policy import CONNECT_TIMEOUT_SECONDS, command_retry

CONNECT_ATTEMPTS = 4  # PINGs to a URL server before StoreUnavailable
BACKOFF_SECONDS = 0.1  # first pause between those PINGs, doubled after each


def connect(settings: Settings | None = None) -> redis.Redis:
    """A Redis client (``decode_responses=True``) for the state store.

    Connects to ``state_url`` or ``redis_url`` when set, else to the embedded
    server of ``state_dir`` (started if needed). Raises ``StoreUnavailable``.
    """
    settings = settings or get_settings()
    url = settings.state_url or settings.redis_url
    if url:
        return connect_url(url)
    return embedded_server(settings.state_dir).client()


def connect_url(
    url: str, attempts: int | None = None, backoff_seconds: float | None = None
) -> redis.Redis:
    """A client for ``url`` that answered a PING within ``attempts`` tries
    (default ``CONNECT_ATTEMPTS``, pausing ``BACKOFF_SECONDS``, then doubling).

    Refused credentials are a ``SettingsError`` at once: retrying cannot fix them.
    """
    attempts = CONNECT_ATTEMPTS if attempts is None else attempts
    pause = BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
    try:
        tcp = {} if urlsplit(url).scheme == "unix" else {"socket_keepalive": True}
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            health_check_interval=30,
            retry=command_retry(),
            **NO_CLIENT_INFO,
            **tcp,  # a unix socket (the embedded server's URL, given to local workers) has no keepalive
        )
    except ValueError as exc:
        raise SettingsError(
            f"state store URL {redact_url(url)!r} is not a Redis URL ({exc}); "
            "set BTFARM_STATE_URL or BTFARM_REDIS_URL to redis://host:6379/0"
        ) from exc
    for attempt in range(1, attempts + 1):
        try:
            client.ping()
            return client
        except redis.AuthenticationError as exc:
            client.close()
            raise SettingsError(
                f"Redis at {redact_url(url)} refused the credentials ({exc}); fix the "
                "user and password in BTFARM_STATE_URL / BTFARM_REDIS_URL"
            ) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if attempt == attempts:
                client.close()
                raise StoreUnavailable(
                    f"Redis at {redact_url(url)} did not answer after {attempts} attempts "
                    f"({type(exc).__name__}: {_redacted(str(exc), url)}); check that it runs and "
                    "that BTFARM_STATE_URL / BTFARM_REDIS_URL point at it"
                ) from exc
            time.sleep(pause)
            pause *= 2
    raise StoreUnavailable(f"Redis at {redact_url(url)} did not answer")  # pragma: no cover


def out_of_memory(exc: BaseException) -> bool:
    """True when ``exc`` (from redis-py, or the broker's wrapping of it) is Redis refusing a
    write at ``maxmemory``: no retry helps until memory is freed or the limit raised."""
    return (
        isinstance(exc, redis.OutOfMemoryError)
        or isinstance(exc.__cause__, redis.OutOfMemoryError)
        or "used memory > 'maxmemory'" in str(exc)
    )


def _redacted(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (if any) masked, for messages."""
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text

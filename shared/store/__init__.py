"""The Redis state store: what other tiers import to share state across processes.

- ``connect`` gives a client: a URL server (``connection``), or the embedded one
  (``embedded_redis``);
- ``keys`` builds every Redis key btfarm uses;
- ``request_stop`` and ``StopPoller`` carry cooperative stops (``stop_flags``);
- ``set_status`` and ``list_status`` publish what runs where (``run_status``).

Every function takes the Redis client explicitly, so a worker process builds
its own client after fork and tests pass one for their own server.
"""

from . import keys
from .connection import connect, connect_url
from .embedded_redis import EmbeddedServer, close, embedded_server
from .run_status import delete_status, list_status, set_status
from .stop_flags import StopPoller, clear_stop, is_stop_requested, request_stop

__all__ = [
    "EmbeddedServer",
    "StopPoller",
    "clear_stop",
    "close",
    "connect",
    "connect_url",
    "delete_status",
    "embedded_server",
    "is_stop_requested",
    "keys",
    "list_status",
    "request_stop",
    "set_status",
]

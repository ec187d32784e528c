"""Options every btfarm Redis client is made with, beside its retry policy.

``CLIENT SETINFO`` (the library's name and version, which ``CLIENT LIST``
shows) costs each new connection a round trip before its first command, and
the first client of a process a read of redis-py's package metadata (~1 ms
of a single backtest's start); nothing in btfarm reads it back, so clients
skip it. redis-py before 7 names the option ``lib_name``/``lib_version``.
"""

from __future__ import annotations

import inspect
from typing import Any

import redis

NO_CLIENT_INFO: dict[str, Any] = (
    {"driver_info": None}
    if "driver_info" in inspect.signature(redis.Redis.__init__).parameters
    else {"lib_name": None, "lib_version": None}
)

"""The state store's Lua scripts, run by their SHA on whichever client asks.

A script is hashed once per process; ``EVALSHA`` sends only that, and a
Redis that does not know it (restarted, or another server) is sent the
script once (redis-py's ``Script``). One binding serves every client,
including those a worker builds after fork.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script

_scripts: dict[str, Script] = {}


def run(r: redis.Redis, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """``source`` run on ``r`` with ``keys`` and ``args``; its reply."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = Script(r, source)
    return script(keys=keys, args=args, client=r)

"""The state store's Lua scripts, run by their SHA on whichever client asks.

A script is hashed once per process; ``EVALSHA`` sends only that, and a
Redis that does not know it (restarted, or another server) is sent the
script once (redis-py's ``Script``). One binding serves every client,
including those a worker builds after fork. ``run_many`` sends several runs
of one script in one pipeline, without the ``SCRIPT EXISTS`` round trip
redis-py's pipelines make first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

_scripts: dict[str, Script] = {}


def run(r: redis.Redis, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """``source`` run on ``r`` with ``keys`` and ``args``; its reply."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = Script(r, source)
    return script(keys=keys, args=args, client=r)


def run_many(
    r: redis.Redis, source: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
) -> list[Any]:
    """``source`` run once per (keys, args) of ``calls``, in one pipeline; the replies in order.
    A Redis that does not know the script gets it loaded, and the calls again (none ran)."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = Script(r, source)
    for attempt in range(2):
        pipe = r.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        replies = pipe.execute(raise_on_error=False)
        if attempt == 0 and any(isinstance(reply, NoScriptError) for reply in replies):
            r.script_load(source)
            continue
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies
    raise AssertionError("unreachable")  # protocol: the loop returns or raises

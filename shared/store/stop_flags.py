"""Cooperative stop requests: a flag in Redis that a running loop polls.

Stopping is never a kill (DESIGN: no ``revoke(terminate=True)``): ``stop``
sets a flag, and the backtest loop or worker task notices it at its next
check, finishes what it must (SEMANTICS 6: a live signal runs to its close)
and returns cleanly. Because the flag lives in Redis, a stop issued from
another process or host reaches workers anywhere on the farm.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from ..settings import get_settings
from . import keys

log = logging.getLogger("btfarm.store")


def request_stop(r: redis.Redis, mode: str, symbol: str, name: str) -> None:
    """Ask the run ``mode``/``symbol``/``name`` to stop at its next check."""
    r.set(keys.stop_flag(mode, symbol, name), "1", ex=keys.STOP_FLAG_TTL_SECONDS)


def clear_stop(r: redis.Redis, mode: str, symbol: str, name: str) -> None:
    """Forget a stop request; a run calls this when it starts and ends."""
    r.delete(keys.stop_flag(mode, symbol, name))


def is_stop_requested(r: redis.Redis, mode: str, symbol: str, name: str) -> bool:
    """True when a stop was requested for this run (one Redis round trip)."""
    return bool(r.exists(keys.stop_flag(mode, symbol, name)))


class StopPoller:
    """Check a stop flag from a hot loop without a Redis round trip per step.

    ``stopped()`` asks Redis at most once every ``every_seconds`` (measured on
    ``clock``, ``time.monotonic`` by default, so wall-clock jumps do not
    matter) and answers from memory in between. Once a stop is seen it stays
    seen. A Redis error while polling is logged and read as "not stopped":
    a blip in the store should not kill a long backtest, and the next poll
    tries again.
    """

    def __init__(
        self,
        r: redis.Redis,
        mode: str,
        symbol: str,
        name: str,
        every_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._r = r
        self._key = keys.stop_flag(mode, symbol, name)
        self._every = (
            get_settings().stop_check_seconds if every_seconds is None else float(every_seconds)
        )
        self._clock = clock
        self._next_check = float("-inf")  # the first call always asks Redis
        self._stopped = False

    def heard(self, stopped: bool) -> None:
        """The flag as the caller just read it (in a script of its own): the
        poller waits a full interval before it asks Redis again."""
        self._stopped = self._stopped or stopped
        self._next_check = self._clock() + self._every

    def stopped(self) -> bool:
        """True once a stop was requested; hits Redis at most every N seconds."""
        if self._stopped:
            return True
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + self._every
        try:
            self._stopped = bool(self._r.exists(self._key))
        except redis.RedisError as exc:
            log.warning("could not read stop flag %s (%s); will retry", self._key, exc)
        return self._stopped

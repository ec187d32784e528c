"""The farm's result backend: Celery's Redis backend without a subscription per sent task,
and one round trip per state stored.

Celery's Redis backend subscribes to a task's result channel as the task is
sent, so that a later ``AsyncResult.get()`` is woken by Redis. btfarm never
waits on a chunk that way (variant results come through the sweep's inbox
list, see orchestrator/sweeps/collect.py; chunk_watch.py reads states with GET), yet
paid for it on every submit: a SUBSCRIBE per chunk, an UNSUBSCRIBE when its
``AsyncResult`` was collected, and a pub/sub connection per sweep thread.
``AsyncResult.get()`` still works: it subscribes when it waits.

Celery stores a state in two round trips: a GET (a task that already succeeded keeps
its SUCCESS: a redelivered copy must not overwrite it), then SETEX and PUBLISH. A
chunk stores two states (STARTED, then its end), and each round trip wakes Redis,
which costs it more than the commands (bench/reach.py): here the check and the write
are one script, so one round trip, and atomic. A stored value the script cannot read
as JSON (a compressed result) takes Celery's own two round trips.
"""

from __future__ import annotations

from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

from btfarm.shared.store import lua

SCHEMES = (
    "redis",
    "rediss",
)  # the URL schemes this backend takes over (redis+socket:// is "redis")

# 1: stored and published; 0: the task had succeeded already (kept); -1: the stored
# value is not JSON the script reads, so Celery decides.
STORE_UNLESS_SUCCEEDED_LUA = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if not ok or type(meta) ~= 'table' then return -1 end
  if meta['status'] == ARGV[3] then return 0 end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
"""


class FarmRedisBackend(RedisBackend):
    def on_task_call(self, producer, task_id) -> None:
        """Nothing: see the module docstring."""

    def _store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        """Celery's ``_store_result`` (the same value, expiry, channel and SUCCESS rule) in
        one round trip; see the module docstring."""
        meta = self._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = bytes_to_str(task_id)
        value = self.encode(meta)
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError(
                "value too large for Redis backend", state=state, task_id=task_id
            )
        expires = self.failure_expires if state == states.FAILURE else None
        if expires is None:  # (Celery's _set)
            expires = self.expires
        key = bytes_to_str(self.get_key_for_task(task_id))
        stored = self.ensure(
            lua.run,
            (self.client, STORE_UNLESS_SUCCEEDED_LUA, [key], [value, expires or 0, states.SUCCESS]),
        )
        if stored == -1:
            return super()._store_result(task_id, result, state, traceback, request, **kwargs)
        return result

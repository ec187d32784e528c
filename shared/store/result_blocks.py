"""A sweep's collected results in Redis: compressed blocks, and one bit per variant.

A result as its own JSON key costs about 1.1 KB of Redis memory: a million
of them outgrow any sensible ``maxmemory``. Records of one sweep repeat
the same keys, fingerprint and near-identical statistics, so the records
collected together are stored as one block (JSON lines, compressed: text_blocks.py) in
``keys.walker_results``, and bit i of ``keys.walker_collected`` says
variant i is in one. One script writes both, so a variant is in a block
exactly when its bit is set, and never in two: the turn script reads the
bit to skip a variant already collected and to drop a late copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import redis
from redis.client import NEVER_DECODE

from ..text_blocks import pack, unpack
from . import keys, lua

READ_PAGE = 64  # blocks per LRANGE when reading them back

# Stores one block unless one of its variants is already collected; then it writes
# nothing and answers those, and the caller stores the rest without them.
STORE_LUA = """
local collected, results = KEYS[1], KEYS[2]
local ttl, blob = ARGV[1], ARGV[2]
local taken = {}
for i = 3, #ARGV do
  if redis.call('GETBIT', collected, ARGV[i]) == 1 then taken[#taken + 1] = ARGV[i] end
end
if #taken > 0 then return taken end
for i = 3, #ARGV do redis.call('SETBIT', collected, ARGV[i], 1) end
redis.call('RPUSH', results, blob)
redis.call('EXPIRE', collected, ttl)
redis.call('EXPIRE', results, ttl)
return taken
"""

def store(r: redis.Redis, run_id: str, batch: Sequence[tuple[int, str]]) -> set[int]:
    """Store ``batch`` (variant index, its record's JSON) as one block; the indices left out
    because they were collected already (a second copy)."""
    dropped: set[int] = set()
    rest = list(batch)
    while rest:
        taken = lua.run(r, STORE_LUA, keys=[keys.walker_collected(run_id), keys.walker_results(run_id)],
                        args=[keys.WALKER_RESULT_TTL_SECONDS, pack([raw for _, raw in rest]),
                              *(index for index, _ in rest)])
        if not taken:
            break
        dropped |= {int(i) for i in taken}
        rest = [(index, raw) for index, raw in rest if index not in dropped]
    return dropped


def records(r: redis.Redis, run_id: str) -> Iterator[str]:
    """Every stored record of sweep ``run_id`` (its JSON), block by block."""
    key = keys.walker_results(run_id)
    start = 0
    while True:
        page = r.execute_command("LRANGE", key, start, start + READ_PAGE - 1, **{NEVER_DECODE: []})
        for blob in page:
            yield from unpack(blob)
        if len(page) < READ_PAGE:
            return
        start += READ_PAGE


def collected(r: redis.Redis, run_id: str, index: int) -> bool:
    return bool(r.getbit(keys.walker_collected(run_id), index))

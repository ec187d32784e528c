"""A sweep's collected results in Redis: columnar blocks, and one bit per variant.

A result as its own JSON key costs about 1.1 KB of Redis memory: a million
of them outgrow any sensible ``maxmemory``. A chunk task sends the results
of the variants it ran together as one columnar block (result_block.py);
the orchestrator stores each block once, as it came (or without the rows
it already has), in ``keys.walker_results``, and bit i of
``keys.walker_collected`` says variant i is in one. One script writes both,
so a variant is in a block exactly when its bit is set, and never in two:
the turn script reads the bit to skip a variant already collected and to
drop a late copy; a block whose variants are all collected already (a
duplicate) is not stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import redis
from redis.client import NEVER_DECODE

from ..result_block import ResultBlock, pack_records, unpack
from . import keys, lua

READ_PAGE = 64  # blocks per LRANGE when reading them back

# Stores one block unless one of its variants is already collected; then it writes
# nothing and answers those, and the caller stores the rest without them.
STORE_LUA = """
local collected, results = KEYS[1], KEYS[2]
local ttl, blob = ARGV[1], ARGV[2]
-- one BITFIELD call per $CALL_FIELDS variants, not a command per variant
local function bits(op, value)
  local out = {}
  for start = 3, #ARGV, $CALL_FIELDS do
    local args = {}
    for i = start, math.min(start + $CALL_FIELDS - 1, #ARGV) do
      args[#args + 1] = op
      args[#args + 1] = 'u1'
      args[#args + 1] = '#' .. ARGV[i]
      if value then args[#args + 1] = value end
    end
    local reply = redis.call('BITFIELD', collected, unpack(args))
    for k = 1, #reply do out[#out + 1] = reply[k] end
  end
  return out
end
local taken = {}
for k, bit in ipairs(bits('GET')) do
  if bit == 1 then taken[#taken + 1] = ARGV[k + 2] end
end
if #taken > 0 then return taken end
bits('SET', 1)
redis.call('RPUSH', results, blob)
redis.call('EXPIRE', collected, ttl)
redis.call('EXPIRE', results, ttl)
return taken
""".replace("$CALL_FIELDS", "500")  # (Lua's unpack takes a few thousand values)

Rows = Sequence[int] | np.ndarray  # row numbers of a block


def store(r: redis.Redis, run_id: str, block: ResultBlock, rows: Rows | None = None) -> set[int]:
    """Store ``rows`` of ``block`` (every row by default) as one block; the variant indices
    left out because they were collected already (a second copy)."""
    return store_many(r, run_id, [(block, rows)])[0]


def store_many(
    r: redis.Redis, run_id: str, items: Sequence[tuple[ResultBlock, Rows | None]]
) -> list[set[int]]:
    """``store`` of each (block, rows) in one round trip (another for a block holding a
    variant collected already); for each, the indices left out."""
    args = [keys.walker_collected(run_id), keys.walker_results(run_id)]
    chosen = [
        np.arange(len(block)) if rows is None else np.asarray(rows, dtype=np.int64)
        for block, rows in items
    ]
    sent = [at for at, rows in enumerate(chosen) if len(rows)]
    calls = [
        (
            args,
            [
                keys.WALKER_RESULT_TTL_SECONDS,
                items[at][0].take(chosen[at]),
                *items[at][0].index[chosen[at]].tolist(),
            ],
        )
        for at in sent
    ]
    answered = dict(zip(sent, lua.run_many(r, STORE_LUA, calls), strict=True)) if sent else {}
    replies = [answered.get(at, []) for at in range(len(items))]
    dropped: list[set[int]] = []
    for (block, _), rows, taken in zip(items, chosen, replies, strict=True):
        out: set[int] = set()
        while taken:  # a variant of it was collected already: store the rest without it
            out |= {int(i) for i in taken}
            rows = rows[~np.isin(block.index[rows], list(out))]
            if not len(rows):
                break
            taken = lua.run(
                r,
                STORE_LUA,
                keys=args,
                args=[
                    keys.WALKER_RESULT_TTL_SECONDS,
                    block.take(rows),
                    *block.index[rows].tolist(),
                ],
            )
        dropped.append(out)
    return dropped


def store_records(r: redis.Redis, run_id: str, records: Sequence[Mapping[str, Any]]) -> set[int]:
    """``records`` (result records) stored as one block; the indices left out."""
    return store(r, run_id, pack_records(records))


def blocks(r: redis.Redis, run_id: str) -> Iterator[ResultBlock]:
    """Every stored block of sweep ``run_id``, in the order they were stored."""
    key = keys.walker_results(run_id)
    start = 0
    while True:
        page = r.execute_command("LRANGE", key, start, start + READ_PAGE - 1, **{NEVER_DECODE: []})
        for blob in page:
            yield unpack(blob)
        if len(page) < READ_PAGE:
            return
        start += READ_PAGE


def records(r: redis.Redis, run_id: str) -> Iterator[dict[str, Any]]:
    """Every stored record of sweep ``run_id``, block by block (decoded: tests and tools)."""
    for block in blocks(r, run_id):
        yield from block.records()


def collected(r: redis.Redis, run_id: str, index: int) -> bool:
    return bool(r.getbit(keys.walker_collected(run_id), index))

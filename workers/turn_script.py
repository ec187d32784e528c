"""The chunk task's one round trip between two variants: a Lua script with named inputs.

Between two variants of a chunk the task pushes the finished variant's record
unless another chunk's copy was already collected (its bit in
``keys.walker_collected``), rings the sweep's doorbell when asked, then
checks the next variant
(walker stopped? lease held by this attempt? claimed by another chunk?
already collected?), claims it and marks it running. The chunk's first turn
also counts the delivery and, when a previous delivery left a variant marked
running, counts a crash of that variant (its worker died in it). A variant
of a few milliseconds cannot afford the four round trips this would take.

Every key is built in shared/store/keys.py; this module only orders them
for the script, so nothing here is addressed as ``KEYS[5]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from btfarm.shared.store import keys, lua, variant_marks

# What the script answers: "go" (run it), or why not: "done" (no next variant),
# "stopped", "orphaned" (the lease moved on), "taken" (another chunk claimed it),
# "collected" (a result exists), "dead" (it killed its worker too often, or is not to run).
TURN_LUA = """
local inbox, task_record, lease, executions = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local collected, doorbell, claims, stop_flag = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ttl, attempt, next_name, run_it = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ring, claim_no, first_turn, crashes_allowed = ARGV[5], tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local next_index, record_index, record = ARGV[9], ARGV[10], ARGV[11]

local died_in, deaths = '', 0
if first_turn == '1' then
  redis.call('HINCRBY', task_record, 'deliveries', 1)
  redis.call('EXPIRE', task_record, ttl)
  died_in = redis.call('HGET', task_record, 'running') or ''
  if died_in ~= '' then
    deaths = redis.call('HINCRBY', task_record, 'crashes:' .. died_in, 1)
  end
end
-- a late record (its variant was redone elsewhere and collected: a partitioned host
-- coming back) is dropped here, not left in the inbox for nobody
if record and redis.call('GETBIT', collected, record_index) == 0 then
  redis.call('RPUSH', inbox, record)
  redis.call('EXPIRE', inbox, ttl)
end
if ring == '1' then
  redis.call('RPUSH', doorbell, '1')
  redis.call('EXPIRE', doorbell, ttl)
end
local function answer(status)
  return {status, died_in, deaths}
end
local function unmarked(status)  -- no variant of this task is running now
  redis.call('HDEL', task_record, 'running')
  return answer(status)
end
if next_name == '' then return unmarked('done') end
if redis.call('EXISTS', stop_flag) == 1 then return unmarked('stopped') end
if redis.call('GET', lease) ~= attempt then return unmarked('orphaned') end
local at = '#' .. next_index
local owner = redis.call('BITFIELD', claims, 'GET', '$CLAIM', at)[1]
if owner ~= 0 and owner ~= claim_no then return unmarked('taken') end
if redis.call('GETBIT', collected, next_index) == 1 then return unmarked('collected') end
if owner == 0 then
  redis.call('BITFIELD', claims, 'SET', '$CLAIM', at, claim_no)
  redis.call('EXPIRE', claims, ttl)
end
if run_it ~= '1' or (died_in == next_name and deaths > crashes_allowed) then
  return unmarked('dead')
end
redis.call('HSET', task_record, 'running', next_name)
redis.call('BITFIELD', executions, 'OVERFLOW', 'SAT', 'INCRBY', '$RUNS', at, 1)
redis.call('EXPIRE', executions, ttl)
return answer('go')
""".replace("$CLAIM", variant_marks.CLAIM).replace("$RUNS", variant_marks.RUNS)  # one spelling of the packing


@dataclass(frozen=True)
class TurnKeys:
    """The keys of one chunk's turns (variants are addressed by index inside them)."""

    inbox: str  # keys.walker_inbox: finished records go here
    task_record: str  # keys.chunk_task: deliveries, the running mark, crashes per variant
    lease: str  # keys.walker_lease: the attempt collecting this sweep
    executions: str  # keys.walker_executions: runs per variant (tests prove none runs twice)
    collected: str  # keys.walker_collected: a bit per variant whose result is stored
    doorbell: str  # keys.walker_doorbell: wakes the orchestrator
    claims: str  # keys.walker_claims: which chunk took which variant
    stop_flag: str  # keys.stop_flag of the walker


def run_turn(r: redis.Redis, turn_keys: TurnKeys, *, attempt: int, chunk_id: str,
             next_variant: tuple[int, str] | None, run_it: bool, ring: bool, first_turn: bool,
             crashes_allowed: int, record: tuple[int, str] | None) -> tuple[str, str, int]:
    """Push ``record`` (a finished variant's index and JSON, if any; dropped if that variant
    was collected), ring when ``ring``, then check, claim and mark ``next_variant``
    (its index and name). Returns (status, the variant a previous delivery died in or "",
    its crash count)."""
    next_index, next_name = next_variant if next_variant else (0, "")
    status, died_in, deaths = lua.run(
        r, TURN_LUA, keys=[turn_keys.inbox, turn_keys.task_record, turn_keys.lease, turn_keys.executions,
              turn_keys.collected, turn_keys.doorbell, turn_keys.claims, turn_keys.stop_flag],
        args=[keys.WALKER_RESULT_TTL_SECONDS, attempt, next_name, "1" if run_it else "0",
              "1" if ring else "0", variant_marks.claim_number(chunk_id), "1" if first_turn else "0",
              crashes_allowed, next_index, *((record[0], record[1]) if record is not None else ())])
    return status, died_in, int(deaths)

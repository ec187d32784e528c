"""The chunk task's one round trip between two batches of variants: a Lua script with named inputs.

Between two batches the task stores the finished batch's block of results
(shared/result_block.py) when none of its variants is collected yet (their
bits in ``keys.walker_collected``, set with it), else pushes it to the inbox
for the orchestrator unless every variant of it was collected already from
another chunk's copy; it rings
the sweep's doorbell when asked, then checks the next batch (walker
stopped? lease held by this attempt?) and, variant by variant in order,
whether another chunk claimed it or its result is already collected, claims
it and marks it running. The chunk's first turn also counts the delivery
and, when a previous delivery left one variant marked running, counts a
crash of that variant (its worker died in it); a previous delivery that died
in a batch of several leaves them all as suspects, which the task then runs
one per turn, so the next death names its variant. Variants of a few
milliseconds cannot afford a round trip each: a batch is several of them.

Every key is built in shared/store/keys.py; this module only orders them
for the script, so nothing here is addressed as ``KEYS[5]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from btfarm.shared.store import keys, lua, variant_marks

# Per variant of the batch, the script answers "go" (run it), or why not: "taken" (another
# chunk claimed it; the rest of its list is taken too, so nothing after it is answered),
# "collected" (a result exists), "dead" (it killed its worker too often, or is not to run).
# For the whole batch it may answer instead "done" (no next variant), "stopped" or
# "orphaned" (the lease moved on).
TURN_LUA = (
    """
local inbox, task_record, lease, executions = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local collected, doorbell, claims, stop_flag, results = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local ttl, attempt, ring, claim_no = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local first_turn, crashes_allowed, stolen = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local block, block_size, batch_size, skip_size = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local storable = ARGV[12]  -- '1': every row of the block is a result (none "stopped")
-- '1': the block's indices go one by one up or down; so do the batch's, with none to skip (most batches: a chunk's own list, or the list it steals from)
local block_run, batch_run = ARGV[13], ARGV[14]
local block_at, batch_at = 15, 15 + block_size  -- the block's indices, the batch's, those to skip
local skip = {}
for k = batch_at + batch_size, batch_at + batch_size + skip_size - 1 do skip[ARGV[k]] = true end

-- A run of variants is checked and marked a few commands at a time instead of a few per
-- variant: the script's own work per variant cost Redis more than anything else a result
-- costs it (bench/reach.py). A run is checked whole; anything but the common case (none of it
-- claimed, collected or started) takes the variant-by-variant path below, which is the rule.
local function span(from, count)  -- lowest index and count of ARGV[from .. from + count - 1]
  local a, b = tonumber(ARGV[from]), tonumber(ARGV[from + count - 1])
  return math.min(a, b), count
end

local function no_bit_set(key, lo, count)  -- whether bits lo .. lo + count - 1 are all 0
  local args = {}
  for at = lo, lo + count - 1, 32 do
    args[#args + 1] = 'GET'
    args[#args + 1] = 'u' .. math.min(32, lo + count - at)
    args[#args + 1] = at
  end
  for start = 1, #args, 1500 do
    for _, value in ipairs(redis.call('BITFIELD', key, unpack(args, start, math.min(start + 1499, #args)))) do
      if value ~= 0 then return false end
    end
  end
  return true
end

local function set_bits(key, lo, count)  -- bits lo .. lo + count - 1 set to 1
  local args = {}
  for at = lo, lo + count - 1, 32 do
    local width = math.min(32, lo + count - at)
    args[#args + 1] = 'SET'
    args[#args + 1] = 'u' .. width
    args[#args + 1] = at
    args[#args + 1] = 2 ^ width - 1
  end
  for start = 1, #args, 2000 do
    redis.call('BITFIELD', key, unpack(args, start, math.min(start + 1999, #args)))
  end
end

local function zeros(key, from, to)  -- whether bytes from .. to of key are all 0 (or absent)
  local bytes = redis.call('GETRANGE', key, from, to)
  return bytes == string.rep('\0', #bytes)
end

local function big_endian(value, width)  -- value as width bytes, as BITFIELD's u<8 * width>
  local bytes = {}
  for b = width, 1, -1 do
    bytes[b] = value % 256
    value = math.floor(value / 256)
  end
  return string.char(unpack(bytes))
end

local died_in, deaths, suspects = '', 0, ''
if first_turn == '1' then
  redis.call('HINCRBY', task_record, 'deliveries', 1)
  redis.call('EXPIRE', task_record, ttl)
  died_in = redis.call('HGET', task_record, 'running') or ''
  if died_in ~= '' then
    deaths = redis.call('HINCRBY', task_record, 'crashes:' .. died_in, 1)
  end
  suspects = redis.call('HGET', task_record, 'batch') or ''
end
-- A block none of whose variants is collected is stored here, as result_blocks.py stores
-- one (the block, and a bit per variant, together); the orchestrator reads the results list
-- from where it stopped. Any other goes to the inbox, for the orchestrator to sort out; a
-- late block (its variants were redone elsewhere and collected: a partitioned host coming
-- back) is dropped here, not left in the inbox for nobody.
if block_size > 0 then
  local fresh, lo = 0, nil
  if block_run == '1' then
    lo = span(block_at, block_size)
    if no_bit_set(collected, lo, block_size) then fresh = block_size else lo = nil end
  end
  if lo == nil then
    for k = block_at, batch_at - 1 do
      fresh = fresh + 1 - redis.call('GETBIT', collected, ARGV[k])
    end
  end
  if fresh == block_size and storable == '1' then
    if lo ~= nil then
      set_bits(collected, lo, block_size)
    else
      for k = block_at, batch_at - 1 do redis.call('SETBIT', collected, ARGV[k], 1) end
    end
    redis.call('RPUSH', results, block)
    redis.call('EXPIRE', collected, ttl)
    redis.call('EXPIRE', results, ttl)
  elseif fresh > 0 then
    redis.call('RPUSH', inbox, block)
    redis.call('EXPIRE', inbox, ttl)
  end
end
if ring == '1' then
  redis.call('RPUSH', doorbell, '1')
  redis.call('EXPIRE', doorbell, ttl)
end
local function answer(statuses)
  return {died_in, deaths, suspects, statuses}
end
redis.call('HDEL', task_record, 'running', 'batch')  -- marked again below for what runs now
if batch_size == 0 then return answer({'done'}) end
if redis.call('EXISTS', stop_flag) == 1 then return answer({'stopped'}) end
if redis.call('GET', lease) ~= attempt then return answer({'orphaned'}) end
if batch_run == '1' then
  local lo, count = span(batch_at, batch_size)
  local died = tonumber(died_in)
  if (died == nil or died < lo or died >= lo + count)
    and zeros(claims, lo * $CLAIM_BYTES, (lo + count) * $CLAIM_BYTES - 1)
    and no_bit_set(collected, lo, count)
    and zeros(executions, lo * $RUNS_BYTES, (lo + count) * $RUNS_BYTES - 1)
  then  -- none claimed, collected or started: every one is claimed, marked started, and goes
    redis.call('SETRANGE', claims, lo * $CLAIM_BYTES, string.rep(big_endian(claim_no, $CLAIM_BYTES), count))
    redis.call('EXPIRE', claims, ttl)
    redis.call('SETRANGE', executions, lo * $RUNS_BYTES, string.rep(big_endian(1, $RUNS_BYTES), count))
    redis.call('EXPIRE', executions, ttl)
    local statuses, going = {}, {}
    for k = 1, count do
      statuses[k] = 'go'
      going[k] = ARGV[batch_at + k - 1]
    end
    if count == 1 then
      redis.call('HSET', task_record, 'running', going[1])
    else
      redis.call('HSET', task_record, 'batch', table.concat(going, ','))
    end
    return answer(statuses)
  end
end
local statuses, going, claimed = {}, {}, false
for k = 1, batch_size do
  local index = ARGV[batch_at + k - 1]
  local at = '#' .. index
  local owner = redis.call('BITFIELD', claims, 'GET', '$CLAIM', at)[1]
  if owner ~= 0 and owner ~= claim_no then statuses[k] = 'taken' break end
  if redis.call('GETBIT', collected, index) == 1 then
    if stolen == '1' then statuses[k] = 'taken' break end  -- its owner got there
    statuses[k] = 'collected'
  else
    if owner == 0 then
      redis.call('BITFIELD', claims, 'SET', '$CLAIM', at, claim_no)
      claimed = true
    end
    if skip[index] or (died_in == index and deaths > crashes_allowed) then
      statuses[k] = 'dead'
    else
      statuses[k] = 'go'
      going[#going + 1] = index
      redis.call('BITFIELD', executions, 'OVERFLOW', 'SAT', 'INCRBY', '$RUNS', at, 1)
    end
  end
end
if claimed then redis.call('EXPIRE', claims, ttl) end
if #going > 0 then redis.call('EXPIRE', executions, ttl) end
if #going == 1 then
  redis.call('HSET', task_record, 'running', going[1])
elseif #going > 1 then
  redis.call('HSET', task_record, 'batch', table.concat(going, ','))
end
return answer(statuses)
""".replace("$CLAIM_BYTES", str(int(variant_marks.CLAIM[1:]) // 8))
    .replace("$RUNS_BYTES", str(int(variant_marks.RUNS[1:]) // 8))
    .replace("$CLAIM", variant_marks.CLAIM)
    .replace("$RUNS", variant_marks.RUNS)
)  # one spelling of the packing


@dataclass(frozen=True)
class TurnKeys:
    """The keys of one chunk's turns (variants are addressed by index inside them)."""

    inbox: str  # keys.walker_inbox: finished batches' blocks the script does not store go here
    task_record: str  # keys.chunk_task: deliveries, the running mark(s), crashes per variant index
    lease: str  # keys.walker_lease: the attempt collecting this sweep
    executions: str  # keys.walker_executions: runs per variant (tests prove none runs twice)
    collected: str  # keys.walker_collected: a bit per variant whose result is stored
    doorbell: str  # keys.walker_doorbell: wakes the orchestrator
    claims: str  # keys.walker_claims: which chunk took which variant
    stop_flag: str  # keys.stop_flag of the walker
    results: str  # keys.walker_results: the blocks stored (the script stores a block none of whose variants is)


@dataclass(frozen=True)
class TurnAnswer:
    statuses: list[
        str
    ]  # per variant of the batch, in order (shorter after "taken"), or one for all
    died_in: int | None  # the variant (index) a previous delivery died in, alone
    deaths: int  # its crash count
    suspects: list[
        int
    ]  # the variants of a batch a previous delivery died in (run them one at a time)


def run_turn(
    r: redis.Redis,
    turn_keys: TurnKeys,
    *,
    attempt: int,
    chunk_id: str,
    batch: Sequence[int],
    stolen: bool,
    ring: bool,
    first_turn: bool,
    crashes_allowed: int,
    block: bytes | None,
    block_indices: Sequence[int],
    skip: Sequence[int] = (),
    storable: bool = True,
    spans: bool = True,
) -> TurnAnswer:
    """Store ``block`` (a finished batch's results, holding ``block_indices``) when none of them
    is collected and it is ``storable`` (no "stopped" row), else push it to the inbox unless all
    were collected; ring when ``ring``, then check, claim and mark ``batch`` (the indices of
    the next variants, all from one list; ``stolen``: the list it steals from); those in
    ``skip`` are claimed but answered "dead" (they killed their worker too often).
    Arguments cost Redis' CPU: a variant is its index alone. ``spans`` False checks every
    variant one by one even where a span would do (the rule the spans must match: tests)."""
    blocked = list(block_indices) if block is not None else []
    batch = list(batch)
    args: list = [
        keys.WALKER_RESULT_TTL_SECONDS,
        attempt,
        "1" if ring else "0",
        variant_marks.claim_number(chunk_id),
        "1" if first_turn else "0",
        crashes_allowed,
        "1" if stolen else "0",
        block if block is not None else b"",
        len(blocked),
        len(batch),
        len(skip),
        "1" if storable else "0",
        "1" if spans and _run(blocked) else "0",
        "1" if spans and _run(batch) and not skip else "0",
        *blocked,
        *batch,
        *skip,
    ]
    died_in, deaths, suspects, statuses = lua.run(
        r,
        TURN_LUA,
        keys=[
            turn_keys.inbox,
            turn_keys.task_record,
            turn_keys.lease,
            turn_keys.executions,
            turn_keys.collected,
            turn_keys.doorbell,
            turn_keys.claims,
            turn_keys.stop_flag,
            turn_keys.results,
        ],
        args=args,
    )
    return TurnAnswer(
        statuses=list(statuses),
        died_in=int(died_in) if died_in else None,
        deaths=int(deaths),
        suspects=[int(i) for i in suspects.split(",")] if suspects else [],
    )


def _run(indices: Sequence[int]) -> bool:
    """Whether ``indices`` go one by one up, or one by one down (the script then checks and
    marks them as a span)."""
    if len(indices) < 2:
        return len(indices) == 1
    step = indices[1] - indices[0]
    return step in (1, -1) and all(
        b - a == step for a, b in zip(indices, indices[1:], strict=False)
    )

"""The turn script checks and marks a run of consecutive variants as a span; whatever the
marks already there (claims of this chunk or another, collected results, earlier starts, a
death), its answer and every mark it leaves are those of the variant-by-variant rule."""

from __future__ import annotations

import uuid

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfarm.shared.payloads import Variant, result_record
from btfarm.shared.result_block import pack
from btfarm.shared.store import keys
from btfarm.workers.turn_script import TurnKeys, run_turn

pytestmark = pytest.mark.integration

SIZE = 80  # variants of the sweep
MINE = "3"  # the chunk taking the turn; claim numbers are chunk id + 1


def turn_keys(run_id: str) -> TurnKeys:
    return TurnKeys(
        inbox=keys.walker_inbox(run_id),
        task_record=keys.chunk_task(f"{run_id}-t"),
        lease=keys.walker_lease(run_id),
        executions=keys.walker_executions(run_id),
        collected=keys.walker_collected(run_id),
        doorbell=keys.walker_doorbell(run_id),
        claims=keys.walker_claims(run_id, 1),
        stop_flag=keys.stop_flag("walker", "X", run_id),
        results=keys.walker_results(run_id),
    )


def marks(r, run_id: str) -> dict:
    k = turn_keys(run_id)
    return {
        "claims": (r.get(k.claims) or b"").rstrip(b"\0"),
        "claims_ttl": r.ttl(k.claims) > 0,
        "executions": (r.get(k.executions) or b"").rstrip(b"\0"),
        "executions_ttl": r.ttl(k.executions) > 0,
        "collected": (r.get(k.collected) or b"").rstrip(b"\0"),
        "results": r.lrange(k.results, 0, -1),
        "inbox": r.lrange(k.inbox, 0, -1),
        "task": r.hgetall(k.task_record),
    }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    claimed=st.dictionaries(st.integers(0, SIZE - 1), st.sampled_from([1, 4, 9]), max_size=4),
    collected=st.sets(st.integers(0, SIZE - 1), max_size=4),
    started=st.dictionaries(st.integers(0, SIZE - 1), st.integers(1, 255), max_size=4),
    start=st.integers(0, SIZE - 1),
    length=st.integers(1, 40),
    down=st.booleans(),
    stolen=st.booleans(),
    block=st.tuples(st.integers(0, SIZE - 1), st.integers(0, 12), st.booleans()),
    died_in=st.one_of(st.none(), st.integers(0, SIZE - 1)),
    first_turn=st.booleans(),
)
def test_a_span_answers_and_marks_as_the_variant_by_variant_rule(
    redis_client,
    redis_server,
    claimed,
    collected,
    started,
    start,
    length,
    down,
    stolen,
    block,
    died_in,
    first_turn,
):
    r = redis_client
    raw = redis.Redis(
        host=redis_server.host, port=redis_server.port, password=redis_server.password
    )
    batch = list(range(start, min(start + length, SIZE)))
    batch = batch[::-1] if down else batch
    block_start, block_length, block_down = block
    blocked = list(range(block_start, min(block_start + block_length, SIZE)))
    blocked = blocked[::-1] if block_down else blocked
    records = [
        result_record(Variant(strategy_name=f"v{i}", base="v", index=i), "done") for i in blocked
    ]
    answers, states = [], []
    for spans in (True, False):
        run_id = uuid.uuid4().hex[:12]
        k = turn_keys(run_id)
        r.set(k.lease, 1)
        for index, number in claimed.items():
            r.execute_command("BITFIELD", k.claims, "SET", "u32", f"#{index}", number)
        for index in collected:
            r.setbit(k.collected, index, 1)
        for index, runs in started.items():
            r.execute_command("BITFIELD", k.executions, "SET", "u8", f"#{index}", runs)
        if died_in is not None:
            r.hset(k.task_record, "running", died_in)
        answer = run_turn(
            r,
            k,
            attempt=1,
            chunk_id=MINE,
            batch=batch,
            stolen=stolen,
            ring=False,
            first_turn=first_turn,
            crashes_allowed=0,
            block=pack(records) if records else None,
            block_indices=blocked,
            spans=spans,
        )
        answers.append(answer)
        states.append(marks(raw, run_id))
    assert answers[0] == answers[1]
    assert states[0] == states[1]

"""The chunk task's batched turn (workers/turn_script.py) against a real Redis: batches of
claims from both ends of one list, redeliveries and late blocks, in any interleaving."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfarm.shared.payloads import Variant, result_record
from btfarm.shared.result_block import pack
from btfarm.shared.store import keys, result_blocks, variant_marks
from btfarm.workers.turn_script import TurnKeys, run_turn
from tests.support.inbox import handed_in, inbox_records

pytestmark = pytest.mark.integration

OWNER, STEALER = (
    "0",
    "1",
)  # chunk ids: the owner claims its list from the start, the stealer from the end


def turn_keys(run_id: str, task_id: str) -> TurnKeys:
    return TurnKeys(
        inbox=keys.walker_inbox(run_id),
        task_record=keys.chunk_task(task_id),
        lease=keys.walker_lease(run_id),
        executions=keys.walker_executions(run_id),
        collected=keys.walker_collected(run_id),
        doorbell=keys.walker_doorbell(run_id),
        claims=keys.walker_claims(run_id, 1),
        stop_flag=keys.stop_flag("walker", "X", run_id),
        results=keys.walker_results(run_id),
    )


class Delivery:
    """One delivery of a chunk: it walks its list in batches, pushing each batch's block
    (one record per variant it ran) at its next turn."""

    def __init__(self, r, run_id: str, chunk_id: str, order: list[int], task_id: str) -> None:
        self.r, self.run_id, self.chunk_id, self.order = r, run_id, chunk_id, order
        self.keys = turn_keys(run_id, task_id)
        self.at, self.first, self.unsent, self.ran = 0, True, [], []
        self.done = False
        self.answers = []

    def step(self, size: int, stolen: bool) -> None:
        batch = self.order[self.at : self.at + size] if not self.done else []
        answer = run_turn(
            self.r,
            self.keys,
            attempt=1,
            chunk_id=self.chunk_id,
            batch=batch,
            stolen=stolen,
            ring=False,
            first_turn=self.first,
            crashes_allowed=3,
            block=pack(self.unsent) if self.unsent else None,
            block_indices=[rec["index"] for rec in self.unsent],
        )
        self.answers.append(answer)
        self.first, self.unsent = False, []
        if not batch:
            return
        self.at += len(answer.statuses)
        for index, status in zip(batch, answer.statuses, strict=False):
            if status == "go":
                self.ran.append(index)
                self.unsent.append(
                    result_record(Variant(strategy_name=f"v{index}", base="v", index=index), "done")
                )
        if "taken" in answer.statuses or self.at >= len(self.order):
            self.done = True

    def finish(self) -> None:
        if self.unsent or not self.done:
            self.done = True
            self.step(0, False)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(1, 40),
    moves=st.lists(st.tuples(st.booleans(), st.integers(1, 9)), max_size=60),
)
def test_owner_and_stealer_claim_in_batches_from_both_ends_and_meet_each_variant_once(
    redis_client, size, moves
):
    run_id = uuid.uuid4().hex[:12]
    redis_client.set(keys.walker_lease(run_id), 1)
    variants = list(range(size))
    owner = Delivery(redis_client, run_id, OWNER, variants, f"{run_id}-o")
    stealer = Delivery(redis_client, run_id, STEALER, variants[::-1], f"{run_id}-s")
    for stealing, batch in moves:  # any interleaving, any batch sizes
        (stealer if stealing else owner).step(batch, stolen=stealing)
    while not (owner.done and stealer.done):
        owner.step(5, stolen=False)
        stealer.step(3, stolen=True)
    owner.finish()
    stealer.finish()
    # the owner ran a prefix of the list, the stealer a suffix; together each variant once
    assert owner.ran == variants[: len(owner.ran)]
    assert stealer.ran == variants[::-1][: len(stealer.ran)]
    assert sorted(owner.ran + stealer.ran) == variants
    claimed = variant_marks.owners(redis_client, run_id, 1, variants)
    assert claimed == [OWNER] * len(owner.ran) + [STEALER] * len(stealer.ran)
    assert variant_marks.executions(redis_client, run_id) == {i: 1 for i in variants}
    pushed = [rec["index"] for rec in handed_in(redis_client, run_id)]
    assert sorted(pushed) == variants  # every result handed in, once, as blocks
    assert inbox_records(redis_client, run_id) == []  # each block stored by the turn itself
    assert not redis_client.hexists(keys.chunk_task(f"{run_id}-o"), "batch")  # no mark left


def test_a_delivery_killed_in_a_batch_leaves_it_as_suspects_and_one_killed_alone_counts_a_crash(
    redis_client,
):
    run_id = "killed"
    redis_client.set(keys.walker_lease(run_id), 1)
    tk = turn_keys(run_id, "killed-0")

    def turn(batch, first, block=None):
        return run_turn(
            redis_client,
            tk,
            attempt=1,
            chunk_id=OWNER,
            batch=batch,
            stolen=False,
            ring=False,
            first_turn=first,
            crashes_allowed=1,
            block=pack(block) if block else None,
            block_indices=[r["index"] for r in block or []],
        )

    assert turn([0, 1, 2], True).statuses == [
        "go",
        "go",
        "go",
    ]  # ... and the worker dies in the batch
    again = turn([0], True)  # the redelivery: no crash counted, the batch named
    assert again.suspects == [0, 1, 2] and again.died_in is None and again.statuses == ["go"]
    # v0 runs alone and kills its worker: the next delivery counts a crash of v0
    third = turn([0], True)
    assert (third.died_in, third.deaths, third.suspects) == (0, 1, [])
    fourth = turn([0], True)
    assert (fourth.died_in, fourth.deaths) == (0, 2) and fourth.statuses == [
        "dead"
    ]  # past crashes_allowed
    record = result_record(Variant(strategy_name="v1", base="v", index=1), "done")
    assert turn([1], False, block=[]).statuses == ["go"]
    assert turn([], False, block=[record]).statuses == ["done"]
    assert redis_client.hgetall(keys.chunk_task("killed-0")).keys() == {"deliveries", "crashes:0"}
    skipped = run_turn(
        redis_client,
        tk,
        attempt=1,
        chunk_id=OWNER,
        batch=[2, 3],
        skip=[2],
        stolen=False,
        ring=False,
        first_turn=False,
        crashes_allowed=1,
        block=None,
        block_indices=[],
    )
    assert skipped.statuses == ["dead", "go"]  # claimed, not run: the task reports it failed
    assert [r["index"] for r in handed_in(redis_client, run_id)] == [1]


def test_a_redelivery_skips_what_was_collected_and_a_late_block_of_collected_variants_is_dropped(
    redis_client,
):
    run_id = "late"
    redis_client.set(keys.walker_lease(run_id), 1)
    tk = turn_keys(run_id, "late-0")
    done = [
        result_record(Variant(strategy_name=f"v{i}", base="v", index=i), "done") for i in range(4)
    ]
    result_blocks.store_records(redis_client, run_id, done[:2])  # v0 and v1 collected meanwhile
    answer = run_turn(
        redis_client,
        tk,
        attempt=1,
        chunk_id=OWNER,
        batch=[0, 1, 2, 3],
        stolen=False,
        ring=False,
        first_turn=True,
        crashes_allowed=1,
        block=pack(done[:2]),
        block_indices=[0, 1],
    )  # a late block: all of it collected
    assert answer.statuses == ["collected", "collected", "go", "go"]
    assert inbox_records(redis_client, run_id) == []
    # a block with one variant not collected yet is pushed whole (collect drops the copy)
    run_turn(
        redis_client,
        tk,
        attempt=1,
        chunk_id=OWNER,
        batch=[],
        stolen=False,
        ring=False,
        first_turn=False,
        crashes_allowed=1,
        block=pack(done[1:3]),
        block_indices=[1, 2],
    )
    assert [r["index"] for r in inbox_records(redis_client, run_id)] == [1, 2]
    # a block with a "stopped" row is the orchestrator's to sort out: it goes to the inbox
    stopped = result_record(
        Variant(strategy_name="v3", base="v", index=3), "stopped", error="walker stopped"
    )
    run_turn(
        redis_client,
        tk,
        attempt=1,
        chunk_id=OWNER,
        batch=[],
        stolen=False,
        ring=False,
        first_turn=False,
        crashes_allowed=1,
        block=pack([stopped]),
        block_indices=[3],
        storable=False,
    )
    assert [r["index"] for r in inbox_records(redis_client, run_id)] == [1, 2, 3]
    assert not result_blocks.collected(redis_client, run_id, 3)
    # the stealer reads "collected" as "its owner got there": the rest of its list is taken
    stolen = run_turn(
        redis_client,
        turn_keys(run_id, "late-1"),
        attempt=1,
        chunk_id=STEALER,
        batch=[1, 0],
        stolen=True,
        ring=False,
        first_turn=True,
        crashes_allowed=1,
        block=None,
        block_indices=[],
    )
    assert stolen.statuses == ["taken"]


def test_a_stopped_walker_or_a_lost_lease_claims_nothing(redis_client):
    run_id = "halt"
    tk = turn_keys(run_id, "halt-0")
    redis_client.set(keys.walker_lease(run_id), 2)  # a resume took over
    answer = run_turn(
        redis_client,
        tk,
        attempt=1,
        chunk_id=OWNER,
        batch=[0],
        stolen=False,
        ring=False,
        first_turn=True,
        crashes_allowed=1,
        block=None,
        block_indices=[],
    )
    assert answer.statuses == ["orphaned"]
    redis_client.set(keys.walker_lease(run_id), 1)
    redis_client.set(tk.stop_flag, 1)
    answer = run_turn(
        redis_client,
        tk,
        attempt=1,
        chunk_id=OWNER,
        batch=[0],
        stolen=False,
        ring=False,
        first_turn=False,
        crashes_allowed=1,
        block=None,
        block_indices=[],
    )
    assert answer.statuses == ["stopped"]
    assert variant_marks.owners(redis_client, run_id, 1, [0]) == [None]

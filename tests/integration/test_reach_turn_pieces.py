"""The chunk task's turn script sends a batch's bit fields in pieces of a few hundred (Lua's
``unpack`` takes a few thousand values): a block and a batch far past one piece are stored,
claimed and marked whole, once."""

from __future__ import annotations

import pytest

from btfarm.shared.payloads import Variant, result_record
from btfarm.shared.result_block import pack
from btfarm.shared.store import keys, result_blocks, variant_marks
from btfarm.workers.turn_script import TurnKeys, run_turn

pytestmark = pytest.mark.integration

COUNT = 1_234  # more than two pieces of the script's BITFIELD calls


def test_a_batch_and_a_block_of_many_pieces_are_claimed_marked_and_stored_whole(redis_client):
    run_id = "pieces"
    redis_client.set(keys.walker_lease(run_id), 1)
    turn_keys = TurnKeys(
        inbox=keys.walker_inbox(run_id),
        task_record=keys.chunk_task("pieces-0"),
        lease=keys.walker_lease(run_id),
        executions=keys.walker_executions(run_id),
        collected=keys.walker_collected(run_id),
        doorbell=keys.walker_doorbell(run_id),
        claims=keys.walker_claims(run_id, 1),
        stop_flag=keys.stop_flag("walker", "X", run_id),
        results=keys.walker_results(run_id),
    )
    indices = list(range(COUNT))

    def turn(batch, records):
        return run_turn(
            redis_client,
            turn_keys,
            attempt=1,
            chunk_id="4",
            batch=batch,
            stolen=False,
            ring=False,
            first_turn=not records,
            crashes_allowed=3,
            block=pack(records) if records else None,
            block_indices=[rec["index"] for rec in records],
        )

    assert turn(indices, []).statuses == ["go"] * COUNT
    assert variant_marks.owners(redis_client, run_id, 1, indices) == ["4"] * COUNT
    assert variant_marks.executions(redis_client, run_id) == {i: 1 for i in indices}
    records = [
        result_record(Variant(strategy_name=f"v{i}", base="v", index=i), "done") for i in indices
    ]
    assert turn([], records).statuses == ["done"]
    assert [i for i in indices if result_blocks.collected(redis_client, run_id, i)] == indices
    stored = [
        rec["index"]
        for block in result_blocks.blocks(redis_client, run_id)
        for rec in block.records()
    ]
    assert stored == indices
    # the same variants again (a redelivery): all collected, so nothing runs or is stored twice
    again = run_turn(
        redis_client,
        turn_keys,
        attempt=1,
        chunk_id="4",
        batch=indices,
        stolen=False,
        ring=False,
        first_turn=False,
        crashes_allowed=3,
        block=pack(records),
        block_indices=indices,
    )
    assert again.statuses == ["collected"] * COUNT
    assert variant_marks.executions(redis_client, run_id) == {i: 1 for i in indices}
    assert len(list(result_blocks.blocks(redis_client, run_id))) == 1

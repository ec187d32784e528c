"""What a big sweep's orchestrator holds per variant: a byte pending, its record compressed,
chunks built only when the window submits them."""

import json

import numpy as np
import pytest

from btfarm.orchestrator.sweeps import fanout
from btfarm.orchestrator.sweeps.held_records import HeldRecords
from btfarm.orchestrator.sweeps.pending import Pending
from btfarm.shared.payloads import Chunk
from btfarm.shared.result_block import pack_records
from btfarm.shared.variant_space import VariantSpace

pytestmark = pytest.mark.unit


BLOCK = 64  # results in a block, as a worker's batch holds at most (workers/tasks.py MAX_BATCH)


def record(index: int, **extra) -> dict:
    return {
        "index": index,
        "strategy_name": f"v{index}",
        "status": "done",
        "stats": {"total_pnl": index * 0.5, "total_signals": 3},
        **extra,
    }


def put(held: HeldRecords, records: list[dict]) -> None:
    block = pack_records(records)
    held.put(block, np.arange(len(records)))


def test_held_records_come_back_as_put_the_last_copy_winning():
    held = HeldRecords(3 * BLOCK)
    order = list(range(0, 3 * BLOCK, 2)) + list(
        range(1, 3 * BLOCK, 2)
    )  # arrival is not index order
    for start in range(0, len(order), BLOCK):
        put(held, [record(i) for i in order[start : start + BLOCK]])
    put(held, [record(7, error="again")])
    assert len(held) == 3 * BLOCK and 7 in held
    assert [held.get(i)["index"] for i in range(3 * BLOCK)] == list(range(3 * BLOCK))
    assert held.get(7)["error"] == "again" and held.get(8) == record(8)
    assert [i for i, _ in held.items()] == list(range(3 * BLOCK))
    current = {int(block.index[row]) for block, rows in held.current() for row in rows}
    assert current == set(range(3 * BLOCK))  # each variant once: its first copy (7) left out
    assert sum(len(rows) for _, rows in held.current()) == 3 * BLOCK


def test_held_records_read_while_another_thread_puts(monkeypatch):
    """The progress reader decodes old blocks while the collecting thread writes new ones:
    with one shared file offset, a read between a put's seek and its write read the wrong
    bytes (a block that would not decode, or another block's records)."""
    import threading

    from btfarm.orchestrator.sweeps import held_records

    monkeypatch.setattr(held_records, "DECODED", 0)  # every read goes to the file
    blocks = 400
    held = HeldRecords(blocks * BLOCK)
    put(held, [record(i) for i in range(BLOCK)])
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for start in range(BLOCK, blocks * BLOCK, BLOCK):
                put(held, [record(i) for i in range(start, start + BLOCK)])
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    try:
        while not done.is_set() or reads == 0:
            for index in range(0, len(held) - 1, 97):
                assert held.get(index)["index"] == index
                reads += 1
    finally:
        thread.join()
    assert not errors and len(held) == blocks * BLOCK
    assert [held.get(i)["index"] for i in range(0, blocks * BLOCK, 101)] == list(
        range(0, blocks * BLOCK, 101)
    )


def test_held_records_are_compressed():
    held = HeldRecords(10 * BLOCK)
    for start in range(0, 10 * BLOCK, BLOCK):
        put(held, [record(i) for i in range(start, start + BLOCK)])
    raw = sum(len(json.dumps(record(i))) for i in range(10 * BLOCK))
    assert held.compressed_bytes() < raw / 4


def test_held_records_keep_their_compressed_blocks_on_disk_not_in_memory():
    import random
    import tracemalloc

    rng = random.Random(7)
    total = 40 * BLOCK
    records = [
        record(i, sharpe=rng.random(), pnl=rng.gauss(0, 100), error=None) for i in range(total)
    ]
    blocks = [pack_records(records[start : start + BLOCK]) for start in range(0, total, BLOCK)]
    tracemalloc.start()
    try:
        held = HeldRecords(total)
        for block in blocks:
            held.put(block, np.arange(len(block)))
        del blocks, block
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # two array slots a variant and the last blocks decoded, not every block
    assert kept < held.compressed_bytes() / 2, (kept, held.compressed_bytes())
    assert held.get(5) == records[5] and held.get(total - 1) == records[-1]
    held.close()


def test_pending_counts_and_names_only_what_it_shows():
    named = []
    pending = Pending(1000, lambda i: named.append(i) or f"v{i}")
    for index in range(995):
        pending.discard(index)
    pending.discard(3)  # twice: still one less
    assert len(pending) == 5 and 997 in pending and 3 not in pending and "v3" not in pending
    assert pending.names(shown=2) == "v995, v996 and 3 more" and named == [995, 996]
    assert list(pending.indices()) == [995, 996, 997, 998, 999] and pending.any_of([1, 999])


def test_chunks_are_built_when_asked_for():
    space = VariantSpace(
        [{"base": "s", "keys": ["n"], "values": [list(range(10**6))], "declared": {"n": 0}}]
    )
    built = []

    class Counting(fanout.Subset):
        def __getitem__(self, index):
            got = super().__getitem__(index)
            built.append(len(got) if isinstance(got, list) else 1)
            return got

    missing = Counting(space, range(10, 10**6))
    chunks = fanout.make_chunks("run", "w", "X", "e", "f", missing, 1000)
    assert len(chunks) == 1000 and chunks.size(0) == 1000 and built == []
    first = chunks[0]
    # a sweep's chunk names its variants by index (the worker reads the plan): no Variant is built
    assert (
        first.indices[:2] == [10, 11]
        and first.steal_indices[0] == 2009
        and len(first.steal_indices) == 1000
    )
    assert built == [] and first.variants == [] and first.steal == []
    wire = first.model_dump(mode="json")
    assert wire["indices"][:2] == [10, 11] and wire["variants"] == []
    assert Chunk.model_validate(wire).all_indices() == [*range(10, 1010), *range(2009, 1009, -1)]


def test_progress_items_are_numbers_until_read_and_read_back_whole():
    from btfarm.orchestrator.sweeps.progress_log import ProgressLog
    from btfarm.orchestrator.sweeps.tally import SweepTally

    space = VariantSpace(
        [{"base": "s", "keys": ["n"], "values": [[1, 2, 3]], "declared": {"n": 0}}]
    )
    tally = SweepTally("w", "X", "e", "f", "total_pnl", space, "run", 1)
    log = ProgressLog(tally)
    for index, pnl in ((2, 1.0), (0, 4.0), (1, None)):
        stats = {"total_pnl": pnl, "total_signals": 3} if pnl is not None else None
        status = "done" if pnl is not None else "failed"
        log.append(
            tally.add(
                {
                    "index": index,
                    "strategy_name": space.name(index),
                    "status": status,
                    "stats": stats,
                    "error": None if stats else "boom",
                }
            )
        )
    items = log[0:3]
    assert [
        (p.strategy_name, p.strategies_tested, p.best_strategy, p.best_metric, p.metric_value)
        for p in items
    ] == [
        ("s[n=3]", 1, "s[n=3]", 1.0, 1.0),
        ("s[n=1]", 2, "s[n=1]", 4.0, 4.0),
        ("s[n=2]", 2, "s[n=1]", 4.0, None),
    ]
    assert (
        items[0].stats.total_pnl == 1.0 and items[2].status == "failed" and items[2].error == "boom"
    )


def test_a_tallys_finished_records_leave_their_pnl_per_day_to_a_stream_of_arrays():
    """10,000 year variants' PnL per day as JSON lists decoded to Python floats cost the
    orchestrator ~200 MB more (year10k's peak went from 407 to 605 MB); held as arrays beside
    the rest of each record, still ~45 MB: the ranking's records carry none, and the figures
    read them one at a time (tally.dailies)."""
    import json
    import tracemalloc

    from btfarm.orchestrator.sweeps.tally import SweepTally

    total, days = 1000, 365
    space = VariantSpace(
        [{"base": "s", "keys": ["n"], "values": [list(range(total))], "declared": {"n": 0}}]
    )
    tally = SweepTally("w", "SYM", "x", "f", "total_pnl", space, "run", 1)
    for i, v in enumerate(space):
        tally.add(
            {
                "index": i,
                "strategy_name": v.strategy_name,
                "status": "done",
                "stats": {"total_signals": 9},
                "daily": {
                    "days": days,
                    "at": list(range(0, days, 2)),
                    "pnl": [0.123456 + i] * ((days + 1) // 2),
                },
            }
        )
    tally.add(
        {
            "index": 5,
            "strategy_name": "s[n=5]",
            "status": "done",
            "stats": {"total_signals": 9},
            "daily": {"days": days, "at": [4], "pnl": [5.5]},
        }
    )  # a later record of a variant replaces its first
    tracemalloc.start()
    try:
        finished = tally.finished()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < total * 1_500, kept  # a year of days held per record would be ~4,500 bytes more
    name, rec = finished[7]
    assert (
        name == "s[n=7]"
        and "daily" not in rec
        and json.dumps(rec["stats"]) == '{"total_signals": 9}'
    )
    assert [n for n, _ in finished] == [v.strategy_name for v in space]
    dailies = dict(tally.dailies())
    assert len(dailies) == total
    assert list(dailies["s[n=7]"].at[:2]) == [0, 2] and dailies["s[n=7]"].pnl[0] == 0.123456 + 7
    assert dailies["s[n=5]"].at.tolist() == [4] and dailies["s[n=5]"].pnl.tolist() == [5.5]

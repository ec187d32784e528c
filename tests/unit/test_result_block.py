"""shared/result_block.py: a batch of results as one columnar block, read back exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfarm.shared import daily_pnl, text_blocks
from btfarm.shared.payloads import Variant, dumps, result_record
from btfarm.shared.result_block import (
    INT_STATS,
    STATS,
    BlockError,
    pack,
    pack_records,
    unpack,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
stat_value = {
    name: st.integers(-(10**6), 10**6) if name in INT_STATS else st.none() | finite
    for name in STATS
}
full_stats = st.fixed_dictionaries(stat_value)
odd_stats = st.dictionaries(
    st.sampled_from(STATS + ("extra",)),
    st.none() | st.integers() | finite | st.booleans() | st.text(max_size=5),
    max_size=6,
)


@st.composite
def dailies(draw):
    days = draw(st.integers(1, 400))
    trades = draw(
        st.lists(
            st.tuples(st.integers(0, days * 86_400_000 - 1), finite.filter(lambda x: abs(x) < 1e6)),
            max_size=30,
        )
    )
    pnl = np.array([p for _, p in trades], dtype=float)
    close = np.array([t for t, _ in trades], dtype=np.int64)
    return daily_pnl.daily_record(pnl, close, 0, days * 86_400_000)


@st.composite
def records(draw):
    indices = draw(st.lists(st.integers(0, 10**9), unique=True, max_size=20))
    out = []
    for index in indices:
        status = draw(st.sampled_from(["done", "failed", "stopped"]))
        variant = Variant(strategy_name=f"s[n={index}]", base="s", params={"n": index}, index=index)
        if status == "done":
            stats = draw(full_stats | odd_stats)
            record = result_record(
                variant,
                "done",
                stats=stats,
                fingerprint={"candles": 1440, "params": {"n": index}},
                worker="h:1",
                seconds=draw(finite.filter(lambda x: x >= 0)),
                lane="batch",
                rejections=draw(st.lists(st.text(max_size=8), max_size=2)),
                daily=draw(st.none() | dailies()),
            )
        else:
            record = result_record(variant, status, error=draw(st.text(max_size=20)), worker="h:2")
        if draw(st.booleans()):
            del record["lane"]  # a key left out stays left out
        out.append(record)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_a_block_reads_back_exactly_what_was_packed(batch):
    block = unpack(pack(batch))
    assert block.records() == batch
    assert block.index.tolist() == [r["index"] for r in batch]
    for row, record in enumerate(batch):
        assert block.record(row) == record and list(block.record(row)) == list(
            record
        )  # the same key order
        stats = record.get("stats")
        for name in ("total_pnl", "total_signals", "sharpe_ratio"):
            value = stats.get(name) if isinstance(stats, dict) else None
            ok = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
            got = block.stat(name)[row]
            assert (got == float(value)) if ok else math.isnan(got)
        expected = daily_pnl.compact(record.get("daily"))
        got = block.daily(row)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert got.days == expected.days and got.at.tolist() == expected.at.tolist()
            assert got.pnl.tobytes() == expected.pnl.tobytes()


def _done(index: int, **stats) -> dict:
    full = {name: 0 if name in INT_STATS else None for name in STATS} | stats
    return result_record(
        Variant(strategy_name=f"v{index}", base="v", index=index),
        "done",
        stats=full,
        seconds=0.5,
        daily={"days": 3, "pnl": "AAAAAAAA8D8AAAAAAAAAAAAAAAAAAAAA"},
    )


def test_columns_hold_the_statistics_and_rows_the_rest():
    block = unpack(pack([_done(4, total_pnl=2.5, total_signals=3), _done(9, total_signals=1)]))
    assert block.index.tolist() == [4, 9] and block.status.tolist() == [1, 1]
    assert block.stat("total_pnl")[0] == 2.5 and math.isnan(block.stat("total_pnl")[1])
    assert block.stat("total_signals").tolist() == [3.0, 1.0]
    assert block.daily(0).pnl.tolist() == [1.0, 0.0, 0.0] and block.daily(0).at.tolist() == [
        0,
        1,
        2,
    ]
    assert block.seconds.tolist() == [0.5, 0.5]
    assert [block.name(0), block.name(1)] == ["v4", "v9"]  # without parsing the rest of the rows
    assert block._json_rows is None


def test_a_variant_twice_in_a_block_is_refused():
    with pytest.raises(BlockError, match="variant 4 is twice"):
        pack([_done(4), _done(4)])


def test_a_record_without_index_or_with_an_unknown_status_is_refused():
    with pytest.raises(BlockError, match="no variant index"):
        pack([{"status": "done"}])
    with pytest.raises(BlockError, match="status 'finished'"):
        pack([{"index": 1, "status": "finished"}])


def test_take_keeps_the_rows_asked_for_and_the_whole_block_is_its_own_bytes():
    block = pack_records([_done(1), _done(2), _done(3)])
    assert block.take([0, 1, 2]) is block.blob
    assert unpack(block.take([2, 0])).records() == [_done(3), _done(1)]


def test_an_earlier_json_lines_block_still_reads():
    old = text_blocks.pack([dumps(_done(7)), dumps(_done(8))])
    assert unpack(old).records() == [_done(7), _done(8)]


def test_a_block_of_a_thousand_results_is_small():
    batch = [_done(i, total_pnl=float(i), total_signals=i) for i in range(1000)]
    blob = pack(batch)
    assert len(blob) < 40 * 1000  # under 40 bytes a result; their JSON is ~1 KB each
    assert unpack(blob).records() == batch

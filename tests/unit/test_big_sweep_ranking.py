"""A large sweep's get_data (results/ranked_data.py): the best ``top`` as rows and every
variant as columns give what the whole ranking gives, row for row and cell for cell."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btfarm.orchestrator.reports.render import render_walker
from btfarm.orchestrator.results.ranked_data import checked_top, large_data, ranked_data
from btfarm.orchestrator.results.table import walker_frame
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.shared import daily_pnl
from btfarm.shared.errors import UsageError
from btfarm.shared.payloads import result_record
from btfarm.shared.result_block import pack_records
from btfarm.shared.stats import BacktestStatistics
from btfarm.shared.variant_space import VariantSpace

DAYS = 30
ITEMS = [
    {
        "base": "s",
        "keys": ["a", "b"],
        "values": [[1, 2, 3, 4, 5, 6], [0.5, 1.0, 1.5, 2.0, 2.5]],
        "declared": {"size": 1},
    },
    {"base": "t", "keys": ["mode", "a"], "values": [["x", "y", "z"], [7, 8, 9]], "declared": {}},
    {"base": "p", "keys": [], "values": [], "declared": {}},
]
FAILED, STOPPED, PENDING, TWICE = {3, 17}, {25}, {8, 33}, 11


def _stats(rng: np.random.Generator, index: int) -> dict:
    stats = {
        name: float(rng.normal())
        for name, field in BacktestStatistics.model_fields.items()
        if field.annotation is not int
    }
    signals = 1 if index % 9 == 4 else int(rng.integers(3, 40))  # some below min_trades
    stats.update(
        total_signals=signals,
        win_count=signals // 2,
        loss_count=signals - signals // 2,
        rejected_signals=2 if index % 7 == 0 else 0,
    )
    stats["sharpe_ratio"] = round(float(rng.normal()), 1)  # ties, broken by walker order
    stats["annualized_sharpe_ratio"] = None  # none has one: a column of None
    if index % 10 == 6:
        stats["sharpe_ratio"] = None  # ranked, last
    if index % 8 == 2:
        stats["profit_factor"] = math.inf  # no loss: the table keeps inf
    return stats


def records(seed: int = 3) -> list[dict]:
    """One record per variant of ``ITEMS`` but the pending ones, then ``TWICE`` again."""
    space = VariantSpace(ITEMS)
    rng = np.random.default_rng(seed)
    out = []
    for v in space:
        if v.index in PENDING:
            continue
        if v.index in FAILED:
            out.append(result_record(v, "failed", error=f"ValueError: bad {v.index}"))
            continue
        if v.index in STOPPED:
            out.append(result_record(v, "stopped"))
            continue
        at = np.sort(rng.choice(DAYS, 12, replace=False))
        pnl = np.round(rng.normal(0.01 * v.index, 1.0, 12), 6)
        out.append(
            result_record(
                v,
                "done",
                stats=_stats(rng, v.index),
                fingerprint={"strategy_name": v.strategy_name, "params": v.params, "x": 1},
                rejections=["too big"] if v.index % 7 == 0 else [],
                seconds=0.01,
                daily={
                    "days": DAYS,
                    "at": daily_pnl._text(at, daily_pnl.AT_DTYPE),
                    "pnl": daily_pnl._text(pnl, daily_pnl.PNL_DTYPE),
                },
            )
        )
    again = next(r for r in out if r["index"] == TWICE)
    out.append({**again, "stats": {**again["stats"], "sharpe_ratio": 9.0}})  # a redelivery
    return out


def sweep(by_block: bool = True, block: int = 7) -> SweepTally:
    """The sweep of ``ITEMS``, its results added in blocks of ``block`` or one at a time."""
    tally = SweepTally(
        "w", "SYM", "ex", "fr", "sharpe_ratio", VariantSpace(ITEMS), "run", 5, min_trades=3
    )
    given = records()
    if by_block:
        for start in range(0, len(given), block):
            packed = pack_records(given[start : start + block])
            tally.add_block(packed, np.arange(len(packed)))
    else:
        for record in given:
            tally.add(record)
    return tally


@pytest.mark.parametrize("by_block", [True, False])
@pytest.mark.parametrize("top", [1, 5, 30])
def test_the_top_rows_and_the_columns_equal_the_whole_ranking(by_block, top):
    tally = sweep(by_block)
    whole = tally.data()
    large = large_data(tally, top)
    assert large.top == top and large.table is not None and whole.table is None
    assert large.strategies == whole.strategies[:top]
    assert large.ranked_count == len(whole.strategies) > top
    assert large.strategies[0].strategy_name == "s[a=3,b=1.0]"  # the redelivered one, at 9.0
    assert (large.trust, large.best_strategy, large.best_metric) == (
        whole.trust,
        whole.best_strategy,
        whole.best_metric,
    )
    assert large.unfinished == whole.unfinished and len(large.unfinished) == 5
    assert large.variants == {} and len(whole.variants) == len(large.table) == 40
    listed = {s.strategy_name for s in large.strategies} | set(large.unranked)
    assert large.fingerprints == {n: f for n, f in whole.fingerprints.items() if n in listed}
    assert large.unranked == dict(list(whole.unranked.items())[:top])
    table = large.to_frame()
    pd.testing.assert_frame_equal(table, walker_frame(whole), check_exact=True)
    assert table["profit_factor"].isin([math.inf]).any()
    assert table["annualized_sharpe_ratio"].isna().all()
    assert set(table["status"]) == {"done", "failed", "stopped", "missing"}


def test_a_sweep_of_at_most_top_variants_comes_whole():
    tally = sweep()
    assert ranked_data(tally, top=40) == tally.data()
    assert ranked_data(tally, top=40).table is None
    assert ranked_data(tally, top=39).table is not None


def test_the_columns_slice_as_the_whole_table():
    columns = large_data(sweep(), 3).table
    whole = columns.to_frame()
    for start, stop in ((0, 13), (13, 31), (31, 40)):
        part = columns.to_frame(start, stop)
        expected = whole.iloc[start:stop].reset_index(drop=True)
        # a parameter none of the slice's variants has is no column of the slice
        absent = [c for c in expected.columns if c not in part.columns]
        assert all(expected[c].isna().all() for c in absent)
        expected = expected.drop(columns=absent)
        pd.testing.assert_frame_equal(part[expected.columns], expected, check_dtype=False)


@pytest.mark.parametrize("top", [0, -1, 1.5, True])
def test_top_must_be_a_positive_integer(top):
    with pytest.raises(UsageError, match="top must be a positive integer"):
        checked_top(top, "Walker.get_data")


def test_the_report_of_a_large_sweep_lists_its_top_and_the_distribution():
    tally = sweep()
    large = large_data(tally, 12)
    report = render_walker(large, {})
    ranked = large.ranked_count
    assert f"sharpe_ratio over all {ranked:,} ranked strategies:" in report
    assert "| Min | 5 % | 25 % | Median | 75 % | 95 % | Max |" in report
    assert f"The first 12 of {ranked} strategies by sharpe_ratio." in report
    assert "s[a=3,b=1.0]" in report
    last = large.table.order[-1]  # the worst ranked variant is not listed
    assert tally.name_of(int(last)) not in report
    quantiles = large.table.metric_quantiles((0.0, 1.0))
    assert quantiles[1] == 9.0 and quantiles[0] < 0


def test_the_report_lists_the_first_of_many_unfinished_variants(monkeypatch):
    from btfarm.orchestrator.reports import render

    monkeypatch.setattr(render, "UNFINISHED_ROWS", 2)
    data = large_data(sweep(), 3)
    report = render_walker(data, {})
    section = report[report.index("## Did not finish") :]
    assert "The first 2 of 5 (`to_frame()` lists every one)." in section
    assert (
        sum(
            line.startswith("| s[") or line.startswith("| t[") for line in section.splitlines()[:12]
        )
        == 2
    )


def test_a_large_sweeps_pictures_read_its_columns_as_the_rows_give_them(monkeypatch):
    from btfarm.orchestrator.reports import walker_pictures as pictures

    drawn: dict[str, list] = {"maps": [], "values": []}
    monkeypatch.setattr(pictures, "heatmap_picture", lambda h, m: drawn["maps"].append(h) or "")
    monkeypatch.setattr(
        pictures,
        "distribution_picture",
        lambda values, *rest: (
            drawn["values"].append(
                ([v for v in values if v is not None and not math.isnan(v)], rest)
            )
            or ""
        ),
    )
    tally = sweep()
    pictures.walker_pictures("w", tally.data(), tally.variants, {})
    pictures.walker_pictures("w", large_data(tally, 3), tally.variants, {})
    whole, large = (
        drawn["maps"][: len(drawn["maps"]) // 2],
        drawn["maps"][len(drawn["maps"]) // 2 :],
    )
    assert len(whole) == len(large) == 2  # s by a and b, t by mode and a
    for a, b in zip(whole, large, strict=True):
        assert (a.x_param, a.y_param, a.x_values, a.y_values, a.fixed, a.best) == (
            b.x_param,
            b.y_param,
            b.x_values,
            b.y_values,
            b.fixed,
            b.best,
        )
        np.testing.assert_array_equal(a.matrix, b.matrix)
    assert drawn["values"][0] == drawn["values"][1]  # every ranked metric, the same counts


def test_a_large_sweep_is_read_once_until_a_result_comes():
    tally = sweep()
    reads = []
    current = tally.held.current
    tally.held.current = lambda: reads.append(1) or current()  # type: ignore[method-assign]
    first = large_data(tally, 5)
    assert large_data(tally, 5) == first and len(reads) == 1  # then the report: no new read
    large_data(tally, 6)
    assert len(reads) == 2  # another top: read again
    again = next(r for r in records() if r["index"] == 5)
    tally.add({**again, "stats": {**again["stats"], "sharpe_ratio": 50.0}})
    assert large_data(tally, 5).strategies[0].strategy_name == tally.name_of(5)
    assert len(reads) == 3

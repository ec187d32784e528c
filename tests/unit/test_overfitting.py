"""The search statistics: the deflated Sharpe ratio against its paper's worked example, PBO
against a direct computation of its definition, and the per-day PnL they read."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from btfarm.shared import daily_pnl, overfitting
from btfarm.shared.stats import MS_PER_DAY


def test_deflated_sharpe_reproduces_the_papers_worked_example():
    # Bailey and Lopez de Prado (2014), section 6: annualised SR 2.5 over five years of daily
    # returns (T = 1250), skew -3, kurtosis 10, N = 100 trials whose annualised Sharpe ratios
    # vary by 1/2; 250 trading days a year. The paper gives SR0 = 0.1132 and DSR = 0.9004.
    sr, variance = 2.5 / math.sqrt(250), 0.5 / 250
    assert overfitting.expected_max_sharpe(100, variance) == pytest.approx(0.1132, abs=5e-5)
    dsr = overfitting.deflated_sharpe(
        sr, n_obs=1250, n_trials=100, sr_variance=variance, skew=-3, kurtosis=10
    )
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_matches_the_maximum_of_simulated_trials():
    rng = np.random.default_rng(7)
    # the paper's closed form is an asymptotic approximation: ~4 % high at 10 trials, ~1 % at 1,000
    for trials, tolerance in ((10, 0.05), (100, 0.02), (1000, 0.015)):
        simulated = rng.normal(0.0, math.sqrt(0.02), size=(4000, trials)).max(axis=1).mean()
        assert overfitting.expected_max_sharpe(trials, 0.02) == pytest.approx(
            simulated, rel=tolerance
        )
    assert overfitting.expected_max_sharpe(1, 0.02) == 0.0  # nothing selected, nothing to deflate


def test_probabilistic_sharpe_is_a_half_at_the_benchmark_and_none_without_variance_term():
    assert overfitting.probabilistic_sharpe(0.1, 0.1, 500, 0.0, 3.0) == pytest.approx(0.5)
    assert overfitting.probabilistic_sharpe(0.5, 0.0, 500, 10.0, 3.0) is None  # 1 - 5 + 0.125 < 0


def test_moments_of_a_normal_sample():
    skew, kurtosis = overfitting.moments(np.random.default_rng(1).normal(size=200_000))
    assert skew == pytest.approx(0.0, abs=0.02)
    assert kurtosis == pytest.approx(3.0, abs=0.05)
    assert overfitting.moments(np.zeros(10)) is None


def _pbo_by_definition(returns: np.ndarray, blocks: int) -> float:
    """CSCV spelled out: every half of the blocks in sample, its best variant ranked out."""
    days, variants = returns.shape
    parts = np.array_split(np.arange(days), blocks)
    below = total = 0
    for chosen in combinations(range(blocks), blocks // 2):
        inside = np.concatenate([parts[b] for b in chosen])
        outside = np.concatenate([parts[b] for b in range(blocks) if b not in chosen])

        def sharpe(rows, column):
            x = returns[rows, column]
            return x.mean() / x.std(ddof=1)

        best = max(range(variants), key=lambda v: sharpe(inside, v))
        out = [sharpe(outside, v) for v in range(variants)]
        rank = 1 + sum(o < out[best] for o in out)  # 1 = worst
        omega = rank / (variants + 1)
        below += math.log(omega / (1 - omega)) <= 0
        total += 1
    return below / total


def test_pbo_equals_its_definition_computed_directly():
    rng = np.random.default_rng(3)
    returns = rng.normal(0.01, 1.0, size=(96, 9)) + rng.normal(0, 0.05, size=9)
    pbo, splits = overfitting.probability_of_overfitting(returns, blocks=8)
    assert splits == math.comb(8, 4)
    assert pbo == pytest.approx(_pbo_by_definition(returns, 8), abs=1e-12)


def test_pbo_on_threads_counts_what_one_thread_counts(monkeypatch):
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0, 1.0, size=(365, 300))
    monkeypatch.setattr(
        overfitting, "STEP_CELLS", 300 * 8
    )  # many steps, so every thread takes some
    monkeypatch.setattr(overfitting, "PBO_THREADS", 1)
    one = overfitting.probability_of_overfitting(returns)
    monkeypatch.setattr(overfitting, "PBO_THREADS", 4)
    monkeypatch.setattr(overfitting.os, "cpu_count", lambda: 4)
    assert overfitting.probability_of_overfitting(returns) == one


def test_pbo_of_noise_is_near_a_half_and_of_a_real_edge_is_zero():
    rng = np.random.default_rng(11)
    noise = rng.normal(size=(400, 40))
    assert 0.3 < overfitting.probability_of_overfitting(noise)[0] < 0.7
    edge = noise.copy()
    edge[:, 17] += 1.0  # one variant earns a Sharpe of ~1 a day: best in and out of every split
    assert overfitting.probability_of_overfitting(edge)[0] == 0.0


def test_pbo_refuses_what_it_cannot_split():
    with pytest.raises(ValueError, match="even number"):
        overfitting.probability_of_overfitting(np.ones((10, 3)), blocks=3)
    with pytest.raises(ValueError, match="2 variants"):
        overfitting.probability_of_overfitting(np.ones((40, 1)))
    assert overfitting.pbo_blocks(365) == 16 and overfitting.pbo_blocks(15) == 6


def test_daily_record_buckets_by_close_day_and_clips_the_minute_after_the_frame():
    start = 1_700_000_000_000 // MS_PER_DAY * MS_PER_DAY
    end = start + 3 * MS_PER_DAY - 60_000  # three days, the last minute inclusive
    close = np.array([start + 5, start + 3_600_000, start + 2 * MS_PER_DAY + 1, end + 60_000])
    record = daily_pnl.daily_record(np.array([1.0, -0.25, 2.0, 0.5]), close, start, end)
    daily = daily_pnl.compact(record)
    assert daily.days == 3 and daily.at.tolist() == [0, 2] and daily.pnl.tolist() == [0.75, 2.5]
    assert daily_pnl.dense(record).tolist() == [0.75, 0.0, 2.5]
    empty = daily_pnl.compact(daily_pnl.daily_record(np.array([]), np.array([]), start, end))
    assert empty.days == 3 and empty.at.tolist() == [] and empty.pnl.tolist() == []
    assert daily_pnl.dense(None) is None


def test_daily_records_travel_as_short_exact_text_and_the_list_form_still_reads():
    import json

    start = 1_700_000_000_000 // MS_PER_DAY * MS_PER_DAY
    end = start + 365 * MS_PER_DAY - 60_000
    rng = np.random.default_rng(5)
    close = start + np.sort(rng.integers(0, 365 * MS_PER_DAY, 4_000))
    pnl = rng.normal(0, 1, 4_000) / 3
    record = daily_pnl.daily_record(pnl, close, start, end)
    assert "at" not in record  # a trade every day: the day numbers are left out
    day = (close - start) // MS_PER_DAY
    expected = np.round(np.bincount(day, weights=pnl, minlength=365), daily_pnl.DECIMALS)
    assert (
        daily_pnl.dense(json.loads(json.dumps(record))).tolist() == expected.tolist()
    )  # float for float
    as_lists = {"days": 365, "at": list(range(365)), "pnl": expected.tolist()}
    assert len(json.dumps(record)) < 0.75 * len(json.dumps(as_lists))
    assert daily_pnl.dense(as_lists).tolist() == expected.tolist()  # a record of the earlier form
    sparse = daily_pnl.daily_record(pnl[:40], close[:40], start, end)
    assert daily_pnl.compact(sparse).at.tolist() == sorted(set(day[:40].tolist()))
    import base64

    def text(values, dtype):
        return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode()

    assert daily_pnl.dense(
        {"days": 4, "at": text([1, 3], "<i4"), "pnl": text([0.5, -1.0], "<f8")}
    ).tolist() == [0.0, 0.5, 0.0, -1.0]
    with pytest.raises(ValueError, match="5 days and 1 values"):
        daily_pnl.compact({"days": 365, "at": text(range(5), "<i4"), "pnl": text([1.0], "<f8")})


def test_sharpes_and_moments_of_a_matrix_are_those_of_each_column_float_for_float():
    rng = np.random.default_rng(3)
    returns = np.round(rng.normal(0, 1, (365, 2_500)), 6)  # more columns than one step of 1,024
    returns[:, 5] = 0.0  # no spread: no Sharpe ratio
    returns[:, 7] = 1.5
    got = {
        column: (sr, shape)
        for column, sr, shape in overfitting.sharpes_and_moments(returns, np.arange(2_500))
    }
    expected = {}
    for column in range(2_500):
        sr = overfitting.sharpe(returns[:, column])
        if sr is not None:
            expected[column] = (sr, overfitting.moments(returns[:, column]))
    assert 5 not in got and 7 not in got and len(got) == 2_498
    assert got == expected
    assert (
        list(overfitting.sharpes_and_moments(returns[:1], np.arange(2_500))) == []
    )  # one day: no spread

"""A large sweep's trust figures (results/trust_columns.py): the deflated Sharpe ratio over
every ranked variant, PBO over a stated sample of them."""

from __future__ import annotations

import numpy as np

from btfarm.orchestrator.results.columns import ranking
from btfarm.orchestrator.results.trust_columns import TrustColumns
from btfarm.shared import overfitting
from tests.unit.test_big_sweep_ranking import DAYS, sweep


def _trust(tally, sample):
    ranked, order = ranking(tally)
    rank = np.zeros(len(ranked), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    trust = TrustColumns(ranked, rank, sample)
    for block, rows in tally.held.current():
        trust.add(block, rows)
    figures, sharpe, deflated = trust.figures(order, tally.best[2], tally.name_of)
    return figures, sharpe, deflated, order, trust


def test_pbo_over_a_sample_says_so_and_the_dsr_still_counts_every_variant():
    tally = sweep()
    whole = tally.data().trust
    figures, _, _, order, trust = _trust(tally, sample=10)
    n = len(order)
    assert figures.pbo_variants == 10 and whole.pbo_variants == n > 10
    assert figures.pbo_sample == (
        f"PBO over a sample of 10 of the {n} ranked variants, evenly spaced in walker order"
    )
    assert whole.pbo_sample == ""
    # the deflated Sharpe ratio is the whole sweep's: N is every ranked variant
    assert figures.trials == n and figures.deflated_sharpe == whole.deflated_sharpe
    assert figures.expected_max_sharpe == whole.expected_max_sharpe
    # the sample: evenly spaced in walker order, ranked by PBO in rank order
    ranked_indices = np.flatnonzero(trust.ranked)
    spaced = ranked_indices[np.linspace(0, n - 1, 10).round().astype(int)]
    assert sorted(trust.sample.tolist()) == spaced.tolist()
    assert list(trust.sample) == [i for i in order.tolist() if i in set(spaced.tolist())]
    matrix = np.zeros((DAYS, 10))
    for column, index in enumerate(trust.sample.tolist()):
        daily = tally.held.locate(index)[0].daily(tally.held.locate(index)[1])
        matrix[daily.at, column] = daily.pnl
    blocks = overfitting.pbo_blocks(DAYS)
    assert (figures.pbo, figures.pbo_splits) == overfitting.probability_of_overfitting(
        matrix, blocks
    )


def test_every_variant_sampled_gives_the_whole_figures():
    tally = sweep()
    whole = tally.data()
    figures, sharpe, deflated, _, _ = _trust(tally, sample=1000)
    assert figures == whole.trust and figures.pbo_sample == ""
    for strategy in whole.strategies:
        index = next(i for i in range(40) if tally.name_of(i) == strategy.strategy_name)
        assert sharpe[index] == strategy.daily_sharpe or (
            strategy.daily_sharpe is None and np.isnan(sharpe[index])
        )
        expected = strategy.deflated_sharpe
        assert (np.isnan(deflated[index]) and expected is None) or deflated[index] == expected


def test_row_figures_are_sharpes_and_moments_per_row_float_for_float():
    rng = np.random.default_rng(4)
    rows = rng.normal(0.1, 1.0, (50, 30))
    rows[3] = 0.0  # no spread: no Sharpe ratio, no shape
    sr, skew, kurtosis = overfitting.row_figures(rows)
    for i in range(len(rows)):
        expected_sr = overfitting.sharpe(rows[i])
        shape = overfitting.moments(rows[i])
        if expected_sr is None:
            assert np.isnan(sr[i]) and np.isnan(skew[i]) and shape is None
            continue
        assert sr[i] == expected_sr
        assert (skew[i], kurtosis[i]) == shape
    psr = overfitting.probabilistic_sharpes(sr, 0.1, 30, skew, kurtosis)
    for i in range(len(rows)):
        one = (
            None
            if np.isnan(sr[i])
            else overfitting.probabilistic_sharpe(sr[i], 0.1, 30, skew[i], kurtosis[i])
        )
        assert (one is None and np.isnan(psr[i])) or psr[i] == one


def test_the_report_says_pbo_was_computed_over_a_sample():
    from btfarm.orchestrator.reports.render import render_walker
    from btfarm.orchestrator.results.ranked_data import large_data

    tally = sweep()
    data = large_data(tally, 5)
    figures, *_ = _trust(tally, sample=10)
    report = render_walker(data.model_copy(update={"trust": figures}), {})
    n = figures.trials
    assert (
        f"| PBO's variants | 10: PBO over a sample of 10 of the {n} ranked variants, evenly "
        "spaced in walker order |"
    ) in report
    assert "PBO's variants" not in render_walker(data, {})  # every variant: no sample to state

"""The trust figures of a large sweep, as columns: the deflated Sharpe ratio against the SR0
of every ranked variant, and the probability of backtest overfitting over a sample.

The figures are results/trust.py's, computed block by block as the held blocks are read
once (each block's ranked rows as one days-wide matrix, reduced with numpy: no Python work
per variant but reading its PnL per day), so a million variants need no million rows.

- The deflated Sharpe ratio: every ranked variant's Sharpe ratio per day, skew and
  kurtosis; SR0 from all of them (N is every ranked variant); each variant's probability
  against that SR0. The same floats as results/trust.py for the same sweep.
- PBO: over every ranked variant up to ``PBO_SAMPLE``; beyond, over ``PBO_SAMPLE`` of
  them evenly spaced in walker order (the grid's corners and middle alike, none chosen by
  its result), in rank order. ``TrustFigures.pbo_variants`` says how many it ranked and
  ``pbo_sample`` says it is a sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btfarm.orchestrator.results import trust
from btfarm.orchestrator.results.stat_columns import daily_matrix
from btfarm.orchestrator.results.trust import PBO_MAX_VARIANTS, TrustFigures
from btfarm.shared import overfitting

PBO_SAMPLE = PBO_MAX_VARIANTS  # variants PBO ranks at most (days x PBO_SAMPLE floats held)


class TrustColumns:
    """Each ranked variant's figures as blocks come (``add``), then the sweep's (``figures``).

    ``ranked`` marks the ranked variants by index and ``rank`` numbers them (1 the best)."""

    def __init__(self, ranked: np.ndarray, rank: np.ndarray, sample: int = PBO_SAMPLE) -> None:
        total = len(ranked)
        self.ranked, self.rank = ranked, rank
        self.sharpe = np.full(total, np.nan)
        self.skew = np.full(total, np.nan)
        self.kurtosis = np.full(total, np.nan)
        self.seen = np.zeros(total, dtype=bool)  # a ranked variant whose PnL per day was read
        self.days = 0
        indices = np.flatnonzero(ranked)
        if len(indices) > sample:
            indices = indices[np.linspace(0, len(indices) - 1, sample).round().astype(np.int64)]
        self.sample = indices[np.argsort(rank[indices], kind="stable")]  # rank order
        self.column = np.full(total, -1, dtype=np.int64)  # each sampled variant's column
        self.column[self.sample] = np.arange(len(self.sample))
        self.matrix: np.ndarray | None = None  # days x sampled variants, for PBO

    def add(self, block: Any, rows: np.ndarray) -> None:
        """Read the PnL per day of ``block``'s ``rows`` that are ranked."""
        if self.days == 1:
            return  # one day: no Sharpe ratio for anyone
        index = block.index[rows]
        keep = self.ranked[index]
        rows, index = rows[keep], index[keep]
        if not len(rows):
            return
        if self.days == 0:
            first = next((block.daily(int(r)) for r in rows if block.daily(int(r))), None)
            if first is None:
                return
            self.days = first.days
            if self.days < 2:
                return
            self.matrix = np.zeros((self.days, len(self.sample)))
        present, values = daily_matrix(block, rows, self.days)
        index = index[present]
        self.seen[index] = True
        sr, skew, kurtosis = overfitting.row_figures(values)
        self.sharpe[index], self.skew[index], self.kurtosis[index] = sr, skew, kurtosis
        columns = self.column[index]
        sampled = columns >= 0
        if self.matrix is not None and sampled.any():
            self.matrix[:, columns[sampled]] = values[sampled].T

    def figures(
        self, order: np.ndarray, winner: int | None, name_of: Any
    ) -> tuple[TrustFigures, np.ndarray, np.ndarray]:
        """(the sweep's figures, each variant's daily Sharpe, its deflated Sharpe) with the
        ranked variants' indices ``order`` (best first), the ``winner``'s index and
        ``name_of(index)``; NaN where a variant has no figure."""
        total = len(self.ranked)
        nothing = np.full(total, np.nan)
        n = len(order)
        figures = TrustFigures(trials=n, winner=name_of(winner) if winner is not None else None)
        if not n:
            figures.missing = {"deflated_sharpe": trust.NO_RANKED, "pbo": trust.NO_RANKED}
            return figures, nothing, nothing
        figures.days = self.days
        if self.days == 1:
            why = trust.one_day(self.days)
            figures.missing = {"deflated_sharpe": why, "pbo": why}
            return figures, nothing, nothing
        lacking = order[~self.seen[order]]
        if len(lacking):
            why = trust.without_daily(len(lacking), name_of(int(lacking[0])))
            figures.missing = {"deflated_sharpe": why, "pbo": why}
            return figures, nothing, nothing
        missing: dict[str, str] = {}
        values = self.sharpe[order]
        values = values[~np.isnan(values)]
        spread_known = len(values) >= 2 or n == 1
        variance = float(values.var(ddof=1)) if len(values) >= 2 else 0.0
        figures.trial_sharpe_variance = variance if len(values) >= 2 else None
        sr0 = overfitting.expected_max_sharpe(n, variance) if spread_known else None
        figures.expected_max_sharpe = sr0
        deflated = nothing.copy()
        if sr0 is not None:
            deflated[order] = overfitting.probabilistic_sharpes(
                self.sharpe[order], sr0, self.days, self.skew[order], self.kurtosis[order]
            )
        if winner is None or np.isnan(self.sharpe[winner]):
            missing["deflated_sharpe"] = trust.NO_WINNER_SPREAD
        elif sr0 is None:
            missing["deflated_sharpe"] = trust.unknown_spread(len(values), n)
        else:
            figures.winner_daily_sharpe = float(self.sharpe[winner])
            if not np.isnan(self.skew[winner]):
                figures.winner_skew = float(self.skew[winner])
                figures.winner_kurtosis = float(self.kurtosis[winner])
            if np.isnan(deflated[winner]):
                missing["deflated_sharpe"] = trust.NO_VARIANCE_TERM
            else:
                figures.deflated_sharpe = float(deflated[winner])
        blocks = overfitting.pbo_blocks(self.days)
        if n < 2:
            missing["pbo"] = trust.ONE_RANKED
        elif blocks < overfitting.MIN_PBO_BLOCKS:
            missing["pbo"] = trust.too_few_blocks(self.days, blocks)
        elif self.matrix is not None:
            figures.pbo, figures.pbo_splits = overfitting.probability_of_overfitting(
                self.matrix, blocks
            )
            figures.pbo_blocks = blocks
            figures.pbo_variants = len(self.sample)
            if len(self.sample) < n:
                figures.pbo_sample = (
                    f"PBO over a sample of {len(self.sample):,} of the {n:,} ranked variants, "
                    "evenly spaced in walker order"
                )
        figures.missing = missing
        sharpe = np.where(self.ranked, self.sharpe, np.nan)
        return figures, sharpe, deflated

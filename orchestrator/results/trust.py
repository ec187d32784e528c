"""The figures that say how far a sweep's winner can be trusted: its deflated Sharpe ratio
and the sweep's probability of backtest overfitting (shared/overfitting.py), from the
ranked variants' PnL per day, with a plain sentence of what they mean.

A figure that cannot be computed is None with the reason in ``missing``: never a
number made up from too little (one trial, a day of data, results without PnL per day).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from btfarm.shared import daily_pnl, overfitting

PBO_MAX_VARIANTS = 20_000  # PBO holds days x variants floats (a year of 20,000: 58 MB)


class TrustFigures(BaseModel):
    """How much the winner owes to the search (see shared/overfitting.py for the definitions)."""

    trials: int = 0  # ranked variants: the N the winner was picked from
    days: int = 0  # T: days of the frame, each one observation
    winner: str | None = None
    winner_daily_sharpe: float | None = None  # mean / std of its PnL per day (percent)
    winner_skew: float | None = None
    winner_kurtosis: float | None = None  # Pearson's: 3 for normal returns
    trial_sharpe_variance: float | None = None  # V: variance of the trials' daily Sharpe ratios
    expected_max_sharpe: float | None = (
        None  # SR0: the best daily Sharpe N unskilled trials would show
    )
    deflated_sharpe: float | None = None  # P(the winner's true Sharpe > SR0)
    pbo: float | None = (
        None  # share of CSCV splits where the in-sample best is at or below the median
    )
    pbo_splits: int = 0
    pbo_blocks: int = 0
    pbo_variants: int = 0  # variants PBO ranked: every trial, or a sample (then pbo_sample says so)
    pbo_sample: str = ""  # how the variants PBO ranked were sampled; empty when it ranked all
    missing: dict[str, str] = {}  # figure -> why it was not computed

    def brief(self) -> str:
        """Both figures in a few words (``sentence`` says what they mean)."""
        from btfarm.orchestrator.reports._format import number

        return (
            f"deflated Sharpe ratio {number(self.deflated_sharpe, 3)}, probability of backtest overfitting "
            f"{number(self.pbo, 3)} ({self.trials} trials, {self.days} days)"
        )

    def sentence(self, every_variant_lost: bool = False) -> str:
        """The verdict of both figures together, in one plain sentence (their values in
        brackets). ``every_variant_lost``: every ranked variant's trades summed to a loss,
        which no figure can redeem. A deflated Sharpe ratio of 95 % or more beats the luck
        of the search, under 50 % does not; a PBO of 50 % or more (what noise gives) says
        the in-sample best does not hold out of sample."""
        dsr, pbo, n = self.deflated_sharpe, self.pbo, self.trials
        if dsr is None and pbo is None:
            why = "; ".join(f"{k}: {v}" for k, v in self.missing.items())
            if every_variant_lost:
                return f"Every variant lost; the best is only the least bad (no overfitting figure: {why})."
            return f"No overfitting figure could be computed: {why}"
        values = ([f"deflated Sharpe ratio {dsr:.1%}"] if dsr is not None else []) + (
            [f"probability of backtest overfitting {pbo:.1%}"] if pbo is not None else []
        )
        skill = (
            None if dsr is None else "beats" if dsr >= 0.95 else "weak" if dsr >= 0.5 else "luck"
        )
        holds = None if pbo is None else pbo < 0.5
        edge = {
            "beats": f"its edge beats what {n} trials find by chance",
            "weak": f"its edge is not clearly above what {n} trials find by chance",
            "luck": f"its edge is no more than {n} trials find by chance",
            None: "",
        }[skill]
        ranking = {
            True: "the best in sample mostly stays above the median out of sample",
            False: "the best in sample usually falls to the median or below out of sample",
            None: "",
        }[holds]
        both = (
            f"{edge}, {'and' if (skill == 'beats') == bool(holds) else 'but' if skill == 'beats' else 'though'} "
            f"{ranking}"
            if edge and ranking
            else edge or ranking
        )
        if every_variant_lost:
            verdict = "Every variant lost; the best is only the least bad"
        elif self.winner_daily_sharpe is not None and self.winner_daily_sharpe < 0:
            verdict = (
                f"The winner lost money on the average day; it is only the least bad of {n} trials"
            )
        elif skill == "beats" and holds is not False or skill is None and holds:
            verdict = f"The winner looks real: {both}"
        elif skill in ("luck", None) and not holds or skill == "weak" and holds is False:
            verdict = f"The winner looks like luck: {both}"
        else:
            verdict = f"Trust the winner with care: {both}"
        return f"{verdict} ({', '.join(values)})."


# Why a figure was not computed, the same words from this module and trust_columns.py
NO_RANKED = "no variant is ranked"
NO_WINNER_SPREAD = "no winner with a spread of daily PnL"
NO_VARIANCE_TERM = "the winner's skew and kurtosis leave no positive variance term"
ONE_RANKED = "one ranked variant: nothing was selected"


def one_day(days: int) -> str:
    return f"the frame spans {days} day; a Sharpe ratio per day needs two"


def without_daily(count: int, first: str) -> str:
    return (
        f"{count} ranked results carry no PnL per day (made by an older btfarm; "
        f"first {first}): run the walker again"
    )


def unknown_spread(known: int, trials: int) -> str:
    return (
        f"only {known} of the {trials} trials has a spread of daily PnL: "
        "the spread of their Sharpe ratios, which SR0 needs, is unknown"
    )


def too_few_blocks(days: int, blocks: int) -> str:
    return (
        f"{days} days give {blocks} blocks of {overfitting.MIN_BLOCK_DAYS} days; "
        f"PBO needs {overfitting.MIN_PBO_BLOCKS}: use a longer frame"
    )


def trust_figures(
    ranked: Sequence[tuple[str, dict[str, Any]]],
    winner: str | None,
    dailies: Iterable[tuple[str, Any]] | None = None,
) -> tuple[TrustFigures, dict[str, tuple[float | None, float | None]]]:
    """Figures of the ranked ``(name, record)`` pairs (best first) and, per variant, its
    (daily Sharpe, deflated Sharpe against the same SR0).

    Each record's PnL per day is its ``daily``, or, given ``dailies``, what that yields as
    ``(name, daily)`` in any order, read as it comes (a sweep's tally streams them from its
    held results instead of holding 10,000 years of them beside the matrix). Every figure is
    computed in rank order whatever the order they come in."""
    missing: dict[str, str] = {}
    figures = TrustFigures(trials=len(ranked), winner=winner)
    if not ranked:
        figures.missing = {"deflated_sharpe": NO_RANKED, "pbo": NO_RANKED}
        return figures, {}
    position = {name: column for column, (name, _) in enumerate(ranked)}
    keep_matrix = 2 <= len(ranked) <= PBO_MAX_VARIANTS
    matrix = scratch = (
        None  # days x variants, for PBO (allocated once the first record says how many days)
    )
    sharpe_of = np.full(
        len(ranked), np.nan
    )  # by rank: the spread of the trials' Sharpe ratios, in rank order
    shapes: dict[
        str, tuple[float, float] | None
    ] = {}  # skew and kurtosis, for each one's deflation
    seen = np.zeros(len(ranked), dtype=bool)
    days = 0
    for name, daily in (
        dailies if dailies is not None else ((name, rec.get("daily")) for name, rec in ranked)
    ):
        column = position.get(name)
        if column is None or not daily:
            continue
        compacted = daily_pnl.compact(daily)
        if compacted is None:
            continue
        if matrix is None and scratch is None:
            days = compacted.days
            if days < 2:
                break
            matrix = np.zeros((days, len(ranked))) if keep_matrix else None
            scratch = np.zeros(days)
        seen[column] = True
        values = daily_pnl.dense(compacted, scratch if matrix is None else matrix[:, column])
        if matrix is None and values is not None:  # (with the matrix: all at once below)
            sr = overfitting.sharpe(values)
            if sr is not None:
                sharpe_of[column] = sr
                shapes[name] = overfitting.moments(values)
    if matrix is not None:
        for column, sr, shape in overfitting.sharpes_and_moments(matrix, np.flatnonzero(seen)):
            sharpe_of[column] = sr
            shapes[ranked[column][0]] = shape
    figures.days = days
    if days == 1:  # no Sharpe ratio per day for anyone: said once (the loop stopped at the first)
        why = one_day(days)
        figures.missing = {"deflated_sharpe": why, "pbo": why}
        return figures, {}
    lacking = [ranked[int(column)][0] for column in np.flatnonzero(~seen)]
    if lacking:
        why = without_daily(len(lacking), lacking[0])
        figures.missing = {"deflated_sharpe": why, "pbo": why}
        return figures, {}
    per_variant: dict[str, tuple[float | None, float | None]] = {}
    sharpes = {
        ranked[int(column)][0]: float(sharpe_of[column])
        for column in np.flatnonzero(~np.isnan(sharpe_of))
    }
    values = np.array(list(sharpes.values()))
    # SR0 needs the spread of the trials' Sharpe ratios; with one trial nothing was selected (SR0 = 0)
    spread_known = len(values) >= 2 or len(ranked) == 1
    variance = float(values.var(ddof=1)) if len(values) >= 2 else 0.0
    figures.trial_sharpe_variance = variance if len(values) >= 2 else None
    sr0 = overfitting.expected_max_sharpe(len(ranked), variance) if spread_known else None
    figures.expected_max_sharpe = sr0
    for name, _ in ranked:
        sr, shape = sharpes.get(name), shapes.get(name)
        psr = (
            overfitting.probabilistic_sharpe(sr, sr0, days, *shape)
            if sr0 is not None and sr is not None and shape
            else None
        )
        per_variant[name] = (sr, psr)
    if winner is None or winner not in sharpes:
        missing["deflated_sharpe"] = NO_WINNER_SPREAD
    elif sr0 is None:
        missing["deflated_sharpe"] = unknown_spread(len(values), len(ranked))
    else:
        figures.winner_daily_sharpe = sharpes[winner]
        figures.winner_skew, figures.winner_kurtosis = shapes[winner] or (None, None)
        figures.deflated_sharpe = per_variant[winner][1]
        if figures.deflated_sharpe is None:
            missing["deflated_sharpe"] = NO_VARIANCE_TERM
    blocks = overfitting.pbo_blocks(figures.days)
    if len(ranked) < 2:
        missing["pbo"] = ONE_RANKED
    elif not keep_matrix:
        missing["pbo"] = (
            f"{len(ranked)} ranked variants; PBO holds every variant's PnL per day in memory "
            f"and is computed up to {PBO_MAX_VARIANTS:,}"
        )
    elif blocks < overfitting.MIN_PBO_BLOCKS:
        missing["pbo"] = too_few_blocks(figures.days, blocks)
    elif matrix is not None:
        figures.pbo, figures.pbo_splits = overfitting.probability_of_overfitting(matrix, blocks)
        figures.pbo_blocks = blocks
        figures.pbo_variants = len(ranked)
    figures.missing = missing
    return figures, per_variant

"""How much a sweep's winner owes to the search that found it.

Two figures, both from each variant's PnL per day (daily_pnl.py):

- The deflated Sharpe ratio (Bailey and Lopez de Prado, "The Deflated Sharpe
  Ratio", 2014): the probability that the winner's true Sharpe ratio is above
  the best one N trials of no skill would show by luck, SR0 = sqrt(V) *
  ((1 - g) Z^-1(1 - 1/N) + g Z^-1(1 - 1/(N e))), where V is the variance of
  the trials' Sharpe ratios and g the Euler-Mascheroni constant; the
  probabilistic Sharpe ratio against SR0 corrects for the winner's skew and
  kurtosis and its T observations.
- The probability of backtest overfitting (Bailey, Borwein, Lopez de Prado
  and Zhu, "The Probability of Backtest Overfitting", 2015), by
  combinatorially symmetric cross-validation: the T days are cut into S
  blocks; for every way of taking S/2 blocks as in-sample, the variant best in
  sample is ranked out of sample; PBO is the share of splits where it falls
  at or below the median (logit of its relative rank <= 0).

Sharpe ratios here are per day, not annualised: mean / sample std of the
daily PnL (percent), every day of the frame counted, days without a trade
as 0. Kurtosis is Pearson's (3 for a normal distribution).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
PBO_BLOCKS = 16  # S of the paper's examples: C(16, 8) = 12,870 splits
MIN_PBO_BLOCKS = 4  # fewer blocks than this give too few splits to mean anything
MIN_BLOCK_DAYS = 2  # a block needs two days for a standard deviation
SPLITS_PER_STEP = 64  # splits evaluated together at most
STEP_CELLS = (
    2**18
)  # split x variant cells per step (of all threads): each of ~12 temporaries is this x 8 bytes
PBO_THREADS = 4  # at most; one per core below that
MIN_STD = 1e-12  # a daily std at or below this gives no Sharpe ratio

_NORMAL = NormalDist()
_SQRT2 = math.sqrt(2.0)  # as statistics.NormalDist.cdf divides by it


def sharpe(daily: np.ndarray) -> float | None:
    """Mean / sample std of a daily PnL series; None for fewer than 2 days or no spread."""
    if len(daily) < 2:
        return None
    return _ratio(float(np.mean(daily)), float(np.std(daily, ddof=1)))


def moments(daily: np.ndarray) -> tuple[float, float] | None:
    """(skewness, Pearson kurtosis) of a series, from its central moments; None without spread."""
    centred = daily - daily.mean()
    squared = centred * centred  # (products, not powers: ** 3 and ** 4 call pow per element)
    return _shape(
        float(np.mean(squared)),
        float(np.mean(squared * centred)),
        float(np.mean(squared * squared)),
    )


def _ratio(mean: float, std: float) -> float | None:
    return mean / std if std > MIN_STD else None


def _shape(m2: float, m3: float, m4: float) -> tuple[float, float] | None:
    """(skewness, Pearson kurtosis) from the second, third and fourth central moments."""
    return None if m2 <= MIN_STD**2 else (m3 / m2**1.5, m4 / m2**2)


def sharpes_and_moments(
    returns: np.ndarray, columns: np.ndarray, step: int = 1024
) -> Iterator[tuple[int, float, tuple[float, float] | None]]:
    """``(column, sharpe, moments)`` of each of ``columns`` of a days x variants matrix that has a
    Sharpe ratio, float for float what ``sharpe`` and ``moments`` give column by column: each
    reduction runs over a contiguous row of a transposed block, the same pairwise sums as over
    the column alone, then the same ``_ratio`` and ``_shape`` (numpy calls per variant were most
    of the figures' time over 10,000 variants)."""
    if returns.shape[0] < 2:
        return
    for start in range(0, len(columns), step):
        picked = columns[start : start + step]
        rows = np.ascontiguousarray(returns[:, picked].T)  # variants x days
        means = rows.mean(axis=1)
        stds = rows.std(axis=1, ddof=1)
        centred = rows - means[:, None]
        squared = centred * centred  # as moments computes them
        m2, m3, m4 = (
            np.mean(power, axis=1) for power in (squared, squared * centred, squared * squared)
        )
        for i, column in enumerate(picked.tolist()):
            sr = _ratio(float(means[i]), float(stds[i]))
            if sr is not None:
                yield column, sr, _shape(float(m2[i]), float(m3[i]), float(m4[i]))


def row_figures(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Sharpe ratio, skew, Pearson kurtosis) of each row of a variants x days matrix (C
    order), NaN where ``sharpe`` or ``moments`` give None: the same reductions over the same
    contiguous rows as ``sharpes_and_moments``, then ``_ratio`` and ``_shape`` as arrays."""
    days = rows.shape[1]
    means = rows.mean(axis=1)
    centred = rows - means[:, None]
    squared = centred * centred
    # one sum of squares for both: np.std(ddof=1) is sqrt(that sum / (days - 1)) and the
    # second moment that sum / days, float for float
    sums = squared.sum(axis=1)
    stds = np.sqrt(sums / (days - 1)) if days > 1 else np.full(len(rows), np.nan)
    m2 = sums / days
    m3, m4 = (np.mean(power, axis=1) for power in (squared * centred, squared * squared))
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = np.where(stds > MIN_STD, means / stds, np.nan)
        shaped = m2 > MIN_STD**2
        # the powers as Python takes them (numpy's own pow differs in the last bit)
        plain = m2.tolist()
        skew = np.where(shaped, m3 / np.array([v**1.5 for v in plain]), np.nan)
        kurtosis = np.where(shaped, m4 / np.array([v**2 for v in plain]), np.nan)
    if rows.shape[1] < 2:
        sr[:] = np.nan
    return sr, skew, kurtosis


def probabilistic_sharpes(
    sr: np.ndarray, benchmark: float, n_obs: int, skew: np.ndarray, kurtosis: np.ndarray
) -> np.ndarray:
    """``probabilistic_sharpe`` of each element, NaN where it gives None (or an input is NaN):
    the same arithmetic in the same order, the normal CDF called per element."""
    out = np.full(len(sr), np.nan)
    if n_obs < 2:
        return out
    with np.errstate(invalid="ignore"):
        spread = 1 - skew * sr + (kurtosis - 1) / 4 * sr * sr
        ok = spread > 0  # False where any input is NaN
        z = (sr[ok] - benchmark) * math.sqrt(n_obs - 1) / np.sqrt(spread[ok])
    # NormalDist().cdf(z) is 0.5 * (1 + erf(z / sqrt(2))): the same floats, erf per element
    erf = np.frompyfunc(math.erf, 1, 1)(z / _SQRT2).astype(np.float64) if len(z) else z
    out[ok] = 0.5 * (1.0 + erf)
    return out


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0: the expected maximum Sharpe ratio of ``n_trials`` unskilled trials whose Sharpe
    ratios vary by ``variance`` (0 for a single trial: nothing was selected)."""
    if n_trials < 2 or variance <= 0:
        return 0.0
    return math.sqrt(variance) * (
        (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials)
        + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e))
    )


def probabilistic_sharpe(
    sr: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float | None:
    """P(true Sharpe > ``benchmark``) for an observed ``sr`` over ``n_obs`` returns with
    that skew and kurtosis; None where the paper's variance term is not positive."""
    spread = 1 - skew * sr + (kurtosis - 1) / 4 * sr * sr
    if n_obs < 2 or spread <= 0:
        return None
    return _NORMAL.cdf((sr - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread))


def deflated_sharpe(
    sr: float, n_obs: int, n_trials: int, sr_variance: float, skew: float, kurtosis: float
) -> float | None:
    """The deflated Sharpe ratio: ``probabilistic_sharpe`` against ``expected_max_sharpe``."""
    return probabilistic_sharpe(
        sr, expected_max_sharpe(n_trials, sr_variance), n_obs, skew, kurtosis
    )


def pbo_blocks(days: int) -> int:
    """S for ``days`` of returns: 16, or the largest even number leaving each block two days."""
    blocks = min(PBO_BLOCKS, days // MIN_BLOCK_DAYS)
    return blocks - blocks % 2


def probability_of_overfitting(returns: np.ndarray, blocks: int | None = None) -> tuple[float, int]:
    """(PBO, splits) of a days x variants matrix of returns, by CSCV over ``blocks`` (even).

    Sharpe ratios of a split's halves come from each block's sums, so a split costs
    O(variants), not O(days x variants). Ties in sample go to the variant listed
    first; out of sample a variant's rank counts those strictly below it plus half
    the ties, so identical variants sit at the median, not above it."""
    days, variants = returns.shape
    blocks = pbo_blocks(days) if blocks is None else blocks
    if variants < 2 or blocks < MIN_PBO_BLOCKS or blocks % 2:
        # protocol: a caller's mistake in the arguments of a pure function
        raise ValueError(
            f"PBO needs at least 2 variants and an even number of at least {MIN_PBO_BLOCKS} "
            f"blocks; got {variants} variants, {blocks} blocks over {days} days"
        )
    edges = np.linspace(0, days, blocks + 1).astype(int)
    sums = np.add.reduceat(returns, edges[:-1], axis=0)  # blocks x variants
    # block by block: squaring the whole matrix at once doubled its memory (29 MB for 10,000 years)
    squares = np.array(
        [
            np.add.reduce(np.square(returns[a:b]), axis=0)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    counts = np.diff(edges).astype(float)
    # each split's out-of-sample half is another split's in-sample half: the splits holding
    # block 0 in sample, with their complements, are all of them, and each pair's two
    # half-Sharpe matrices serve both (half the work of evaluating every split on its own)
    halves = np.array([c for c in combinations(range(blocks), blocks // 2) if c[0] == 0])
    chosen = np.zeros((len(halves), blocks))
    chosen[np.arange(len(halves))[:, None], halves] = 1.0
    # steps of splits on a thread per core (numpy lets go of the GIL for each array operation);
    # fewer splits a step for many variants: 64 x 10,000 cells made ~60 MB of temporaries, and
    # the threads share STEP_CELLS between them, so the temporaries stay that size in all
    threads = max(1, min(os.cpu_count() or 1, PBO_THREADS))
    step = max(1, min(SPLITS_PER_STEP, STEP_CELLS // threads // variants))

    def below(start: int) -> int:
        inside = chosen[start : start + step]
        first = _half_sharpe(inside, sums, squares, counts)
        second = _half_sharpe(1.0 - inside, sums, squares, counts)
        return _at_or_below(first, second, variants) + _at_or_below(second, first, variants)

    starts = range(0, len(halves), step)
    if threads == 1 or len(starts) == 1:
        at_or_below = sum(map(below, starts))
    else:
        from threadpoolctl import threadpool_limits

        # BLAS's own thread per core, woken by each step's products, fought these for the cores:
        # 2 threads of steps were slower than 1 (0.15 -> 0.24 s for 1,000 year variants) until
        # each product ran on its caller's thread (0.11 s)
        with (
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(threads, thread_name_prefix="btfarm-pbo") as pool,
        ):
            at_or_below = sum(pool.map(below, starts))
    return at_or_below / (2 * len(halves)), 2 * len(halves)


def _at_or_below(in_sharpe: np.ndarray, out_sharpe: np.ndarray, variants: int) -> int:
    """Splits (rows) whose in-sample best ranks at or below the median out of sample."""
    best = np.argmax(in_sharpe, axis=1)
    picked = out_sharpe[np.arange(len(best)), best][:, None]
    rank = (out_sharpe < picked).sum(axis=1) + 0.5 * ((out_sharpe == picked).sum(axis=1) - 1) + 1
    omega = rank / (variants + 1)
    return int((np.log(omega / (1 - omega)) <= 0).sum())


def _half_sharpe(
    inside: np.ndarray, sums: np.ndarray, squares: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Sharpe ratio of every variant over each split's chosen blocks (splits x variants);
    a variant without spread there scores -inf in sample and out: it never wins a split."""
    n = (inside @ counts)[:, None]
    total = inside @ sums
    mean = total / n
    var = inside @ squares  # then, in place (each of these arrays is splits x variants):
    var -= np.multiply(total, mean, out=total)  # sum of squares - total * mean
    var /= n - 1
    spread = var > MIN_STD**2
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.divide(mean, np.sqrt(np.maximum(var, 0.0, out=var), out=var), out=mean)
    out[~spread] = -np.inf
    return out

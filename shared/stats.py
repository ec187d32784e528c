"""Statistics of closed signals (SEMANTICS.md section 4).

Every percentage is a per-trade PnL percentage (fees and slippage included)
or a share of trades; every duration is in minutes; every ratio is unitless.
A value that cannot be computed, is gated off, or comes out NaN or infinite is
``None`` (shown as "N/A" in reports).

Definitions section 4 leaves open, chosen here:
- sortino_ratio = avg_pnl / downside deviation, where downside deviation =
  sqrt(mean(min(pnl, 0) ** 2)) over all N trades (target 0 %); same gate as
  sharpe (N >= 10, deviation > 1e-9).
- calmar_ratio = expected_yearly_returns / max_drawdown: the annual return
  per unit of worst fall; so it is None whenever expected_yearly_returns is
  (the annualizing gate) or max_drawdown is 0.
- recovery_factor = total_pnl / max_drawdown (None when max_drawdown is 0).
- profit_factor = sum of winning pnl / |sum of losing pnl| (None without losses).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from .drawdown import max_drawdown
from .errors import InputError

MIN_SIGNALS = (
    10  # closed signals needed for std_dev, sharpe, sortino, certainty, expectancy, annualizing
)
MIN_STD_DEV = 1e-9  # percent: a std_dev (or downside deviation) at or below this gives no ratio
MIN_SPAN_DAYS = 14.0  # days from first pending_at to last close_timestamp needed to annualize
MAX_TRADES_PER_YEAR = 365.0  # trades per year above this are not annualized
MAX_YEARLY_RETURN = 100.0  # percent: expected_yearly_returns beyond +-this is None
DAYS_PER_YEAR = 365.0  # days in the year trades_per_year is counted over
MS_PER_MINUTE = 60_000  # milliseconds in a minute
MS_PER_DAY = 86_400_000  # milliseconds in a day

EVENT_KINDS = ("idle", "scheduled", "opened", "active", "closed", "cancelled")


class BacktestStatistics(BaseModel):
    """Statistics of one run's closed signals; see the module docstring for units."""

    model_config = ConfigDict(extra="forbid")

    total_signals: int = 0  # count of closed signals (N)
    win_count: int = 0  # count with pnl > 0
    loss_count: int = 0  # count with pnl < 0
    win_rate: float | None = None  # percent of wins among wins + losses (break-even excluded)
    avg_pnl: float | None = None  # percent: mean pnl per trade
    total_pnl: float | None = None  # percent: sum of pnl (not compounded); None with no trade
    median_pnl: float | None = None  # percent
    std_dev: float | None = None  # percent: sample (N-1) std of pnl; N >= 10
    sharpe_ratio: float | None = None  # unitless, per trade: avg_pnl / std_dev
    annualized_sharpe_ratio: float | None = None  # unitless: sharpe * sqrt(trades_per_year); gated
    certainty_ratio: float | None = None  # unitless: avg win / |avg loss|; N >= 10 and losses
    expectancy: float | None = None  # percent per trade: P(win) avg win + P(loss) avg loss; N >= 10
    max_drawdown: float | None = None  # percent of the running peak of compounded equity
    expected_yearly_returns: float | None = None  # percent per year, compounded; gated, |x| <= 100
    sortino_ratio: float | None = None  # unitless, per trade: avg_pnl / downside deviation
    calmar_ratio: float | None = None  # unitless: expected_yearly_returns / max_drawdown
    recovery_factor: float | None = None  # unitless: total_pnl / max_drawdown
    profit_factor: float | None = None  # unitless: gross wins / |gross losses|
    avg_duration: float | None = None  # minutes from pending_at to close_timestamp
    avg_win_duration: float | None = None  # minutes, winning trades
    avg_loss_duration: float | None = None  # minutes, losing trades
    trades_per_year: float | None = None  # trades per 365 days over the span; None for a 0 span
    avg_peak_pnl: float | None = None  # percent: mean PnL at each signal's best point (SEMANTICS 2)
    avg_fall_pnl: float | None = None  # percent: mean PnL at each signal's worst point
    rejected_signals: int = 0  # count of signals refused (validation, risk) or get_signal raising


class LiveStatistics(BacktestStatistics):
    """Closed-signal statistics plus a count of every event kind seen."""

    total_events: int = 0  # count of events of any kind
    idle_count: int = 0  # ticks with no signal
    scheduled_count: int = 0  # scheduled entries waiting for price_open
    opened_count: int = 0  # positions opened
    active_count: int = 0  # ticks an open position was monitored
    closed_count: int = 0  # positions closed
    cancelled_count: int = 0  # scheduled entries cancelled


# Which direction of each statistic is better, for reports.
HINTS: Mapping[str, str] = MappingProxyType(
    {
        "total_signals": "higher is better",  # more trades, more evidence
        "win_count": "higher is better",
        "loss_count": "lower is better",
        "win_rate": "higher is better",
        "avg_pnl": "higher is better",
        "total_pnl": "higher is better",
        "median_pnl": "higher is better",
        "std_dev": "lower is better",
        "sharpe_ratio": "higher is better",
        "annualized_sharpe_ratio": "higher is better",
        "certainty_ratio": "higher is better",
        "expectancy": "higher is better",
        "max_drawdown": "lower is better",
        "expected_yearly_returns": "higher is better",
        "sortino_ratio": "higher is better",
        "calmar_ratio": "higher is better",
        "recovery_factor": "higher is better",
        "profit_factor": "higher is better",
        "avg_duration": "lower is better",  # capital is tied up for less time
        "avg_win_duration": "lower is better",
        "avg_loss_duration": "lower is better",
        "trades_per_year": "higher is better",
        "avg_peak_pnl": "higher is better",
        "avg_fall_pnl": "higher is better",  # a shallower fall
        "rejected_signals": "lower is better",
    }
)


def compute_statistics(
    closed: Sequence[Mapping[str, Any] | BaseModel], rejected: int = 0
) -> BacktestStatistics:
    """Statistics of closed results (dicts shaped like ``ClosedResult.model_dump()``).

    Trades are taken in close order (a stable sort on ``close_timestamp``).
    An empty sequence gives zero counts and None for every sum, mean and ratio
    (SEMANTICS 4: an empty run never beats a real one on any metric).
    """
    rows = [_as_dict(r) for r in closed]
    return statistics_from_arrays(
        np.array([r["pnl"]["pnl_percentage"] for r in rows], dtype=float),
        np.array([r["signal"]["pending_at"] for r in rows], dtype=float),
        np.array([r["close_timestamp"] for r in rows], dtype=float),
        np.array([r.get("peak_pnl", math.nan) for r in rows], dtype=float),
        np.array([r.get("fall_pnl", math.nan) for r in rows], dtype=float),
        rejected=rejected,
    )


def median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty array, the same double (the mean of the two middle
    values of an even count, NaN if any is NaN), without the numpy.ma module np.median
    imports on its first call (~9 ms of each pool process's start)."""
    n = len(values)
    if np.isnan(values).any():
        return math.nan
    half = n // 2
    middle = np.partition(values, (half - 1, half) if n % 2 == 0 else half)
    return float(middle[half]) if n % 2 else float((middle[half - 1] + middle[half]) / 2)


def statistics_from_arrays(
    pnl: np.ndarray,
    pending_at: np.ndarray,
    close_at: np.ndarray,
    peak_pnl: np.ndarray | None = None,
    fall_pnl: np.ndarray | None = None,
    rejected: int = 0,
) -> BacktestStatistics:
    """The same statistics from aligned arrays: PnL %, pending_at ms, close_timestamp ms,
    and each trade's peak and fall PnL % (without them the averages are None)."""
    n = len(pnl)
    if n == 0:
        return BacktestStatistics(rejected_signals=rejected)
    pnl, pending_at, close_at = (np.asarray(a, dtype=float) for a in (pnl, pending_at, close_at))
    order = np.argsort(close_at, kind="stable")
    pnl, pending_at, close_at = pnl[order], pending_at[order], close_at[order]

    wins = pnl > 0
    losses = pnl < 0
    win_count = int(wins.sum())
    loss_count = int(losses.sum())
    decided = win_count + loss_count
    enough = n >= MIN_SIGNALS

    with np.errstate(all="ignore"):
        avg_pnl = float(pnl.mean())
        total_pnl = float(pnl.sum())
        std_dev = float(pnl.std(ddof=1)) if enough else None
        sharpe = avg_pnl / std_dev if std_dev is not None and std_dev > MIN_STD_DEV else None

        span_days = float(close_at.max() - pending_at.min()) / MS_PER_DAY
        trades_per_year = n / span_days * DAYS_PER_YEAR if span_days > 0 else None
        annualize = (
            enough
            and span_days >= MIN_SPAN_DAYS
            and trades_per_year is not None
            and trades_per_year <= MAX_TRADES_PER_YEAR
        )

        avg_win = float(pnl[wins].mean()) if win_count else 0.0
        avg_loss = float(pnl[losses].mean()) if loss_count else 0.0
        gross_win = float(pnl[wins].sum())
        gross_loss = float(pnl[losses].sum())

        drawdown = max_drawdown(pnl)
        has_drawdown = math.isfinite(drawdown) and drawdown > MIN_STD_DEV

        yearly = None
        if annualize:
            equity_final = np.prod(1.0 + pnl / 100.0)
            yearly = float((np.power(equity_final, trades_per_year / n) - 1.0) * 100.0)
            if not abs(yearly) <= MAX_YEARLY_RETURN:  # also drops NaN (equity_final <= 0)
                yearly = None

        downside = float(np.sqrt(np.mean(np.minimum(pnl, 0.0) ** 2)))
        durations = (close_at - pending_at) / MS_PER_MINUTE

        values: dict[str, Any] = {
            "total_signals": n,
            "win_count": win_count,
            "loss_count": loss_count,
            "win_rate": win_count / decided * 100.0 if decided else None,
            "avg_pnl": avg_pnl,
            "total_pnl": total_pnl,
            "median_pnl": median(pnl),
            "std_dev": std_dev,
            "sharpe_ratio": sharpe,
            "annualized_sharpe_ratio": (
                sharpe * math.sqrt(trades_per_year) if annualize and sharpe is not None else None
            ),
            "certainty_ratio": avg_win / abs(avg_loss) if enough and loss_count else None,
            "expectancy": (win_count / n * avg_win + loss_count / n * avg_loss if enough else None),
            "max_drawdown": drawdown,
            "expected_yearly_returns": yearly,
            "sortino_ratio": avg_pnl / downside if enough and downside > MIN_STD_DEV else None,
            "calmar_ratio": yearly / drawdown if yearly is not None and has_drawdown else None,
            "recovery_factor": total_pnl / drawdown if has_drawdown else None,
            "profit_factor": gross_win / abs(gross_loss) if loss_count else None,
            "avg_duration": float(durations.mean()),
            "avg_win_duration": float(durations[wins].mean()) if win_count else None,
            "avg_loss_duration": float(durations[losses].mean()) if loss_count else None,
            "trades_per_year": trades_per_year,
            "avg_peak_pnl": float(np.mean(peak_pnl))
            if peak_pnl is not None and len(peak_pnl) == n
            else None,
            "avg_fall_pnl": float(np.mean(fall_pnl))
            if fall_pnl is not None and len(fall_pnl) == n
            else None,
            "rejected_signals": rejected,
        }
    return BacktestStatistics(**{k: _finite(v) for k, v in values.items()})


def compute_live_statistics(events: Sequence[Mapping[str, Any] | BaseModel]) -> LiveStatistics:
    """Counts of every event kind of a live run plus the statistics of its closed ones."""
    rows = [_as_dict(e) for e in events]
    kinds = Counter()
    for index, row in enumerate(rows):
        action = row.get("action")
        if action not in EVENT_KINDS:
            raise InputError(
                f"event {index} has action {action!r}; known actions: {', '.join(EVENT_KINDS)}"
            )
        kinds[action] += 1
    closed = [row for row in rows if row["action"] == "closed"]
    base = compute_statistics(closed).model_dump()
    counts = {f"{kind}_count": kinds[kind] for kind in EVENT_KINDS}
    return LiveStatistics(**base, **counts, total_events=len(rows))


def _as_dict(record: Mapping[str, Any] | BaseModel) -> Mapping[str, Any]:
    return record.model_dump() if isinstance(record, BaseModel) else record


def _finite(value: Any) -> Any:
    """NaN and infinities become None; ints and None pass through."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

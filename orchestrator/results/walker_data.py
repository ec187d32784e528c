"""What a walker hands back: the progress after each variant, and the ranked result."""

from __future__ import annotations

import warnings
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from btfarm.orchestrator.results.columns import SweepColumns
from btfarm.orchestrator.results.trust import TrustFigures
from btfarm.shared.stats import BacktestStatistics


class WalkerProgress(BaseModel):
    """Yielded by ``Walker.run`` after each variant completes (SEMANTICS 5)."""

    walker_name: str
    symbol: str
    strategy_name: str
    strategies_tested: int
    total_strategies: int
    best_strategy: str | None
    best_metric: float | None
    metric: str
    metric_value: float | None
    stats: BacktestStatistics | None
    status: str = "done"  # done | failed (then ``error`` says why)
    error: str | None = None


class RankedStrategy(BaseModel):
    rank: int
    strategy_name: str
    metric_value: float | None
    stats: BacktestStatistics
    params: dict[str, Any] | None = None
    daily_sharpe: float | None = None  # mean / std of its PnL per day (results/trust.py)
    deflated_sharpe: float | None = (
        None  # P(true Sharpe > the sweep's SR0), against the same SR0 as the winner
    )


class WalkerData(BaseModel):
    """What ``Walker.get_data`` returns: every finished strategy ranked, and what did not finish."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    total_strategies: int
    strategies_tested: int
    best_strategy: str | None
    best_metric: float | None
    strategies: list[RankedStrategy]
    unfinished: dict[str, str]  # variant name -> why it did not finish
    stopped: bool
    run_id: str
    chunk_size: int
    seconds: float
    duplicates_dropped: int = 0  # results of redelivered chunks already received, not counted again
    resumed: int = 0  # results read back from an earlier attempt of this run (not recomputed)
    interrupted: bool = (
        False  # ended without every result: `btfarm walker resume RUN_ID` finishes it
    )
    fingerprints: dict[str, dict[str, Any]] = {}  # variant name -> fingerprint of its result
    # variant name -> the walk that ran it on its worker: "batch" (the C loop), "vector" or
    # "event" (Python: a hook, a listener, or a risk with Python validations), "portfolio"
    lanes: dict[str, str] = {}
    # finished but not comparable (fewer than min_trades closed signals, 1 by default):
    # variant name -> (why, its statistics); never ranked, never best
    unranked: dict[str, tuple[str, BacktestStatistics]] = {}
    rejections: dict[
        str, tuple[int, list[str]]
    ] = {}  # variant -> (signals rejected, first reasons)
    min_trades: int = 0
    coverage: str = ""  # the candles the sweep ran on: range and gaps (coverage.Coverage.describe)
    variants: dict[
        str, tuple[str, dict[str, Any] | None]
    ] = {}  # every variant, in order -> (base, params)
    trust: TrustFigures = TrustFigures()  # deflated Sharpe ratio and PBO (results/trust.py)
    refused: str | None = (
        None  # why the walker's min_dsr or max_pbo refused its winner (best is then None)
    )
    min_dsr: float | None = None
    max_pbo: float | None = None
    search_trials: list[
        tuple[int, str]
    ] = []  # a search's (Optuna trial number, variant) in trial order
    search_spec: str = ""  # a search's sampler, space and study; empty for a grid
    search_note: str = ""  # why a search ended before n_trials ran
    # A sweep of more than ``top`` variants (Walker.get_data's, 1,000 by default): ``strategies``
    # holds the best ``top`` ranked variants only, ``unranked`` the first ``top`` not ranked,
    # ``rejections`` and ``fingerprints`` the best 100 and first 100 not ranked, ``variants`` is
    # empty, and ``table`` holds every variant as columns (results/columns.py,
    # results/ranked_data.py). None: the sweep came whole.
    top: int | None = None
    table: SweepColumns | None = Field(default=None, exclude=True, repr=False)

    @property
    def ranked_count(self) -> int:
        """Variants ranked: all of ``strategies``, or more when the sweep came as its top."""
        return self.table.ranked_count if self.table is not None else len(self.strategies)

    @property
    def search(self) -> TrustFigures:
        """Deprecated: the trust figures were called ``search``; use ``trust``. Kept for one release."""
        warnings.warn(
            "WalkerData.search is now WalkerData.trust (the deflated Sharpe ratio and PBO); "
            "the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.trust

    def to_frame(self):
        """One row per variant: parameters as columns, every statistic, status (results/table.py);
        for a large sweep, built from ``table``'s columns."""
        from btfarm.orchestrator.results.table import walker_frame

        return walker_frame(self)

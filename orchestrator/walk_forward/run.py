"""A walker with ``walk_forward``: its frame cut into windows (shared/walk_forward.py); each
training window's sweep (or search) runs on the farm, all windows submitted together; then
each window's winner is backtested on the test window that follows it.

Window k trains as walker ``NAME.wfK`` on frame ``FRAME[start,end]`` (shared/frame_windows.py:
any process with FRAME registered has it), a sweep like any other: its own run id, stop,
resume, report. What ``get_data`` gives is the windows side by side: each one's winner, its
in-sample metric (the training sweep's best) and out-of-sample metric (the test backtest),
the test windows' closed signals stitched into one run, and the walk-forward efficiency,
mean out-of-sample metric / mean in-sample metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from btfarm.orchestrator.results.walker_data import WalkerData
from btfarm.orchestrator.run_thread import RunThread, follow_all
from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.errors import ConfigError
from btfarm.shared.frame_windows import window_name
from btfarm.shared.ranking import metric_value
from btfarm.shared.registry import get_exchange, get_frame, get_risk, get_strategy, registry
from btfarm.shared.schemas import WalkerSchema
from btfarm.shared.stats import (
    DAYS_PER_YEAR,
    MAX_TRADES_PER_YEAR,
    MAX_YEARLY_RETURN,
    MIN_SIGNALS,
    MIN_SPAN_DAYS,
    BacktestStatistics,
    compute_statistics,
)


class WindowResult(BaseModel):
    window: int
    train: str  # the training frame's name: FRAME[start,end]
    test: str
    walker_name: str  # the training sweep's walker (NAME.wfK)
    run_id: str
    winner: str | None
    why_no_winner: str | None = None
    params: dict[str, Any] | None = None
    in_sample: float | None = None  # the winner's metric on the training window
    out_of_sample: float | None = None  # its metric on the test window
    why_no_out_of_sample: str | None = (
        None  # why out_of_sample is None (no winner: why_no_winner says why)
    )
    oos_stats: BacktestStatistics | None = None


class WalkForwardData(BaseModel):
    """What ``Walker.get_data`` returns for a walk-forward walker."""

    walker_name: str
    symbol: str
    metric: str
    walk_forward: dict[str, Any]
    windows: list[WindowResult]
    stitched: BacktestStatistics  # every test window's closed signals as one run
    efficiency: (
        float | None
    )  # mean out-of-sample metric / mean in-sample metric (None unless IS mean > 0)
    stopped: bool = False


def window_walkers(walker: WalkerSchema) -> list[tuple[str, str, str]]:
    """(training walker, training frame, test frame) of each window; nothing is registered."""
    frame = get_frame(walker.frame_name, "Walker.run")
    wf = walker.walk_forward
    assert wf is not None, "window_walkers cuts a walker that has walk_forward"
    cuts = wf.windows(frame.start_date, frame.end_date)
    if not cuts:
        raise ConfigError(
            f"walker {walker.walker_name!r}: frame {frame.frame_name!r} ({frame.start_date.isoformat()} .. "
            f"{frame.end_date.isoformat()}) is shorter than one window (train {wf.train} + test {wf.test}); "
            "lengthen the frame or shorten the windows"
        )
    return [
        (
            f"{walker.walker_name}.wf{k}",
            window_name(frame.frame_name, a, b),
            window_name(frame.frame_name, c, d),
        )
        for k, (a, b, c, d) in enumerate(cuts)
    ]


def register_windows(walker: WalkerSchema, windows: list[tuple[str, str, str]]) -> None:
    """Each window's training walker, registered here as by the walker's own module (so a
    local pool imports what the walker's does)."""
    origin = registry.origin("walker", walker.walker_name)
    for name, train, _ in windows:
        registry.add(
            "walker",
            walker.model_copy(
                update={"walker_name": name, "frame_name": train, "walk_forward": None}
            ),
            True,
            {},
            origin=origin,
        )


@dataclass
class WalkForwardRun:
    """The windows' sweeps of one walk-forward run, and what was made of them at the end."""

    walker: WalkerSchema
    symbol: str
    windows: list[tuple[str, str, str]]
    result: WalkForwardData | None = None
    closed: list[dict[str, Any]] = field(
        default_factory=list
    )  # the test windows' closed signals, in order

    def data(self) -> WalkForwardData:
        if self.result is None:
            raise ConfigError(
                f"walk-forward walker {self.walker.walker_name!r} on {self.symbol} has not finished; "
                "its windows' sweeps are Walker.get_data(symbol, NAME.wfK)"
            )
        return self.result


def run_walk_forward(
    window_data: Callable[[str, str], WalkerData],
    run: WalkForwardRun,
    tasks: list[RunThread],
    task: RunThread,
    stopped,
) -> None:
    """Follow every window's sweep (already running), then test each winner."""
    for item in follow_all(tasks):
        task.push(item)
    walker, symbol = run.walker, run.symbol
    exchange = get_exchange(walker.exchange_name, "Walker.run")
    rows = []
    for k, (name, train, test) in enumerate(run.windows):
        data = window_data(symbol, name)
        row = WindowResult(
            window=k,
            train=train,
            test=test,
            walker_name=name,
            run_id=data.run_id,
            winner=data.best_strategy,
            in_sample=data.best_metric,
        )
        unfinished = data.stopped or data.interrupted
        if data.best_strategy is None or unfinished:
            # the best of part of a sweep is not the window's winner: it is not tested
            row.why_no_winner = (
                f"its training run {data.run_id} was {'stopped' if data.stopped else 'interrupted'} before "
                "every variant ran"
                if unfinished
                else data.refused or "no variant is ranked"
            )
            row.winner = row.in_sample = None
            rows.append(row)
            continue
        base, params = data.variants[data.best_strategy]
        strategy = get_strategy(base, "Walker.run")
        frame = get_frame(test, "Walker.run")
        risk = get_risk(strategy.risk_name, "Walker.run") if strategy.risk_name else None
        backtest = BacktestRun(
            strategy,
            exchange,
            frame,
            symbol,
            load_frame_candles(exchange, frame, symbol),
            params=params,
            strategy_name=data.best_strategy,
            risk=risk,
        )
        closed = backtest.run()
        run.closed.extend(closed)
        row.params, row.oos_stats = params, backtest.statistics()
        row.out_of_sample = metric_value(row.oos_stats, walker.metric)
        if row.out_of_sample is None:
            row.why_no_out_of_sample = why_undefined(row.oos_stats, walker.metric)
        rows.append(row)
    pairs = [
        (r.in_sample, r.out_of_sample)
        for r in rows
        if r.in_sample is not None and r.out_of_sample is not None
    ]
    mean_is = sum(i for i, _ in pairs) / len(pairs) if pairs else None
    mean_oos = sum(o for _, o in pairs) / len(pairs) if pairs else None
    run.result = WalkForwardData(
        walker_name=walker.walker_name,
        symbol=symbol,
        metric=walker.metric,
        walk_forward=walker.walk_forward.model_dump() if walker.walk_forward else {},
        windows=rows,
        stitched=compute_statistics(run.closed),
        efficiency=mean_oos / mean_is if mean_oos is not None and mean_is and mean_is > 0 else None,
        stopped=stopped(),
    )


GATED = {
    "std_dev",
    "sharpe_ratio",
    "sortino_ratio",
    "certainty_ratio",
    "expectancy",
}  # need MIN_SIGNALS trades
ANNUALIZED = {
    "annualized_sharpe_ratio",
    "expected_yearly_returns",
    "calmar_ratio",
}  # need a long enough span too
NEEDS_A_LOSS = {"certainty_ratio", "profit_factor", "avg_loss_duration"}


def why_undefined(stats: BacktestStatistics, metric: str) -> str:
    """Why ``metric`` of a test window's statistics is N/A, in the words of its rule (shared/stats.py)."""
    n = stats.total_signals
    if n == 0:
        rejected = f" ({stats.rejected_signals} signals rejected)" if stats.rejected_signals else ""
        return f"the winner closed no signal in the test window{rejected}"
    if (metric in GATED or metric in ANNUALIZED) and n < MIN_SIGNALS:
        return f"{metric} needs at least {MIN_SIGNALS} closed signals; the winner closed {n} in the test window"
    if metric in NEEDS_A_LOSS and not stats.loss_count:
        return f"{metric} needs a losing signal; none of the winner's {n} lost"
    if metric in ANNUALIZED:
        tpy = stats.trades_per_year
        span = n / tpy * DAYS_PER_YEAR if tpy else 0.0
        if span < MIN_SPAN_DAYS:
            return (
                f"{metric} is annualized only over at least {MIN_SPAN_DAYS:g} days of trades; the winner's "
                f"{n} span {span:.1f} days"
            )
        if tpy is not None and tpy > MAX_TRADES_PER_YEAR:
            return f"{metric} is not annualized above {MAX_TRADES_PER_YEAR:g} trades a year ({tpy:.0f} here)"
        if metric != "annualized_sharpe_ratio" and stats.expected_yearly_returns is None:
            return f"the yearly return is beyond +-{MAX_YEARLY_RETURN:g} %, where {metric} is not given"
    if metric in {"sharpe_ratio", "annualized_sharpe_ratio"}:
        return f"{metric} needs a spread of PnL; the winner's {n} signals all made the same"
    if metric == "sortino_ratio":
        return f"{metric} needs a downside; none of the winner's {n} signals lost"
    if metric in {"calmar_ratio", "recovery_factor"}:
        return f"{metric} divides by the drawdown, and the winner's {n} signals had none"
    if metric == "win_rate":
        return f"every one of the winner's {n} signals broke even"
    if metric == "avg_win_duration":
        return f"none of the winner's {n} signals won"
    return f"{metric} could not be computed from the winner's {n} closed signals"

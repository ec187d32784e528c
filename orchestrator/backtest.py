"""``Backtest``: one strategy replayed over one frame, in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from btfarm.shared.coverage import Coverage
from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.errors import NotFoundError
from btfarm.shared.registry import get_exchange, get_frame, get_risk, get_strategy
from btfarm.shared.results import ClosedResult
from btfarm.shared.stats import BacktestStatistics

from .instances import ExecutionClass, Instance
from .reporting.performance import Performance
from .reports.backtest_pictures import run_pictures
from .reports.dump import FORMATS, dump_bundle
from .reports.render import render_backtest
from .run_steps import drive, route_event
from .run_thread import RunThread
from .state_client import warm_state

STATUS_EVERY_SECONDS = 0.5  # how often a running backtest refreshes its status in Redis
# how often the readers of Backtest.run are handed the signals closed since: waking a reader per
# signal cost the run ~35 us of GIL hand-offs each (12 ms of the README example's 40)
PUSH_EVERY_SECONDS = 0.02


class BacktestData(BaseModel):
    """What ``Backtest.get_data`` returns: the statistics, the closed signals and the
    position commits (SEMANTICS 9) applied and refused per kind."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str
    status: str
    stopped: bool
    stats: BacktestStatistics
    signals: list[ClosedResult]
    fingerprint: dict[str, Any]  # btfarm version, params, source and candle hashes, costs
    coverage: Coverage  # the candles used: range, gaps
    rejections: list[
        str
    ] = []  # the first distinct reasons signals were rejected (stats count them)
    # the commit_* calls by kind ("trailing_stop", "partial_profit", ...): {"applied": n, "refused": m};
    # empty when nothing committed
    commits: dict[str, dict[str, int]] = {}


class BacktestUtils(ExecutionClass[BacktestRun]):
    mode = "backtest"

    def run(
        self, symbol: str, strategy_name: str, exchange_name: str, frame_name: str
    ) -> Iterator[ClosedResult]:
        """Closed results as they happen; a second concurrent call joins the running one.

        Names are checked and the run starts before this returns, so a typo
        fails here rather than at the first ``next``.
        """
        _, task = self._launch(symbol, strategy_name, exchange_name, frame_name, "Backtest.run")
        return (ClosedResult.model_validate(record) for record in task.follow())

    def background(
        self, symbol: str, strategy_name: str, exchange_name: str, frame_name: str
    ) -> Callable[[], None]:
        """Run without blocking; errors go to ``listen_exit``. Returns a cancel function."""
        inst, task = self._launch(
            symbol, strategy_name, exchange_name, frame_name, "Backtest.background"
        )
        return self._background(task, inst)

    def wait(self, symbol: str, strategy_name: str, timeout: float | None = None) -> bool:
        """Block until the instance's run ends; True when it has."""
        inst = self.instance(symbol, strategy_name)
        return inst.task is None or inst.task.wait(timeout)

    def _launch(
        self, symbol: str, strategy_name: str, exchange_name: str, frame_name: str, needed_by: str
    ) -> tuple[Instance, RunThread]:
        strategy = get_strategy(strategy_name, needed_by)
        exchange = get_exchange(exchange_name, needed_by)
        frame = get_frame(frame_name, needed_by)
        risk = get_risk(strategy.risk_name, needed_by) if strategy.risk_name else None
        inst = self.instance(symbol, strategy_name)
        context = {"exchange_name": exchange_name, "frame_name": frame_name}
        warm_state()  # the store's start overlaps reading the candles
        # loaded and checked here, so a frame past the data is refused before anything runs
        candles = load_frame_candles(exchange, frame, symbol)
        probe = Performance.probe(symbol, strategy_name, exchange_name, frame_name, backtest=True)
        if (
            probe is not None
        ):  # Performance enabled: time get_signal (else the strategy runs as it is)
            strategy = probe.wrap(strategy)
        run = BacktestRun(
            strategy, exchange, frame, symbol, candles, risk=risk, listener=route_event
        )

        def produce(inst: Instance, task: RunThread) -> None:
            if probe is None:
                self._produce(inst, task, run)
                return
            try:
                with probe.step("backtest_total"):
                    self._produce(inst, task, run)
            finally:
                Performance.finish(probe)

        return inst, self.start_or_join(inst, context, produce)

    def _produce(self, inst: Instance, task: RunThread, run: BacktestRun) -> None:
        tags = {
            "mode": "backtest",
            "symbol": inst.symbol,
            "strategy_name": inst.name,
            "exchange_name": run.exchange.exchange_name,
            "frame_name": run.frame.frame_name,
        }
        drive(inst, task, run, self.mode, tags, PUSH_EVERY_SECONDS, STATUS_EVERY_SECONDS)

    # ---- results ---------------------------------------------------------

    def _run_of(
        self, symbol: str, strategy_name: str, needed_by: str
    ) -> tuple[Instance, BacktestRun]:
        inst = self.instance(symbol, strategy_name)
        if inst.data is None:
            raise NotFoundError(
                f"no backtest of {symbol}:{strategy_name} has run in this process "
                f"(needed by {needed_by}); call Backtest.run or Backtest.background first"
            )
        return inst, inst.data

    def get_data(self, symbol: str, strategy_name: str) -> BacktestData:
        inst, run = self._run_of(symbol, strategy_name, "Backtest.get_data")
        closed = list(run.closed)
        return BacktestData(
            symbol=symbol,
            strategy_name=strategy_name,
            exchange_name=run.exchange.exchange_name,
            frame_name=run.frame.frame_name,
            status=inst.status,
            stopped=run.stopped,
            stats=run.statistics(),
            signals=[ClosedResult.model_validate(c) for c in closed],
            fingerprint=run.fingerprint(),
            coverage=run.coverage,
            rejections=list(run.core.rejections),
            commits=commit_counts(run),
        )

    def get_report(
        self,
        symbol: str,
        strategy_name: str,
        columns: Sequence[Any] | None = None,
        pictures: Sequence[tuple[str, str]] = (),
    ) -> str:
        inst, run = self._run_of(symbol, strategy_name, "Backtest.get_report")
        closed = list(run.closed)
        return render_backtest(
            symbol,
            strategy_name,
            run.exchange.exchange_name,
            run.frame.frame_name,
            closed,
            run.statistics(),
            columns,
            fingerprint=run.fingerprint(),
            rejections=run.core.rejections,
            coverage=run.coverage.describe(),
            pictures=pictures,
            commits=commit_counts(run),
        )

    def dump(
        self,
        symbol: str,
        strategy_name: str,
        path: str | Path | None = None,
        columns: Sequence[Any] | None = None,
        formats: Sequence[str] = FORMATS,
    ) -> Path:
        """Write the report, its pictures (equity and buy and hold, price and trades, monthly
        returns, rolling Sharpe, underwater) and its HTML twin (the equity and the price as
        interactive charts); default ``./dump/backtest/{strategy_name}.md`` (``formats``:
        "md", "html" or both)."""
        _, run = self._run_of(symbol, strategy_name, "Backtest.dump")

        def render(stem: str) -> tuple[str, dict[str, str]]:
            files, links = run_pictures(stem, run, symbol, strategy_name)
            return self.get_report(symbol, strategy_name, columns, links), files

        return dump_bundle(render, "backtest", strategy_name, path, formats)


def commit_counts(run: BacktestRun) -> dict[str, dict[str, int]]:
    """The run's commits per kind, as ``BacktestData.commits`` holds them."""
    return {
        kind: {"applied": applied, "refused": refused}
        for kind, (applied, refused) in run.core.commit_counts.items()
    }


Backtest = BacktestUtils()

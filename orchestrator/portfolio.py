"""``Portfolio``: several strategies on their symbols, run minute by minute together, in this process.

A portfolio (``add_portfolio``) shares one risk and one capital among its
members (shared/engine/portfolio_walk.py says how the lockstep runs). Like
``Backtest``, ``Portfolio`` memoises one instance per portfolio, with ``run``,
``background``, ``stop``, ``get_data``, ``get_report``, ``dump`` and ``list``.
The instance's symbol slot is ``"*"`` (``SYMBOL``): a portfolio spans its
members' symbols, so its key is ``*:{portfolio_name}`` (``btfarm list`` shows
``*`` as its symbol; ``btfarm stop portfolio '*' NAME`` stops it from a shell).

One run is ``PortfolioRun(schema, params)`` (shared/engine/portfolio_run.py),
a pure function of the registered portfolio and ``params``: what a worker task
will call for each variant of a walker over portfolios.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from btfarm.shared.coverage import Coverage
from btfarm.shared.engine.portfolio_run import PortfolioRun
from btfarm.shared.errors import NotFoundError
from btfarm.shared.registry import get_portfolio
from btfarm.shared.results import ClosedResult
from btfarm.shared.stats import BacktestStatistics
from btfarm.shared.store import run_status

from .instances import ExecutionClass, Instance
from .reports.dump import FORMATS, dump_bundle
from .reports.portfolio_report import portfolio_pictures, render_portfolio
from .run_steps import drive, route_event
from .run_thread import RunThread
from .state_client import state, warm_state

SYMBOL = "*"  # the symbol slot of every portfolio instance: a portfolio spans its members' symbols
STATUS_EVERY_SECONDS = 0.5  # how often a running portfolio refreshes its status in Redis
PUSH_EVERY_SECONDS = 0.02  # how often readers of Portfolio.run are handed the signals closed since


class PortfolioMemberData(BaseModel):
    """One member's part of a portfolio run."""

    symbol: str
    strategy_name: str
    lane: str  # "event" (get_signal) or "vector" (get_signals)
    strict: bool  # walked tick by tick (it has callbacks), not settled at once
    stats: BacktestStatistics  # over this member's closed trades
    rejections: list[str] = []  # the first distinct reasons its signals were refused
    first_rejection_at: int | None = (
        None  # ms: the tick of its first rejection by a risk or the capital
    )


class PortfolioRejections(BaseModel):
    """How often a risk (or the capital) refused a member's signals."""

    member: str  # SYMBOL:strategy_name
    risk_name: str  # "capital" for an entry the free capital could not pay
    rejection_id: str  # the validation's id, "max_positions", "capital", or "None"
    count: int


class PortfolioEquity(BaseModel):
    """The capital's equity: dollars, from the capital through each close's pnl_cost."""

    capital: float
    final_equity: float
    free_capital: float  # at the end (every position closed: the final equity)
    return_percent: float  # (final_equity / capital - 1) x 100
    max_drawdown_percent: float | None  # of the equity's running peak
    curve: list[tuple[int, float]]  # (ms, equity): the frame's start, then each close


class PortfolioData(BaseModel):
    """What ``Portfolio.get_data`` returns."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    portfolio_name: str
    exchange_name: str
    frame_name: str
    risk_name: str | None
    capital: float | None
    params: dict[
        str, Any
    ]  # what the run varied (PortfolioRun's params); {} for the registered portfolio
    status: str
    stopped: bool
    stats: BacktestStatistics  # over every member's closed trades, in close order
    compounded_return: float | None  # percent: every trade's PnL compounded in close order
    equity: PortfolioEquity | None  # None without capital
    members: list[PortfolioMemberData]
    risk_rejections: int  # signals refused by a risk or the capital, every member
    rejections: list[PortfolioRejections]  # by member, risk and id, most first
    max_open_positions: int  # the largest number of positions open at once
    max_open_at: int | None  # ms: when it was first reached
    signals: list[ClosedResult]  # every member's closed signals, in close order
    coverage: dict[str, Coverage]  # by symbol: the candles used
    fingerprints: dict[str, dict[str, Any]]  # by member (SYMBOL:strategy_name)


class PortfolioUtils(ExecutionClass):
    mode = "portfolio"

    def run(
        self, portfolio_name: str, params: dict[str, Any] | None = None
    ) -> Iterator[ClosedResult]:
        """Every member's closed signals, in the order they close; a second concurrent call joins
        the running one. Names are checked and candles loaded before this returns."""
        _, task = self._launch(portfolio_name, params, "Portfolio.run")
        return (ClosedResult.model_validate(record) for record in task.follow())

    def background(
        self, portfolio_name: str, params: dict[str, Any] | None = None
    ) -> Callable[[], None]:
        """Run without blocking; errors go to ``listen_exit``. Returns a cancel function."""
        inst, task = self._launch(portfolio_name, params, "Portfolio.background")
        self._background(task, inst)
        return lambda: self.stop(portfolio_name)

    def wait(self, portfolio_name: str, timeout: float | None = None) -> bool:
        """Block until the portfolio's run ends; True when it has."""
        inst = self.instance(SYMBOL, portfolio_name)
        return inst.task is None or inst.task.wait(timeout)

    def stop(self, portfolio_name: str, name: str | None = None) -> None:
        """Ask the run to stop at its next check (every 2,048 ticks), here or from any process.
        (``stop(SYMBOL, portfolio_name)`` is accepted too, the shape of the other classes.)"""
        super().stop(SYMBOL, portfolio_name if name is None else name)

    def list(self) -> list[dict[str, Any]]:
        """Every portfolio instance known to the state store: id, name, status, progress."""
        rows = run_status.list_status(state(), self.mode)
        for row in rows:
            row["portfolio_name"] = row["name"]
        return rows

    def _launch(
        self, portfolio_name: str, params: dict[str, Any] | None, needed_by: str
    ) -> tuple[Instance, RunThread]:
        portfolio = get_portfolio(portfolio_name, needed_by)
        warm_state()
        # names looked up, candles loaded and checked here: a typo or a missing symbol fails the call
        run = PortfolioRun(portfolio, params, listener=route_event, needed_by=needed_by)
        inst = self.instance(SYMBOL, portfolio_name)
        context = {"params": run.params}

        def produce(inst: Instance, task: RunThread) -> None:
            self._produce(inst, task, run)

        return inst, self.start_or_join(inst, context, produce)

    def _produce(self, inst: Instance, task: RunThread, run: PortfolioRun) -> None:
        tags = {
            "mode": self.mode,
            "symbol": SYMBOL,
            "strategy_name": inst.name,
            "portfolio_name": inst.name,
            "exchange_name": run.exchange.exchange_name,
            "frame_name": run.frame.frame_name,
        }
        drive(inst, task, run, self.mode, tags, PUSH_EVERY_SECONDS, STATUS_EVERY_SECONDS)

    # ---- results ---------------------------------------------------------------

    def _run_of(self, portfolio_name: str, needed_by: str) -> tuple[Instance, PortfolioRun]:
        inst = self.instance(SYMBOL, portfolio_name)
        if inst.data is None:
            raise NotFoundError(
                f'no run of portfolio "{portfolio_name}" in this process (needed by {needed_by}); '
                "call Portfolio.run or Portfolio.background first"
            )
        return inst, inst.data

    def get_data(self, portfolio_name: str) -> PortfolioData:
        inst, run = self._run_of(portfolio_name, "Portfolio.get_data")
        return portfolio_data(run, inst.status)

    def get_report(
        self,
        portfolio_name: str,
        columns: Sequence[Any] | None = None,
        pictures: Sequence[tuple[str, str]] = (),
    ) -> str:
        """The markdown report: the figures, the members, the rejections, the closed signals."""
        return render_portfolio(self.get_data(portfolio_name), columns, pictures)

    def dump(
        self,
        portfolio_name: str,
        path: str | Path | None = None,
        columns: Sequence[Any] | None = None,
        formats: Sequence[str] = FORMATS,
    ) -> Path:
        """Write the report with its pictures (the equity, the positions open over time) and its
        HTML twin; default ``./dump/portfolio/{portfolio_name}.md``."""
        data = self.get_data(portfolio_name)

        def render(stem: str) -> tuple[str, dict[str, str]]:
            files, links = portfolio_pictures(stem, data)
            return render_portfolio(data, columns, links), files

        return dump_bundle(render, self.mode, portfolio_name, path, formats)


def portfolio_data(run: PortfolioRun, status: str = "done") -> PortfolioData:
    """The figures of a ``PortfolioRun`` as ``PortfolioData``."""
    walk = run.walk
    portfolio = run.portfolio
    equity = run.equity()
    members = [
        PortfolioMemberData(
            symbol=m.core.symbol,
            strategy_name=m.core.name,
            lane="vector" if m.intents is not None else "event",
            strict=m.strict,
            stats=run.member_statistics(m),
            rejections=list(m.core.rejections),
            first_rejection_at=walk.first_rejection_ms.get(m.index),
        )
        for m in run.members
    ]
    return PortfolioData(
        portfolio_name=portfolio.portfolio_name,
        exchange_name=portfolio.exchange_name,
        frame_name=portfolio.frame_name,
        risk_name=portfolio.risk_name,
        capital=portfolio.capital,
        params=run.params,
        status=status,
        stopped=run.stopped,
        stats=run.statistics(),
        compounded_return=run.compounded_return(),
        equity=PortfolioEquity.model_validate(equity) if equity is not None else None,
        members=members,
        risk_rejections=walk.risk_events,
        rejections=[PortfolioRejections(**r) for r in run.rejections()],
        max_open_positions=walk.max_open,
        max_open_at=walk.max_open_at,
        signals=[ClosedResult.model_validate(c) for c in list(run.closed)],
        coverage=run.coverage,
        fingerprints=run.fingerprints(),
    )


Portfolio = PortfolioUtils()

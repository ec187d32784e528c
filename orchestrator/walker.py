"""``Walker``: compare a walker's strategies (and sweep variants) on one symbol or several,
fanned out as Celery tasks over the farm's workers (SEMANTICS.md 5 and 7).

Given a list of symbols, every method works on one sweep per symbol, each with its
own run id, plan, stop flag and resume, run side by side (on one local pool when
embedded); ``get_data`` adds the ranking across symbols (results/symbols.py).

This module is the public surface; the pieces live beside it:
``sweep_run`` (the checks, then one sweep from start to end), ``sweep_tally``
(results as they arrive, ranking), ``walker_data`` (what is returned),
``collect`` (the collect loop), ``local_pool`` (the embedded default's
worker), ``fanout`` and ``chunk_watch`` (chunks out, dead ones back).

``run`` validates every schema here first (walker, exchange, frame, each
strategy and grid), expands the variants, submits them in chunks and yields
the progress contract each time a variant completes, in whatever order the
workers finish; best-so-far is exact at every step because ties go to the
variant listed first. ``stop`` sets the walker's Redis stop flag: running
chunks stop at their next check, queued ones report their variants unrun
without running them, and after ``collect.STOP_GRACE_SECONDS`` the run ends with the
rest listed as unfinished. Nothing is ever revoked or terminated.

With no ``BTFARM_REDIS_URL`` the run starts the embedded Redis and a local
worker pool (``local_pool.LocalPool``) and stops both at the end.

Crash-only (STYLE 12): a sweep stores what it is (``shared/store/sweep_plan``:
walker, symbol, variants, chunk size, metric, the code it ranks) before it
submits anything, holds a lease while it collects (``sweeps/collect.py``), and writes
each result once. ``resume(run_id)``
(``btfarm walker resume RUN_ID``) reads that back, takes the stored results
as they are and submits only the variants without one; a fresh run is a
resume with nothing done. A lost Redis is retried for
``BTFARM_STORE_OUTAGE_SECONDS``; a sweep that receives nothing for
``BTFARM_SWEEP_IDLE_TIMEOUT`` ends as interrupted, naming what is missing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from btfarm.orchestrator.results.ranked_data import TOP, checked_top, ranked_data
from btfarm.orchestrator.results.symbols import SymbolsData, symbols_data
from btfarm.orchestrator.results.walker_data import WalkerData, WalkerProgress
from btfarm.orchestrator.searches.run import SEARCH, trials_walker
from btfarm.orchestrator.sweeps.launch import SweepLauncher
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.orchestrator.walk_forward.run import (
    WalkForwardData,
    WalkForwardRun,
    register_windows,
    run_walk_forward,
    window_walkers,
)
from btfarm.shared.errors import BtfarmError, UsageError
from btfarm.shared.registry import get_walker
from btfarm.shared.store import sweep_plan
from btfarm.shared.store.sweep_plan import SweepPlan

from .instances import ExecutionClass, Instance
from .reports.dump import FORMATS, dump_bundle, file_part, report_path
from .reports.render import render_walker
from .reports.symbols_report import render_walker_symbols
from .reports.walk_forward_report import render_walk_forward, walk_forward_bundle
from .reports.walker_pictures import walker_pictures
from .run_thread import RunThread, follow_all
from .state_client import state

WHOLE = sys.maxsize  # get_data's top for a sweep that comes whole, however large
PNL_TABLES = 10  # strategies whose closed signals the report lists (the best, by the metric)
SYMBOLS_SUFFIX = (
    ".symbols"  # the across-symbols report: {walker}.symbols.md, beside {walker}.{SYMBOL}.md
)

log = logging.getLogger("btfarm.walker")
Symbols = str | Sequence[str]  # one symbol, or a list: one sweep per symbol


def symbol_list(symbol: Sequence[str], needed_by: str) -> list[str]:
    """The symbols of a list argument, checked: non-empty strings, none twice."""
    symbols = list(symbol)
    if not symbols or not all(isinstance(s, str) and s.strip() for s in symbols):
        raise UsageError(
            f"{needed_by}: symbol must be a symbol or a non-empty list of symbols, got {symbol!r}"
        )
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise UsageError(
            f"{needed_by}: symbol {', '.join(repeated)} is listed twice; list each once"
        )
    return symbols


class WalkerUtils(ExecutionClass[SweepTally | WalkForwardRun]):
    mode = "walker"

    def __init__(self) -> None:
        super().__init__()
        self.launcher = SweepLauncher(self, kinds=(SEARCH,))  # grid sweeps and searches start here

    def run(
        self, symbol: Symbols, walker_name: str, chunk_size: int | None = None
    ) -> Iterator[WalkerProgress]:
        """Progress after each variant; a second concurrent call joins the running one.
        With a list of symbols, the progress of every symbol's sweep, interleaved
        (``WalkerProgress.symbol`` says whose).

        Everything is checked (names, grids, the data's coverage on every symbol) and the
        sweeps started before this returns, so a mistake fails here, not at the first ``next``."""
        if not isinstance(symbol, str):
            return follow_all(
                [t for _, t in self._launch_many(symbol, walker_name, chunk_size, "Walker.run")]
            )
        _, task = self._launch(symbol, walker_name, chunk_size, "Walker.run")
        return task.follow()

    def background(
        self, symbol: Symbols, walker_name: str, chunk_size: int | None = None
    ) -> Callable[[], None]:
        """Run without blocking; errors go to ``listen_exit``. Returns a cancel function."""
        if not isinstance(symbol, str):
            cancels = [
                self._background(task, inst)
                for inst, task in self._launch_many(
                    symbol, walker_name, chunk_size, "Walker.background"
                )
            ]

            def cancel_all() -> None:
                for cancel in cancels:
                    cancel()

            return cancel_all
        inst, task = self._launch(symbol, walker_name, chunk_size, "Walker.background")
        return self._background(task, inst)

    def _launch_many(
        self, symbol: Sequence[str], walker_name: str, chunk_size: int | None, needed_by: str
    ) -> list[tuple[Instance, RunThread]]:
        """One sweep per symbol (``SweepLauncher.start_all``)."""
        symbols = symbol_list(symbol, needed_by)
        walker = get_walker(walker_name, needed_by)
        if walker.search is not None or walker.walk_forward is not None:
            kind = "search" if walker.search is not None else "walk-forward walker"
            raise UsageError(
                f"{needed_by}: walker {walker_name!r} is a {kind}, which runs on one symbol at a "
                "time (its variants differ per symbol, so they cannot be ranked across symbols); "
                f"run it once per symbol: {', '.join(symbols)}"
            )
        return self.launcher.start_all([(s, walker_name) for s in symbols], chunk_size, needed_by)

    def _launch_walk_forward(
        self, inst: Instance, walker, chunk_size: int | None, needed_by: str
    ) -> tuple[Instance, RunThread]:
        """Every window's training sweep started together, then the run that tests the winners."""
        windows = window_walkers(walker)
        register_windows(walker, windows)
        launched = self.launcher.start_all(
            [(inst.symbol, name) for name, _, _ in windows], chunk_size, needed_by
        )
        run = WalkForwardRun(walker, inst.symbol, windows)
        inst.data = run
        context = {"exchange_name": walker.exchange_name, "frame_name": walker.frame_name}
        tasks = [task for _, task in launched]
        return inst, self.start_or_join(
            inst,
            context,
            lambda i, t: run_walk_forward(self._window_data, run, tasks, t, i.stop_event.is_set),
        )

    def _window_data(self, symbol: str, window_walker: str) -> WalkerData:
        """A walk-forward window's training sweep (or search), as Walker.get_data gives it."""
        return self.launcher.tally(symbol, window_walker, "Walker.run").data()

    def resume(self, run_id: str) -> Iterator[WalkerProgress]:
        """Finish the sweep ``run_id`` (an interrupted one, or one whose orchestrator
        died): stored results are read back, only variants without one run.
        Progress covers every variant, the read-back ones first."""
        _, task = self.launcher.resume(run_id)
        return task.follow()

    def export(self, run_id: str, path) -> tuple:
        """Write stored sweep ``run_id`` as a table (.parquet or .csv), from Redis: any
        finished (or interrupted) run, from any process; returns (path, rows)."""
        from btfarm.orchestrator.sweeps.export import export

        return export(run_id, path)

    def plan_of(self, run_id: str) -> SweepPlan:
        """The stored plan of sweep ``run_id`` (NotFoundError when Redis has none)."""
        return sweep_plan.read_plan(state(), run_id)

    def wait(self, symbol: Symbols, walker_name: str, timeout: float | None = None) -> bool:
        """Block until the instance's run ends (every symbol's, given a list); True when it has."""
        if not isinstance(symbol, str):
            return all(
                [self.wait(s, walker_name, timeout) for s in symbol_list(symbol, "Walker.wait")]
            )
        inst = self.instance(symbol, walker_name)
        return inst.task is None or inst.task.wait(timeout)

    def stop(self, symbol: Symbols, name: str) -> None:
        """Ask the run to stop (every symbol's, given a list), here or in any other process."""
        for s in [symbol] if isinstance(symbol, str) else symbol_list(symbol, "Walker.stop"):
            super().stop(s, name)
            super().stop(
                s, trials_walker(name)
            )  # a search's running batch (a harmless flag otherwise)
            for window in self._windows_of(name):  # a walk-forward walker's training sweeps
                super().stop(s, window)

    @staticmethod
    def _windows_of(name: str) -> list[str]:
        """The training walkers of walk-forward walker ``name`` (none for another walker, or
        one this process does not know)."""
        try:
            walker = get_walker(name, "Walker.stop")
            return (
                [n for n, _, _ in window_walkers(walker)] if walker.walk_forward is not None else []
            )
        except BtfarmError:
            return []

    def _launch(
        self, symbol: str, walker_name: str, chunk_size: int | None, needed_by: str
    ) -> tuple[Instance, RunThread]:
        inst = self.instance(symbol, walker_name)
        running = inst.task
        if running is not None and not running.finished:  # this process runs it: join
            return inst, running
        walker = get_walker(walker_name, needed_by)
        if walker.walk_forward is not None:
            return self._launch_walk_forward(inst, walker, chunk_size, needed_by)
        # another process runs it: refused (by its claim), naming its run id
        return self.launcher.start(symbol, walker_name, chunk_size, needed_by)

    # ---- results ---------------------------------------------------------

    def get_data(
        self, symbol: Symbols, walker_name: str, top: int = TOP
    ) -> WalkerData | SymbolsData | WalkForwardData:
        """The ranked result; given a list of symbols, each one's and the ranking across them;
        for a walk-forward walker, its windows (walk_forward/run.py).

        A sweep of at most ``top`` variants (1,000 by default) comes back whole, every ranked
        variant in ``strategies``. A larger one comes back as its best ``top`` ranked variants
        in ``strategies`` and every variant as columns in ``data.table``
        (results/ranked_data.py); ``to_frame()`` builds the whole table from those. Given a list
        of symbols, each symbol's sweep comes whole: the ranking across them reads every
        variant of each."""
        top = checked_top(top, "Walker.get_data")
        if not isinstance(symbol, str):
            return self._symbols_data(symbol, walker_name)
        walk_forward = self._walk_forward_run(symbol, walker_name)
        if walk_forward is not None:
            return walk_forward.data()
        return ranked_data(self.launcher.tally(symbol, walker_name, "Walker.get_data"), top)

    def _symbols_data(self, symbol: Sequence[str], walker_name: str) -> SymbolsData:
        """Each symbol's sweep and the ranking across them, which reads every variant of each:
        each sweep comes whole."""
        return symbols_data(
            walker_name,
            {
                s: ranked_data(self.launcher.tally(s, walker_name, "Walker.get_data"), WHOLE)
                for s in symbol_list(symbol, "Walker.get_data")
            },
        )

    def _walk_forward_run(self, symbol: str, walker_name: str) -> WalkForwardRun | None:
        """The walk-forward run of ``walker_name`` on ``symbol`` in this process, if it is one."""
        data = self.instance(symbol, walker_name).data
        return data if isinstance(data, WalkForwardRun) else None

    def get_report(
        self,
        symbol: Symbols,
        walker_name: str,
        columns: Sequence[Any] | None = None,
        pnl_columns: Sequence[Any] | None = None,
        top_n: int | None = None,
    ) -> str:
        """The markdown report; given a list of symbols, the ranking across them and a line
        per symbol (``dump`` writes each symbol's own report beside it)."""
        if not isinstance(symbol, str):
            return render_walker_symbols(self._symbols_data(symbol, walker_name), top_n=top_n)
        walk_forward = self._walk_forward_run(symbol, walker_name)
        if walk_forward is not None:
            return render_walk_forward(walk_forward.data())
        sweep = self.launcher.tally(symbol, walker_name, "Walker.get_report")
        return self._report(sweep, columns, pnl_columns, top_n)[0]

    def _report(
        self, sweep: SweepTally, columns, pnl_columns, top_n, stem: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """The markdown and, with ``stem``, the pictures named after it."""
        data = ranked_data(sweep)
        shown = data.strategies[: min(top_n or PNL_TABLES, PNL_TABLES)]
        closed, recomputed = sweep.closed_for([s.strategy_name for s in shown])
        files, links = walker_pictures(stem, data, sweep.variants, closed) if stem else ({}, [])
        report = render_walker(data, closed, columns, pnl_columns, top_n, recomputed, links)
        return report, files

    def dump(
        self,
        symbol: str,
        walker_name: str,
        path: str | Path | None = None,
        columns: Sequence[Any] | None = None,
        pnl_columns: Sequence[Any] | None = None,
        top_n: int | None = None,
        formats: Sequence[str] = FORMATS,
    ) -> Path:
        """Write the report, its pictures (a heatmap per pair of swept parameters, the
        metric's distribution, the best equity curves) and its HTML twin; default
        ``./dump/walker/{walker_name}.md``. Given a list of symbols, the ranking across them goes
        to ``{walker_name}.symbols.md`` (default) and links each symbol's own report,
        ``{walker_name}.{SYMBOL}.md`` beside it: the one-symbol report of the same walker
        (``{walker_name}.md``) is never overwritten."""
        if not isinstance(symbol, str):
            return self._dump_symbols(
                symbol, walker_name, path, columns, pnl_columns, top_n, formats
            )
        walk_forward = self._walk_forward_run(symbol, walker_name)
        if walk_forward is not None:
            return dump_bundle(
                lambda stem: walk_forward_bundle(walk_forward, stem),
                "walker",
                walker_name,
                path,
                formats,
            )
        sweep = self.launcher.tally(symbol, walker_name, "Walker.dump")
        return dump_bundle(
            lambda stem: self._report(sweep, columns, pnl_columns, top_n, stem),
            "walker",
            walker_name,
            path,
            formats,
        )

    def _dump_symbols(
        self, symbol: Sequence[str], walker_name: str, path, columns, pnl_columns, top_n, formats
    ) -> Path:
        symbols = symbol_list(symbol, "Walker.dump")
        data = self._symbols_data(symbols, walker_name)
        target = report_path(
            "walker",
            walker_name,
            path if path is not None else Path("walker") / f"{walker_name}{SYMBOLS_SUFFIX}.md",
        )
        stem = target.stem.removesuffix(SYMBOLS_SUFFIX) if path is None else target.stem
        links = {}
        for s in symbols:
            own = target.parent / f"{stem}.{file_part(s)}.md"
            written = self.dump(s, walker_name, own, columns, pnl_columns, top_n, formats)
            links[s] = written.name
        return dump_bundle(
            lambda stem: (render_walker_symbols(data, links, top_n), {}),
            "walker",
            walker_name,
            target,
            formats,
        )


Walker = WalkerUtils()

"""``Performance``: how long the engine's steps take for one ``symbol:strategy``, by
kind of step (backtest-kit's ``Performance`` report, ``PerformanceMarkdownService``;
issue 32, 3). Its figures: performance_stats.py.

The kinds of step (``metric_type``), measured at the run's boundaries:
- ``backtest_total``: a whole ``Backtest.run``, from its first candle to its end;
- ``backtest_get_signal`` / ``live_get_signal``: each call of the strategy's ``get_signal``;
- ``live_tick``: each tick of ``Live`` that ran the strategy (its ``get_signal`` included).
backtest-kit's ``backtest_timeframe`` and ``backtest_signal`` are steps inside btfarm's
compiled walk, which is not timed (a clock read per candle would cost more than the step).

Nothing is timed until ``Performance.enable()``: a run started then gets a ``RunProbe``
(``probe``), which wraps its strategy's ``get_signal`` in a timer; a run started before
it, or after ``disable()``, is not wrapped and pays nothing. A backtest's timings are
kept in this process, every step of the latest run of each ``symbol:strategy``; a live
run's go, a tick at a time, to the persisted log ``keys.report_performance`` (the newest
``REPORT_LOG_MAX_ROWS`` steps), which every process reads (``backtest=False``).
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict

from btfarm.shared.errors import UsageError
from btfarm.shared.store import keys

from ..reports import _format as fmt
from ..reports.columns import Column, resolve_columns
from ..reports.render import _render, _table
from . import live_log
from .keyed_report import KeyedReport
from .performance_stats import MetricStats, performance_figures


class PerformanceEvent(BaseModel):
    """One timed step of a live run, as its log keeps it (backtest-kit's ``PerformanceContract``)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: int  # ms, wall clock: when the step started
    metric_type: str
    duration: float  # ms
    wait: float | None = None  # ms from the end of the previous step of this kind; None: the first
    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    backtest: bool


class PerformanceData(BaseModel):
    """What ``Performance.get_data`` returns (backtest-kit's ``PerformanceStatisticsModel``)."""

    symbol: str
    strategy_name: str
    backtest: bool
    total_events: int  # steps timed, of every kind
    total_duration: float  # ms, the sum over every kind (kinds nest: a tick holds its get_signal)
    metrics: list[MetricStats]  # one per kind of step, the most total time first


class RunProbe:
    """The timings of one run: ``step`` times a block, ``wrap`` a strategy's ``get_signal``.
    ``clock`` gives seconds (``time.perf_counter``; a test injects its own)."""

    def __init__(
        self,
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        frame_name: str,
        backtest: bool,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.symbol, self.strategy_name = symbol, strategy_name
        self.exchange_name, self.frame_name, self.backtest = exchange_name, frame_name, backtest
        self.clock = clock
        self.timings: dict[str, tuple[array, array]] = {}  # metric -> (durations, waits), ms
        self._ends: dict[str, float] = {}
        self.pending: list[PerformanceEvent] = []  # a live run's steps not yet in its log

    def record(self, metric: str, start: float, end: float) -> None:
        """One step of kind ``metric`` from ``start`` to ``end`` (``clock`` seconds)."""
        timing = self.timings.get(metric)
        if timing is None:
            timing = self.timings[metric] = (array("d"), array("d"))
        duration = (end - start) * 1000.0
        timing[0].append(duration)
        previous = self._ends.get(metric)
        wait = None if previous is None else (start - previous) * 1000.0
        if wait is not None:
            timing[1].append(wait)
        self._ends[metric] = end
        if not self.backtest:
            self.pending.append(
                PerformanceEvent(
                    timestamp=int(time.time() * 1000 - duration),
                    metric_type=metric,
                    duration=duration,
                    wait=wait,
                    symbol=self.symbol,
                    strategy_name=self.strategy_name,
                    exchange_name=self.exchange_name,
                    frame_name=self.frame_name,
                    backtest=False,
                )
            )

    @contextmanager
    def step(self, metric: str) -> Iterator[None]:
        """Time the block as one step of kind ``metric`` (also when it raises)."""
        start = self.clock()
        try:
            yield
        finally:
            self.record(metric, start, self.clock())

    def wrap(self, strategy: Any) -> Any:
        """A copy of the strategy schema whose ``get_signal`` is timed (the schema itself when
        it has none: a vectorised ``get_signals`` is one call per run, inside the total)."""
        get_signal = getattr(strategy, "get_signal", None)
        if get_signal is None:
            return strategy
        metric = "backtest_get_signal" if self.backtest else "live_get_signal"
        clock, record = self.clock, self.record

        def timed_get_signal(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return get_signal(*args, **kwargs)
            finally:
                record(metric, start, clock())

        return strategy.model_copy(update={"get_signal": timed_get_signal})

    def flush(self) -> None:
        """Write a live run's pending steps to its log, in one round trip."""
        if self.pending:
            pending, self.pending = self.pending, []
            live_log.append_many(keys.report_performance(self.symbol, self.strategy_name), pending)


def _milliseconds(value: Any) -> str:
    return fmt.NA if fmt.is_missing(value) else f"{float(value):.3f}"


def _col(key: str, label: str) -> Column:
    return Column(key=key, label=label, format=lambda r: _milliseconds(r.get(key)))


# backtest-kit's performance_columns, in its order
DEFAULT_PERFORMANCE_COLUMNS: tuple[Column, ...] = (
    Column(key="metric_type", label="Metric Type", format=lambda r: fmt.text(r.get("metric_type"))),
    Column(key="count", label="Count", format=lambda r: fmt.integer(r.get("count"))),
    _col("total_duration", "Total (ms)"),
    _col("avg_duration", "Avg (ms)"),
    _col("min_duration", "Min (ms)"),
    _col("max_duration", "Max (ms)"),
    _col("std_dev", "Std Dev (ms)"),
    _col("median", "Median (ms)"),
    _col("p95", "P95 (ms)"),
    _col("p99", "P99 (ms)"),
    _col("avg_wait_time", "Avg Wait (ms)"),
    _col("min_wait_time", "Min Wait (ms)"),
    _col("max_wait_time", "Max Wait (ms)"),
)


def render_performance(
    data: PerformanceData, columns: Sequence[Column | Mapping[str, Any]] | None = None
) -> str:
    """The report: a row per kind of step (the most total time first), the totals, and each
    kind's share of the total time."""
    total = data.total_duration
    return _render(
        "performance.md.j2",
        symbol=fmt.inline(data.symbol),
        strategy_name=fmt.inline(data.strategy_name),
        mode=(
            "backtest (the latest run in this process)"
            if data.backtest
            else f"live (the persisted log: its newest {keys.REPORT_LOG_MAX_ROWS} steps)"
        ),
        total_events=data.total_events,
        total_duration=f"{total:.3f}",
        kinds=len(data.metrics),
        shares=[
            (
                fmt.cell(m.metric_type),
                f"{(m.total_duration / total * 100.0) if total > 0 else 0.0:.1f}",
                f"{m.total_duration:.3f}",
            )
            for m in data.metrics
        ],
        table=_table(
            resolve_columns(columns, DEFAULT_PERFORMANCE_COLUMNS, "performance"),
            [m.model_dump() for m in data.metrics],
        ),
    )


class PerformanceUtils(KeyedReport):
    """The ``Performance`` singleton: ``enable``, ``disable``, ``get_data``, ``get_report``, ``dump``."""

    owner, suffix = "Performance", "performance"

    def __init__(self) -> None:
        self.enabled = False
        self.clock: Callable[[], float] = time.perf_counter  # what new probes time with
        self._runs: dict[
            tuple[str, str], dict[str, tuple[array, array]]
        ] = {}  # the latest backtest's timings
        self._lock = threading.Lock()

    def enable(self) -> None:
        """Time the runs started from now on in this process. Idempotent."""
        self.enabled = True

    def disable(self) -> None:
        """Time no new run, and forget this process's backtest timings (the live log stays)."""
        self.enabled = False
        with self._lock:
            self._runs.clear()

    def probe(
        self, symbol: str, strategy_name: str, exchange_name: str, frame_name: str, backtest: bool
    ) -> RunProbe | None:
        """A new run's probe, or None when not enabled (the run then is not wrapped at all)."""
        if not self.enabled:
            return None
        return RunProbe(symbol, strategy_name, exchange_name, frame_name, backtest, self.clock)

    def finish(self, probe: RunProbe) -> None:
        """A backtest's probe at its run's end: its timings become the key's latest run."""
        with self._lock:
            self._runs[(probe.symbol, probe.strategy_name)] = probe.timings

    def require(self, needed_by: str) -> None:
        if not self.enabled:
            raise UsageError(
                f"{needed_by}: Performance is not enabled in this process, so it has timed no run; call "
                "Performance.enable() before the backtests it should time (backtest=False reads the live "
                "log, which needs no enable() in the reading process)"
            )

    def get_data(
        self, symbol: str, strategy_name: str, *, backtest: bool = True
    ) -> PerformanceData:
        """The timings of ``symbol:strategy_name`` by kind of step: of its latest backtest in this
        process (``backtest=True``, after ``enable()``), or of the live log (``backtest=False``)."""
        if self.checked(symbol, strategy_name, backtest, "Performance.get_data"):
            with self._lock:
                timings = dict(self._runs.get((symbol, strategy_name), {}))
        else:
            timings = {}
            for event in live_log.read(
                keys.report_performance(symbol, strategy_name), PerformanceEvent
            ):
                durations, waits = timings.setdefault(event.metric_type, (array("d"), array("d")))
                durations.append(event.duration)
                if event.wait is not None:
                    waits.append(event.wait)
        return PerformanceData(
            symbol=symbol,
            strategy_name=strategy_name,
            backtest=backtest,
            **performance_figures(timings),
        )

    render = staticmethod(render_performance)


Performance = PerformanceUtils()

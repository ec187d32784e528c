"""orchestrator/reporting/performance.py and performance_stats.py: the figures of known
durations, the probe on an injected clock, the rows sorted by total time, and a backtest
with ``Performance`` enabled: the same results, one total and one timed step per
``get_signal`` call; not enabled, the strategy is not wrapped at all."""

from __future__ import annotations

import math

import pytest

from btfarm.orchestrator import Backtest, Performance, PerformanceData, add_strategy
from btfarm.orchestrator.reporting.performance import DEFAULT_PERFORMANCE_COLUMNS, RunProbe
from btfarm.orchestrator.reporting.performance_stats import (
    by_total,
    metric_stats,
    performance_figures,
)
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.errors import UsageError
from btfarm.shared.schemas import StrategySchema
from btfarm.shared.settings import get_settings
from tests.support import managed_backtest as mb

pytestmark = pytest.mark.unit


def test_the_figures_of_known_durations():
    stats = metric_stats("backtest_get_signal", [4.0, 1.0, 10.0, 3.0, 2.0], [1.5, 0.5])
    assert (stats.count, stats.total_duration, stats.avg_duration) == (5, 20.0, 4.0)
    assert (stats.min_duration, stats.max_duration, stats.median) == (1.0, 10.0, 3.0)
    # deviations -3 -2 -1 0 6: squares sum to 50, over n - 1 = 4
    assert stats.std_dev == pytest.approx(math.sqrt(12.5))
    # sorted 1 2 3 4 10: p95 at rank 0.95 * 4 = 3.8 -> 4 + 0.8 * 6; p99 at 3.96 -> 4 + 0.96 * 6
    assert stats.p95 == pytest.approx(8.8) and stats.p99 == pytest.approx(9.76)
    assert (stats.avg_wait_time, stats.min_wait_time, stats.max_wait_time) == (1.0, 0.5, 1.5)


def test_a_single_step_has_no_spread_and_no_wait():
    stats = metric_stats("backtest_total", [7.0])
    assert (stats.std_dev, stats.median, stats.p95, stats.p99) == (0.0, 7.0, 7.0, 7.0)
    assert stats.avg_wait_time is stats.min_wait_time is stats.max_wait_time is None


def test_rows_are_sorted_by_total_time_the_bottleneck_first():
    figures = performance_figures(
        {
            "live_get_signal": ([1.0, 1.0, 1.0], []),
            "live_tick": ([2.0, 2.5], [60.0]),
            "backtest_total": ([4.0], []),
            "empty": ([], []),
        }
    )
    assert [m.metric_type for m in figures["metrics"]] == [
        "live_tick",
        "backtest_total",
        "live_get_signal",
    ]
    assert (figures["total_events"], figures["total_duration"]) == (6, 11.5)
    tied = by_total([metric_stats("b", [1.0]), metric_stats("a", [1.0])])
    assert [m.metric_type for m in tied] == ["a", "b"]  # a tie in name order


class FakeClock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_probe_times_steps_and_waits_on_its_clock():
    clock = FakeClock()
    probe = RunProbe("X", "s", "e", "f", backtest=True, clock=clock)

    def get_signal(symbol, when):
        clock.now += 0.002  # the strategy takes 2 ms
        return {"asked": symbol}

    strategy = StrategySchema(strategy_name="s", interval="5m", get_signal=get_signal)
    timed = probe.wrap(strategy)
    assert (
        strategy.get_signal is get_signal
    )  # a copy is wrapped, the registered schema is left alone
    assert timed.get_signal("X", None) == {"asked": "X"}
    clock.now += 0.010  # 10 ms between the calls
    timed.get_signal("X", None)
    with probe.step("backtest_total"):
        clock.now += 0.5
    durations, waits = probe.timings["backtest_get_signal"]
    assert list(durations) == pytest.approx([2.0, 2.0]) and list(waits) == pytest.approx([10.0])
    assert list(probe.timings["backtest_total"][0]) == pytest.approx([500.0])
    assert probe.pending == []  # a backtest's steps stay in this process


@pytest.fixture
def sim(tmp_path, monkeypatch):
    monkeypatch.setenv("BTFARM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BTFARM_DUMP_DIR", str(tmp_path / "dump"))
    get_settings.cache_clear()
    reset_state()
    for stop in mb.register()[1]:  # only the schemas: no level listeners
        stop()
    calls = []

    def counted(symbol, when):
        calls.append(when)
        return mb.get_signal(symbol, when)

    add_strategy(strategy_name="perf-plain", interval="5m", get_signal=counted, override=True)
    yield calls, counted
    Performance.disable()
    get_settings.cache_clear()
    reset_state()


def run() -> list:
    return [c.model_dump() for c in Backtest.run(mb.SYMBOL, "perf-plain", mb.EXCHANGE, mb.FRAME)]


def test_enabling_it_changes_no_result_and_times_each_get_signal_call(sim):
    calls, counted = sim
    plain = run()
    assert (
        Backtest.instance(mb.SYMBOL, "perf-plain").data.strategy.get_signal is counted
    )  # not wrapped
    asked = len(calls)
    Performance.enable()
    timed = run()
    assert (
        timed == plain and len(plain) > 10 and len(calls) == 2 * asked
    )  # the same run, the same calls
    data = Performance.get_data(mb.SYMBOL, "perf-plain")
    assert isinstance(data, PerformanceData) and data.backtest
    rows = {m.metric_type: m for m in data.metrics}
    assert [m.metric_type for m in data.metrics] == [
        "backtest_total",
        "backtest_get_signal",
    ]  # the total holds the calls
    assert rows["backtest_total"].count == 1 and rows["backtest_get_signal"].count == asked
    assert rows["backtest_get_signal"].total_duration < rows["backtest_total"].total_duration
    assert (
        rows["backtest_get_signal"].min_wait_time >= 0
        and rows["backtest_total"].avg_wait_time is None
    )
    assert data.total_events == asked + 1

    report = Performance.get_report(mb.SYMBOL, "perf-plain")
    assert "| " + " | ".join(c.label for c in DEFAULT_PERFORMANCE_COLUMNS) + " |" in report
    assert report.index("| backtest_total |") < report.index("| backtest_get_signal |")
    path = Performance.dump(mb.SYMBOL, "perf-plain")
    assert path.name == "perf-plain.performance.md" and path.with_suffix(".html").exists()

    Performance.disable()
    assert run() == plain
    assert Backtest.instance(mb.SYMBOL, "perf-plain").data.strategy.get_signal is counted
    with pytest.raises(UsageError, match=r"Performance\.enable\(\)"):
        Performance.get_data(mb.SYMBOL, "perf-plain")

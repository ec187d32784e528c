"""The seed's reporting classes beside the execution classes: ``Risk`` (every
rejection), ``Schedule`` (limit entries, their rates and waits), ``Heat`` (one
strategy across symbols), ``Partial`` (every partial close) and ``Performance`` (the
engine's timings by kind of step). What users import, also from ``btfarm.orchestrator``.

    from btfarm.orchestrator import Backtest, Schedule
    Schedule.enable()  # before the runs it should report
    list(Backtest.run("BTCUSDT", "limit-dip", "binance", "jan-2025"))
    print(Schedule.get_report("BTCUSDT", "limit-dip"))
"""

from .heat import Heat, HeatData, HeatRow
from .partial_closes import Partial, PartialData, PartialEvent
from .performance import Performance, PerformanceData, PerformanceEvent
from .performance_stats import MetricStats
from .risk_rejections import Risk, RiskData, RiskEvent
from .scheduled_entries import Schedule, ScheduleData, ScheduledEvent

__all__ = [
    "Heat",
    "HeatData",
    "HeatRow",
    "MetricStats",
    "Partial",
    "PartialData",
    "PartialEvent",
    "Performance",
    "PerformanceData",
    "PerformanceEvent",
    "Risk",
    "RiskData",
    "RiskEvent",
    "Schedule",
    "ScheduleData",
    "ScheduledEvent",
]

"""The figures of ``Performance``: for one kind of timed step, the count, total, mean,
min, max, sample standard deviation, median, p95 and p99 of its durations and the mean,
min and max of the waits between steps (backtest-kit's ``MetricStats``); all in
milliseconds. Pure functions of the timings, so they are checked on known numbers.

- std: sample standard deviation (n - 1), 0 for a single step.
- median, p95, p99: linear interpolation between adjacent ranks (``numpy.percentile``'s
  default, as backtest-kit's ``percentile``).
- wait: from the end of a step to the start of the next step of the same kind
  (backtest-kit measures from the previous step's timestamp); None when no step of the
  kind had one before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from btfarm.shared.errors import UsageError


class MetricStats(BaseModel):
    """The figures of one kind of step (``metric_type``), milliseconds."""

    metric_type: str
    count: int
    total_duration: float
    avg_duration: float
    min_duration: float
    max_duration: float
    std_dev: float
    median: float
    p95: float
    p99: float
    avg_wait_time: float | None
    min_wait_time: float | None
    max_wait_time: float | None


def metric_stats(
    metric_type: str, durations: Sequence[float], waits: Sequence[float] = ()
) -> MetricStats:
    """The figures of one kind of step from its durations and waits (ms, any order)."""
    if len(durations) == 0:
        raise UsageError(
            f"metric_stats({metric_type!r}): no durations to summarise; pass at least one"
        )
    d = np.asarray(durations, dtype=float)
    w = np.asarray(waits, dtype=float)
    p50, p95, p99 = (float(v) for v in np.percentile(d, [50, 95, 99]))
    return MetricStats(
        metric_type=metric_type,
        count=int(d.size),
        total_duration=float(d.sum()),
        avg_duration=float(d.mean()),
        min_duration=float(d.min()),
        max_duration=float(d.max()),
        std_dev=float(d.std(ddof=1)) if d.size > 1 else 0.0,
        median=p50,
        p95=p95,
        p99=p99,
        avg_wait_time=float(w.mean()) if w.size else None,
        min_wait_time=float(w.min()) if w.size else None,
        max_wait_time=float(w.max()) if w.size else None,
    )


def by_total(stats: Iterable[MetricStats]) -> list[MetricStats]:
    """The kinds of step, the most total time first (the bottleneck on top); ties by name."""
    return sorted(stats, key=lambda s: (-s.total_duration, s.metric_type))


def performance_figures(timings: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> dict:
    """``metrics`` (sorted by total), ``total_events`` and ``total_duration`` of the timings
    ``{metric_type: (durations, waits)}``."""
    metrics = by_total(
        metric_stats(name, durations, waits)
        for name, (durations, waits) in timings.items()
        if len(durations)
    )
    return {
        "metrics": metrics,
        "total_events": sum(m.count for m in metrics),
        "total_duration": sum(m.total_duration for m in metrics),
    }

"""Ranking strategies by a walker metric (SEMANTICS.md section 5).

Every metric is maximised. A strategy whose metric is None (or NaN) never
beats one with a value, and on a tie the strategy listed first wins, so the
order never depends on which worker finished first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from .errors import SchemaError, did_you_mean
from .schemas import METRICS

Stats = TypeVar("Stats", Mapping[str, Any], BaseModel)


def metric_value(stats: Mapping[str, Any] | BaseModel | None, metric: str) -> float | None:
    """The metric of one strategy's statistics (a dict or a model); None if absent or not finite."""
    if stats is None:
        return None
    value = stats.get(metric) if isinstance(stats, Mapping) else getattr(stats, metric, None)
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def rank(entries: list[tuple[str, Stats]], metric: str) -> list[tuple[str, Stats]]:
    """``(name, stats)`` pairs best first by ``metric``; stable, None last.

    ``stats`` may be a dict or a ``BacktestStatistics``; the pairs come back
    unchanged, only reordered.
    """
    if metric not in METRICS:
        raise SchemaError(
            f"cannot rank by metric {metric!r}; use one of {', '.join(METRICS)}."
            + did_you_mean(str(metric), METRICS)
        )

    def key(entry: tuple[str, Stats]) -> tuple[bool, float]:
        value = metric_value(entry[1], metric)
        return (value is None, 0.0 if value is None else -value)

    return sorted(entries, key=key)

"""Rich output shared by the CLI commands: progress bars and summary tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

SUMMARY_STATS = (  # (field, label) shown in the one-line-per-strategy summary
    ("total_signals", "Signals"),
    ("win_rate", "Win %"),
    ("total_pnl", "Total PnL %"),
    ("avg_pnl", "Avg PnL %"),
    ("sharpe_ratio", "Sharpe"),
    ("max_drawdown", "Max DD %"),
    ("rejected_signals", "Rejected"),
)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=False)


def _cell(value: Any) -> str:
    if value is None:
        return "N/A"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def summary_table(title: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> Table:
    """One row per strategy; names are never cut (a sweep's variants differ only at the
    end of their names): the name column keeps its width, numbers wrap instead."""
    rows = list(rows)
    table = Table(title=title)
    table.add_column("Strategy", no_wrap=True, min_width=max((len(n) for n, _ in rows), default=8))
    for _, label in SUMMARY_STATS:
        table.add_column(label, justify="right", overflow="fold")
    for name, stats in rows:
        table.add_row(name, *(_cell(stats.get(key)) for key, _ in SUMMARY_STATS))
    return table


def status_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="btfarm instances")
    for column in ("mode", "id", "symbol", "name", "status", "progress", "host", "pid"):
        table.add_column(column)
    for row in rows:
        status = str(row.get("status"))
        if status == "done" and row.get("outcome") not in (None, "", "done"):
            status = str(row["outcome"])  # stopped, interrupted, failed: never shown as done
        status += " (crashed)" if row.get("crashed") else ""
        table.add_row(str(row.get("mode")), str(row.get("id")), str(row.get("symbol")), str(row.get("name")),
                      status, f"{float(row.get('progress', 0)) * 100:.0f}%", str(row.get("host")),
                      str(row.get("pid")))
    return table

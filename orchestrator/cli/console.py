"""Rich output shared by the CLI commands: progress bars and summary tables, and
``printable``, through which every name and message not written by btfarm itself
(read from Redis, raised by a strategy, typed by a user) reaches the terminal."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

# C0 and C1 control characters (ESC starts the terminal's colour, cursor, title and
# hyperlink sequences), DEL, and the invisible marks that reorder or break a line
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def printable(value: object, *, markup: bool = True) -> str:
    """``value`` as text for a terminal line: each control character written as its
    Python escape (ESC as ``\\x1b``, a line break as ``\\n``), so a name or message cannot
    recolour, move, retitle or clear the terminal, nor forge a line. With ``markup`` (for a
    string rich parses, as ``console.print`` does) rich's markup is escaped too; without
    (for a ``Text``, a table cell built from one, or ``markup=False``) it is left as is."""
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))
    return escape(text) if markup else text


SUMMARY_STATS = (  # (field, label) shown in the one-line-per-strategy summary
    ("total_signals", "Signals"),
    ("win_rate", "Win %"),
    ("total_pnl", "PnL %"),
    ("avg_pnl", "Avg %"),
    ("sharpe_ratio", "Sharpe"),
    ("max_drawdown", "DD %"),
    ("rejected_signals", "Rejected"),
)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


def _cell(value: Any) -> str:
    if value is None:
        return "N/A"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class _Summary:
    """One row per strategy; a name is never cut (a sweep's variants differ only at the end
    of their names). When the names and the numbers do not fit the terminal side by side,
    rows are numbered and the names listed in full below the table."""

    NUMBERS_WIDTH = 9 * len(SUMMARY_STATS) + 4  # what the statistic columns and borders need

    def __init__(self, title: str, rows: list[tuple[str, Mapping[str, Any]]]) -> None:
        self.title = title
        self.rows = [(printable(name, markup=False), stats) for name, stats in rows]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        longest = max((len(name) for name, _ in self.rows), default=8)
        legend = longest + self.NUMBERS_WIDTH > options.max_width
        table = Table(title=self.title)
        table.add_column(
            "#" if legend else "Strategy",
            no_wrap=True,
            min_width=None if legend else max(longest, 8),
        )
        for _, label in SUMMARY_STATS:
            table.add_column(label, justify="right", no_wrap=True)
        for index, (name, stats) in enumerate(self.rows, start=1):
            table.add_row(
                str(index) if legend else Text(name),
                *(_cell(stats.get(key)) for key, _ in SUMMARY_STATS),
            )
        yield table
        if legend:
            for index, (name, _) in enumerate(self.rows, start=1):
                yield Text(
                    f"{index:>3}  {name}", overflow="fold"
                )  # folds, whole, if wider than the terminal


def summary_table(title: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> _Summary:
    """The summary of strategies for ``console.print``: ``title`` is markup (pass names in
    it through ``printable``); the rows' names are plain text, shown ``printable``."""
    return _Summary(title, list(rows))


class _Status:
    """Every instance as a table row; when the ids and names would not fit the terminal,
    one line per instance instead (``btfarm stop`` and ``resume`` take them whole)."""

    COLUMNS = ("mode", "id", "symbol", "name", "status", "progress", "host", "pid")

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [self._cells(row) for row in rows]

    @staticmethod
    def _cells(row: dict[str, Any]) -> dict[str, str]:
        status = str(row.get("status"))
        if status == "done" and row.get("outcome") not in (None, "", "done"):
            status = str(row["outcome"])  # stopped, interrupted, failed: never shown as done
        status += " (crashed)" if row.get("crashed") else ""
        cells = {
            "mode": row.get("mode"),
            "id": row.get("id"),
            "symbol": row.get("symbol"),
            "name": row.get("name"),
            "status": status,
            "progress": f"{float(row.get('progress', 0)) * 100:.0f}%",
            "host": row.get("host"),
            "pid": row.get("pid"),
        }
        return {column: printable(value, markup=False) for column, value in cells.items()}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = {c: max([len(c), *(len(r[c]) for r in self.rows)]) for c in self.COLUMNS}
        if sum(widths.values()) + 3 * len(self.COLUMNS) + 1 > options.max_width:
            yield Text("btfarm instances", style="italic")
            for r in self.rows:  # a name wider than the terminal folds onto the next line, whole
                yield Text(
                    f"{r['mode']} {r['id']} {r['symbol']}: {r['status']}, {r['progress']}, "
                    f"{r['host']} pid {r['pid']}"
                )
                yield Text(f"  {r['name']}", overflow="fold")
            return
        table = Table(title="btfarm instances")
        for column in self.COLUMNS:
            table.add_column(column, no_wrap=True)
        for r in self.rows:
            table.add_row(*(Text(r[c]) for c in self.COLUMNS))
        yield table


def status_table(rows: list[dict[str, Any]]) -> _Status:
    return _Status(rows)

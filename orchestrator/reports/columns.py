"""Report table columns: what each shows and how it is written.

A column is ``key``, ``label``, ``format(row) -> str`` and ``is_visible() ->
bool``. Callers may pass ``Column`` objects or dicts with the same keys
(``is_visible`` optional); ``resolve_columns`` checks them and names the bad one.

Rows each table formats:
- backtest and walker PnL tables: a closed result dict (``ClosedResult.model_dump()``);
- live table: any tick event dict (``action`` plus what that kind carries);
- a managed trade's cells (``managed_cells``): its entries, partial closes and level moves
  (SEMANTICS 9), shown by ``backtest_columns`` and ``live_columns`` when some row has them;
- walker comparison table: ``{"rank", "strategy_name", "metric", "metric_value",
  "stats", "is_best"}`` with ``stats`` a statistics dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from btfarm.shared.errors import ReportError

from . import _format as fmt

Row = Mapping[str, Any]


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Column:
    key: str  # unique within a table
    label: str  # the header
    format: Callable[[Row], str]  # the cell text of one row
    is_visible: Callable[[], bool] = _always  # False hides the column


_FIELDS = ("key", "label", "format", "is_visible")


def _dig(row: Row, *path: str) -> Any:
    """``row[a][b]...`` or None when any step is missing."""
    value: Any = row
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _duration(row: Row) -> str:
    start, end = _dig(row, "signal", "pending_at"), _dig(row, "close_timestamp")
    if fmt.is_missing(start) or fmt.is_missing(end):
        return fmt.NA
    return fmt.duration((end - start) / fmt.MS_PER_MINUTE)


def _reason(row: Row) -> str:
    reason = _dig(row, "close_reason") or _dig(row, "cancel_reason")
    return fmt.text(reason) if reason is not None else ""


def _col(key: str, label: str, format: Callable[[Row], str]) -> Column:
    return Column(key=key, label=label, format=format)


SIGNAL_ID = _col("signal_id", "Signal ID", lambda r: fmt.text(_dig(r, "signal", "id")))
SYMBOL = _col("symbol", "Symbol", lambda r: fmt.text(_dig(r, "symbol")))
POSITION = _col("position", "Position", lambda r: fmt.text(_dig(r, "signal", "position")))
OPEN_PRICE = _col("price_open", "Open Price", lambda r: fmt.price(_dig(r, "signal", "price_open")))
TAKE_PROFIT = _col(
    "price_take_profit", "Take Profit", lambda r: fmt.price(_dig(r, "signal", "price_take_profit"))
)
STOP_LOSS = _col(
    "price_stop_loss", "Stop Loss", lambda r: fmt.price(_dig(r, "signal", "price_stop_loss"))
)
CLOSE_PRICE = _col("price_close", "Close Price", lambda r: fmt.price(_dig(r, "pnl", "price_close")))
PNL = _col("pnl", "PNL %", lambda r: fmt.percent(_dig(r, "pnl", "pnl_percentage"), signed=True))
CLOSE_REASON = _col("close_reason", "Close Reason", lambda r: fmt.text(_dig(r, "close_reason")))
OPEN_TIME = _col("open_time", "Open Time", lambda r: fmt.timestamp(_dig(r, "signal", "pending_at")))
CLOSE_TIME = _col("close_time", "Close Time", lambda r: fmt.timestamp(_dig(r, "close_timestamp")))
DURATION = _col("duration", "Duration", _duration)
NOTE = _col("note", "Note", lambda r: fmt.text(_dig(r, "signal", "note")))

DEFAULT_BACKTEST_COLUMNS: tuple[Column, ...] = (
    SIGNAL_ID,
    SYMBOL,
    POSITION,
    OPEN_PRICE,
    TAKE_PROFIT,
    STOP_LOSS,
    CLOSE_PRICE,
    PNL,
    CLOSE_REASON,
    OPEN_TIME,
    CLOSE_TIME,
    DURATION,
    NOTE,
)

DEFAULT_LIVE_COLUMNS: tuple[Column, ...] = (
    _col("action", "Action", lambda r: fmt.text(_dig(r, "action"))),
    _col("time", "Time", lambda r: fmt.timestamp(_dig(r, "timestamp"))),
    SIGNAL_ID,
    SYMBOL,
    POSITION,
    _col("current_price", "Current Price", lambda r: fmt.price(_dig(r, "current_price"))),
    OPEN_PRICE,
    TAKE_PROFIT,
    STOP_LOSS,
    PNL,
    _col("reason", "Reason", _reason),
    NOTE,
)


def managed_cells(row: Row) -> tuple[str, str, str]:
    """A managed trade's entries (when it averaged in), partial closes and the moves of its
    stop and take profit (SEMANTICS 9), each compact; empty strings for a plain trade (or a
    row without a signal)."""
    sig = _dig(row, "signal") or {}
    entries, partials = sig.get("entries") or [], sig.get("partials") or []
    added = ", ".join(fmt.price(e["price"]) for e in entries) if len(entries) > 1 else ""
    closes = "; ".join(
        f"{q['type']} {q['percent']:g}% at {fmt.price(q['current_price'])}" for q in partials
    )
    moves = []
    for label, key in (("SL", "price_stop_loss"), ("TP", "price_take_profit")):
        first, now = sig.get(f"original_{key}"), sig.get(key)
        if first is not None and now is not None and first != now:
            moves.append(f"{label} {fmt.price(first)} -> {fmt.price(now)}")
    return added, closes, ", ".join(moves)


def is_managed(row: Row) -> bool:
    """True when a commit left a mark on the row's trade: an added entry, a partial close or
    a moved stop or take profit."""
    return any(managed_cells(row))


MANAGED_LABELS = (
    ("entries", "Entries"),
    ("partials", "Partial closes"),
    ("level_moves", "Level moves"),
)


def with_managed_columns(default: Sequence[Column], rows: Sequence[Row]) -> tuple[Column, ...]:
    """``default`` then Entries, Partial closes and Level moves (``managed_cells``), the three
    shown only when some row was managed: a plain run's table is the default one."""
    managed = any(is_managed(r) for r in rows)

    def cell(k: int) -> Callable[[Row], str]:
        return lambda r: managed_cells(r)[k]

    extra = tuple(
        Column(key, label, cell(k), lambda: managed)
        for k, (key, label) in enumerate(MANAGED_LABELS)
    )
    return (*default, *extra)


def backtest_columns(rows: Sequence[Row]) -> tuple[Column, ...]:
    """The backtest report's default columns for these closed results."""
    return with_managed_columns(DEFAULT_BACKTEST_COLUMNS, rows)


def live_columns(rows: Sequence[Row]) -> tuple[Column, ...]:
    """The live report's default columns for these events (a closed result carries what was
    done to its position)."""
    return with_managed_columns(DEFAULT_LIVE_COLUMNS, rows)


def _stat(name: str) -> Callable[[Row], str]:
    return lambda r: fmt.stat_value(name, _dig(r, "stats", name))


def walker_comparison_columns(metric: str = "sharpe_ratio") -> tuple[Column, ...]:
    """The comparison table's columns; the metric column is labelled with ``metric``.

    A statistic column that would repeat the metric column is left out.
    """
    columns = (
        _col("rank", "Rank", lambda r: fmt.integer(_dig(r, "rank"))),
        _col("strategy_name", "Strategy", lambda r: fmt.text(_dig(r, "strategy_name"))),
        _col(
            "metric_value",
            fmt.stat_label(metric),
            lambda r: fmt.stat_value(metric, _dig(r, "metric_value")),
        ),
        _col("total_signals", "Total Signals", _stat("total_signals")),
        _col("win_rate", "Win Rate", _stat("win_rate")),
        _col("total_pnl", fmt.stat_label("total_pnl"), _stat("total_pnl")),
        _col("sharpe_ratio", "Sharpe", _stat("sharpe_ratio")),
        _col("max_drawdown", "Max Drawdown", _stat("max_drawdown")),
        _col("rejected_signals", "Rejected", _stat("rejected_signals")),
    )
    return tuple(c for c in columns if c.key != metric)


DEFAULT_WALKER_PNL_COLUMNS: tuple[Column, ...] = (
    SIGNAL_ID,
    POSITION,
    OPEN_PRICE,
    CLOSE_PRICE,
    PNL,
    CLOSE_REASON,
    OPEN_TIME,
    CLOSE_TIME,
    DURATION,
)


def resolve_columns(
    columns: Sequence[Column | Mapping[str, Any]] | None, default: Sequence[Column], table: str
) -> list[Column]:
    """``columns`` checked and as ``Column`` objects, or ``default`` when None.

    Raises ReportError naming the bad column (position and key) and what is wrong.
    """
    if columns is None:
        return list(default)
    if isinstance(columns, (str, bytes, Mapping)) or not isinstance(columns, Sequence):
        raise ReportError(
            f"{table} columns must be a list of Column objects or dicts, got {type(columns).__name__}"
        )
    if not columns:
        raise ReportError(
            f"{table} columns is empty: give at least one column, or None for the defaults"
        )
    resolved: list[Column] = []
    seen: set[str] = set()
    for index, item in enumerate(columns):
        column = _as_column(item, index, table)
        if column.key in seen:
            raise ReportError(
                f'{table} column {index} ("{column.key}"): the key is used twice; keys must be unique'
            )
        seen.add(column.key)
        resolved.append(column)
    return resolved


def _as_column(item: Column | Mapping[str, Any], index: int, table: str) -> Column:
    if isinstance(item, Column):
        values = {name: getattr(item, name) for name in _FIELDS}
    elif isinstance(item, Mapping):
        unknown = [k for k in item if k not in _FIELDS]
        if unknown:
            raise ReportError(
                f"{table} column {index} ({_name(item)}): unknown keys {', '.join(map(repr, unknown))}; "
                f"a column has {', '.join(_FIELDS)}"
            )
        missing = [k for k in ("key", "label", "format") if k not in item]
        if missing:
            raise ReportError(
                f"{table} column {index} ({_name(item)}): missing {', '.join(missing)}; "
                f"a column needs key, label and format (is_visible is optional)"
            )
        values = {"is_visible": _always, **item}
    else:
        raise ReportError(
            f"{table} column {index} is a {type(item).__name__}: give a Column or a dict with "
            f"{', '.join(_FIELDS)}"
        )
    where = f"{table} column {index} ({_name(values)})"
    if not isinstance(values["key"], str) or not values["key"]:
        raise ReportError(f"{where}: key must be a non-empty string, got {values['key']!r}")
    if not isinstance(values["label"], str):
        raise ReportError(f"{where}: label must be a string, got {values['label']!r}")
    for name in ("format", "is_visible"):
        if not callable(values[name]):
            raise ReportError(f"{where}: {name} must be callable, got {values[name]!r}")
    return item if isinstance(item, Column) else Column(**values)


def _name(item: Mapping[str, Any]) -> str:
    key = item.get("key")
    return f'"{key}"' if isinstance(key, str) and key else "no key"

"""What a report says about managed positions (SEMANTICS 9): the "Managed trades" section
(each managed trade's levels as opened and as closed, then its entries and partial closes),
the commits applied and refused per kind, and the line saying how the statistics count a
managed trade. The compact cells of the trade table are ``columns.managed_cells``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _format as fmt
from .columns import Column, Row, is_managed

# the order of the commits table: the stop and take first, then what changes the size, then the rest
COMMIT_KINDS = (
    "trailing_stop",
    "trailing_take",
    "breakeven",
    "partial_profit",
    "partial_loss",
    "average_buy",
    "close_pending",
    "cancel_scheduled",
    "activate_scheduled",
)

STATISTICS_NOTE = (
    "A managed trade counts once, at its close, with its blended PnL % (SEMANTICS 9: each "
    "partial close and the rest weighted by the invested dollars each closed); the equity "
    "moves at the close, and its picture marks the partial closes on the way."
)


def _moved(first: Any, last: Any) -> str:
    """ "first -> last", or the one price when it did not move."""
    if first is None or last is None or first == last:
        return fmt.price(last if last is not None else first)
    return f"{fmt.price(first)} -> {fmt.price(last)}"


def _signal(row: Row, key: str) -> Any:
    return (row.get("signal") or {}).get(key)


LEVEL_COLUMNS: tuple[Column, ...] = (
    Column("number", "#", lambda r: fmt.integer(r["number"])),
    Column("signal_id", "Signal ID", lambda r: fmt.text(_signal(r, "id"))),
    Column("position", "Position", lambda r: fmt.text(_signal(r, "position"))),
    Column(
        "entry",
        "Entry (opened -> effective)",
        lambda r: _moved(_signal(r, "original_price_open"), _signal(r, "price_open")),
    ),
    Column(
        "stop_loss",
        "Stop loss (original -> final)",
        lambda r: _moved(_signal(r, "original_price_stop_loss"), _signal(r, "price_stop_loss")),
    ),
    Column(
        "take_profit",
        "Take profit (original -> final)",
        lambda r: _moved(_signal(r, "original_price_take_profit"), _signal(r, "price_take_profit")),
    ),
    Column("entries", "Entries", lambda r: fmt.integer(len(_signal(r, "entries") or []) or 1)),
    Column("partials", "Partials", lambda r: fmt.integer(len(_signal(r, "partials") or []))),
    Column("invested", "Invested $", lambda r: fmt.number((r.get("pnl") or {}).get("pnl_entries"))),
    Column(
        "pnl",
        "PNL %",
        lambda r: fmt.percent((r.get("pnl") or {}).get("pnl_percentage"), signed=True),
    ),
    Column("pnl_cost", "PNL $", lambda r: fmt.number((r.get("pnl") or {}).get("pnl_cost"))),
    Column("close_reason", "Close Reason", lambda r: fmt.text(r.get("close_reason"))),
)

STEP_COLUMNS: tuple[Column, ...] = (
    Column("number", "#", lambda r: fmt.integer(r["number"])),
    Column("signal_id", "Signal ID", lambda r: fmt.text(r["signal_id"])),
    Column("time", "Time", lambda r: fmt.timestamp(r["timestamp"])),
    Column("step", "Step", lambda r: r["step"]),
    Column("price", "Price", lambda r: fmt.price(r["price"])),
    Column("dollars", "Dollars", lambda r: fmt.number(r["dollars"])),
    Column(
        "percent", "Percent", lambda r: "" if r["percent"] is None else fmt.percent(r["percent"])
    ),
    Column(
        "cost_basis",
        "Cost basis $",
        lambda r: "" if r["cost_basis"] is None else fmt.number(r["cost_basis"]),
    ),
    Column("entries_before", "Entries before", lambda r: fmt.integer(r["entries_before"])),
)


def numbered_managed(closed: Sequence[Row]) -> list[dict[str, Any]]:
    """The managed trades of ``closed`` (``columns.is_managed``), each with ``number``: its
    row in the closed signals table, from 1."""
    return [{**row, "number": n} for n, row in enumerate(closed, start=1) if is_managed(row)]


def trade_steps(trades: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each trade's entries (the first "entry", later ones "average buy": price, cost) and
    partial closes ("partial profit"/"partial loss": price, the dollars it closed, the percent
    of what remained, the cost basis before it), in time order, an entry before a partial
    close of the same minute. ``dollars`` of a partial close is percent of its cost basis."""
    out = []
    for trade in trades:
        sig = trade.get("signal") or {}
        steps = [
            (
                e["timestamp"],
                0,
                k,
                {
                    "step": "entry" if k == 0 else "average buy",
                    "price": e["price"],
                    "dollars": e["cost"],
                    "percent": None,
                    "cost_basis": None,
                    "entries_before": k,
                },
            )
            for k, e in enumerate(sig.get("entries") or [])
        ]
        steps += [
            (
                q["timestamp"],
                1,
                k,
                {
                    "step": f"partial {q['type']}",
                    "price": q["current_price"],
                    "dollars": q["percent"] / 100.0 * q["cost_basis_at_close"],
                    "percent": q["percent"],
                    "cost_basis": q["cost_basis_at_close"],
                    "entries_before": q["entry_count_at_close"],
                },
            )
            for k, q in enumerate(sig.get("partials") or [])
        ]
        for timestamp, _, _, step in sorted(steps, key=lambda s: s[:3]):
            out.append(
                {
                    "number": trade["number"],
                    "signal_id": sig.get("id"),
                    "timestamp": timestamp,
                    **step,
                }
            )
    return out


def commit_rows(commits: Mapping[str, Mapping[str, int]] | None) -> list[tuple[str, str, str]]:
    """(the commit function, applied, refused) per kind, in ``COMMIT_KINDS`` order (others after,
    by name); none without commits."""
    if not commits:
        return []
    order = [k for k in COMMIT_KINDS if k in commits] + sorted(set(commits) - set(COMMIT_KINDS))
    return [
        (
            fmt.cell(f"commit_{kind}"),
            fmt.integer(commits[kind].get("applied", 0)),
            fmt.integer(commits[kind].get("refused", 0)),
        )
        for kind in order
    ]

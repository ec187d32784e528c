"""The numbers of ``Heat``'s picture: each symbol's PnL month by month.

A cell is the sum of the PnL percentages of the symbol's trades that closed in
that calendar month (UTC): the same sum as the table's Total PNL, cut by month.
Every month from the first close to the last has a column, so a quiet month
shows as a gap; a cell with no trade is NaN, never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np


@dataclass(frozen=True)
class SymbolMonthPnl:
    symbols: list[str]  # the rows, in the order given
    months: list[str]  # the columns, "YYYY-MM", consecutive
    matrix: np.ndarray  # [len(symbols), len(months)]: percent; NaN where no trade closed


def _month(ms: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.year, moment.month


def symbol_month_pnl(
    trades: Mapping[str, Iterable[tuple[int, float]]], order: Sequence[str] | None = None
) -> SymbolMonthPnl:
    """``trades`` maps a symbol to its (close time ms, PnL %) pairs; ``order`` the rows
    (default: the mapping's order). A symbol with no trade keeps its row, all NaN."""
    symbols = list(order) if order is not None else list(trades)
    pairs = {
        symbol: [(_month(int(t)), float(p)) for t, p in trades.get(symbol, ())]
        for symbol in symbols
    }
    seen = [month for rows in pairs.values() for month, _ in rows]
    if not seen:
        return SymbolMonthPnl(symbols, [], np.full((len(symbols), 0), np.nan))
    (year, month), last = min(seen), max(seen)
    months = []
    while (year, month) <= last:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    column = {m: i for i, m in enumerate(months)}
    matrix = np.full((len(symbols), len(months)), np.nan)
    for row, symbol in enumerate(symbols):
        for month_key, pnl in pairs[symbol]:
            col = column[month_key]
            matrix[row, col] = pnl if np.isnan(matrix[row, col]) else matrix[row, col] + pnl
    return SymbolMonthPnl(symbols, [f"{y:04d}-{m:02d}" for y, m in months], matrix)

"""Profit and loss in percent, fees and slippage included (SEMANTICS.md section 3)."""

from __future__ import annotations


def pnl_percentage(position: str, price_open: float, price_close: float,
                   slippage_percent: float, fee_percent: float) -> float:
    """PnL of one round trip, in percent of the slipped entry."""
    s = slippage_percent / 100
    if position == "long":
        opened = price_open * (1 + s)
        closed = price_close * (1 - s)
        gross = (closed - opened) / opened * 100
    else:
        opened = price_open * (1 - s)
        closed = price_close * (1 + s)
        gross = (opened - closed) / opened * 100
    return gross - fee_percent * (1 + closed / opened)

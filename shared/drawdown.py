"""Maximum drawdown of the compounded equity curve (SEMANTICS.md section 4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def equity_curve(pnl_percentages: Sequence[float] | np.ndarray) -> np.ndarray:
    """Equity after each trade, compounding ``equity *= 1 + pnl / 100`` from 1.0.

    The result has one more point than there are trades: it starts at 1.0.
    """
    pnl = np.asarray(pnl_percentages, dtype=float)
    return np.concatenate(([1.0], np.cumprod(1.0 + pnl / 100.0)))


def max_drawdown(pnl_percentages: Sequence[float] | np.ndarray) -> float:
    """Largest fall from a running peak of the equity curve, in percent of that peak.

    ``pnl_percentages`` are per-trade PnLs in close order. A positive number
    (``+10, -20, +5`` gives 20.0); 0.0 for no trades or a curve that never falls.
    """
    equity = equity_curve(pnl_percentages)
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = (peaks - equity) / peaks * 100.0
    return float(np.max(falls))

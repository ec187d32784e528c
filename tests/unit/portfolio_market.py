"""Flat markets and scripted members for the portfolio tests (tests/unit/test_portfolio_*.py).

Every symbol trades flat at 100 (VWAP 100), so a long with TP 101 and SL 99 closes by its
lifetime of ``LIFETIME`` minutes: opened at tick t, "time_expired" at candle t + 5, and
the outcome of candle u counts from u + 1. Every time follows by hand (risk_market.py).
"""

from __future__ import annotations

from typing import Any

from btfarm.shared.engine.portfolio_run import PortfolioRun
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.registry import add_exchange, add_frame, add_portfolio, add_risk, add_strategy

from .market import flat, minute
from .risk_market import LIFETIME, START, Script, long_signal

EXCHANGE = "flat-x"
FRAME = "flat-f"
# what a long on the flat market loses, fees and slippage included (SEMANTICS 3): open' 100.1,
# close' 99.9, gross -0.1998002 %, fees 0.1998002 %
FLAT_PNL = (99.9 - 100.1) / 100.1 * 100 - 0.1 * (1 + 99.9 / 100.1)


def register_market(symbols: tuple[str, ...] = ("SA", "SB", "SC", "SD"), minutes: int = 60) -> None:
    """Flat candles from minute 0 for each symbol; the frame runs from START for ``minutes``."""
    add_exchange(
        dataframe_exchange(EXCHANGE, {s: flat(START + minutes + 2) for s in symbols}), override=True
    )
    add_frame(
        frame_name=FRAME,
        interval="1m",
        start_date=minute(START),
        end_date=minute(START + minutes - 1),
        override=True,
    )


def member(name: str, script: Any, **fields: Any) -> str:
    """Register strategy ``name`` asking ``script`` every minute; returns its name."""
    add_strategy(strategy_name=name, interval="1m", get_signal=script, override=True, **fields)
    return name


def portfolio_run(
    members: list[tuple[str, str]],
    *,
    risk: dict | None = None,
    capital: float | None = None,
    listen: bool = True,
    params: dict | None = None,
) -> tuple[PortfolioRun, list[tuple[str, dict]]]:
    """Run a portfolio of (symbol, strategy) members on the flat market; returns the run and every
    event it emitted, in order."""
    if risk is not None:
        add_risk(override=True, **risk)
    schema = add_portfolio(
        portfolio_name="flat-p",
        exchange_name=EXCHANGE,
        frame_name=FRAME,
        members=[{"symbol": s, "strategy_name": n} for s, n in members],
        risk_name=risk["risk_name"] if risk else None,
        capital=capital,
        override=True,
    )
    emitted: list[tuple[str, dict]] = []
    run = PortfolioRun(
        schema, params, listener=(lambda kind, rec: emitted.append((kind, rec))) if listen else None
    )
    run.run()
    return run, emitted


def opened_minutes(run: PortfolioRun, index: int) -> list[int]:
    """The minutes the member's closed trades opened at."""
    return [(c["signal"]["pending_at"] - minute(0)) // 60_000 for c in run.members[index].closed]


__all__ = [
    "EXCHANGE",
    "FLAT_PNL",
    "FRAME",
    "LIFETIME",
    "START",
    "Script",
    "long_signal",
    "member",
    "minute",
    "opened_minutes",
    "portfolio_run",
    "register_market",
]

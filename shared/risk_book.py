"""The open positions of one risk in one run: what a risk's payload lists as ``active_positions``.

backtest-kit's ClientRisk keeps a map of positions per risk, keyed by
strategy, exchange and symbol: a position is added when its signal is taken
(a limit entry holds its place while it waits) and removed when it closes or
is cancelled. Every ``Backtest.run`` starts with an empty map.

btfarm keeps one ``RiskBook`` per risk per run. A single backtest or live
session owns its books (so a strategy's risk sees its own position only);
a run of several members minute by minute hands the same books to every
member's core, so each risk sees every member's positions at the same
simulated time (``shared=True``).
"""

from __future__ import annotations

from typing import Any

BookKey = tuple[str, str, str]  # (strategy_name, exchange_name, symbol), backtest-kit's map key


class RiskBook:
    """The positions of one risk open now, in the order they were taken."""

    __slots__ = ("risk_name", "shared", "_positions")

    def __init__(self, risk_name: str, shared: bool = False) -> None:
        self.risk_name = risk_name
        self.shared = shared  # True: other cores write here too (their positions count)
        self._positions: dict[BookKey, dict[str, Any]] = {}

    def add(self, signal: dict[str, Any], open_timestamp: int) -> None:
        """Hold the position of ``signal`` (a signal row of lifecycle.py); the same key replaces
        its entry (a limit entry that activates is re-entered with its activation time)."""
        key = (signal["strategy_name"], signal["exchange_name"], signal["symbol"])
        self._positions[key] = {
            "strategy_name": signal["strategy_name"],
            "exchange_name": signal["exchange_name"],
            "frame_name": signal.get("frame_name", ""),
            "symbol": signal["symbol"],
            "position": signal["position"],
            "price_open": signal["price_open"],
            "price_stop_loss": signal["price_stop_loss"],
            "price_take_profit": signal["price_take_profit"],
            "minute_estimated_time": signal["minute_estimated_time"],
            "open_timestamp": open_timestamp,
        }

    def remove(self, strategy_name: str, exchange_name: str, symbol: str) -> None:
        self._positions.pop((strategy_name, exchange_name, symbol), None)

    def positions(self) -> list[dict[str, Any]]:
        """Copies of the open positions (a validation may mutate what it gets)."""
        return [dict(p) for p in self._positions.values()]

    def __len__(self) -> int:
        return len(self._positions)

    def clear(self) -> None:
        self._positions.clear()


def new_books(risk_names: list[str], shared: bool = False) -> dict[str, RiskBook]:
    """One empty book per risk, for a run (``shared``: several cores will use them)."""
    return {name: RiskBook(name, shared) for name in risk_names}

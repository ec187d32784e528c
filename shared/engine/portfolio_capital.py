"""A portfolio's capital: the dollars its entries are paid from (issue 32 §4).

Each entry's cost (the signal's ``cost`` when it carries one, else
``CC_POSITION_ENTRY_COST``) is taken from the free capital when the signal is
taken: a market entry when it opens, a limit entry when it is scheduled (it
holds its cost while it waits, as it holds its place in the risks' books). The
close gives the cost back with the trade's ``pnl_cost``; a cancel gives the
cost back. The equity is the capital plus every close's ``pnl_cost`` so far:
gains are free capital again, so they pay for later entries.

An entry that does not fit is refused like a risk's rejection (``CapitalGate``:
id ``"capital"``, risk_name ``"capital"``), after every risk of the member has
passed, so the strategy is asked again at the next tick. Added entries of a
managed position (``commit_average_buy``) are not drawn from the capital; their
PnL reaches it at the close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..risk_book import RiskBook
from ..risk_check import Rejection, RiskGate
from ..schemas import RiskSchema

CAPITAL = "capital"  # the rejection id and risk_name of an entry refused for want of capital
SLACK = 1e-9  # dollars: an entry that costs exactly the free capital fits despite float sums


class CapitalLedger:
    """Free capital, the cost each open signal holds (by member), and the realised equity."""

    __slots__ = ("capital", "entry_cost", "free", "held", "equity", "curve")

    def __init__(self, capital: float, entry_cost: float, start_ms: int) -> None:
        self.capital = capital
        self.entry_cost = (
            entry_cost  # CC_POSITION_ENTRY_COST: dollars of an entry without its own cost
        )
        self.free = capital
        self.held: dict[int, float] = {}  # member index -> dollars its open signal holds
        self.equity = capital
        self.curve: list[tuple[int, float]] = [
            (start_ms, capital)
        ]  # (ms, equity) from the start, then each close

    def cost_of(self, signal: dict[str, Any]) -> float:
        """Dollars of the signal's first entry: its ``cost``, the cost of its first entry when it
        is a managed position's row, else ``CC_POSITION_ENTRY_COST``."""
        cost = signal.get("cost")
        if cost is None and signal.get("entries"):
            cost = signal["entries"][0].get("cost")
        return float(cost) if cost is not None else self.entry_cost

    def take(self, member: int, signal: dict[str, Any]) -> None:
        """The member's signal was taken: it holds its cost (once, however many events say so)."""
        if member not in self.held:
            cost = self.cost_of(signal)
            self.held[member] = cost
            self.free -= cost

    def give_back(self, member: int, pnl_cost: float | None, close_ms: int) -> None:
        """The member's signal closed (``pnl_cost``: its PnL in dollars) or was cancelled (None)."""
        self.free += self.held.pop(member, 0.0)
        if pnl_cost is not None:
            self.free += pnl_cost
            self.equity += pnl_cost
            self.curve.append((close_ms, self.equity))


class CapitalGate(RiskGate):
    """The capital as a member's last risk: a signal whose cost exceeds the free capital is
    rejected (id ``"capital"``), with a note giving the cost, the free capital and the capital."""

    __slots__ = ("ledger", "portfolio_name")

    def __init__(self, ledger: CapitalLedger, book: RiskBook, portfolio_name: str) -> None:
        super().__init__(RiskSchema(risk_name=CAPITAL), book)
        self.ledger = ledger
        self.portfolio_name = portfolio_name

    @property
    def in_python(self) -> bool:
        return True

    def check(self, payload: dict[str, Any], who: Callable[[], str]) -> Rejection | None:
        ledger = self.ledger
        cost = ledger.cost_of(payload["current_signal"])
        if cost <= ledger.free + SLACK:
            return None
        held, count = sum(ledger.held.values()), len(ledger.held)
        return Rejection(
            CAPITAL,
            f"the entry costs {cost:.2f} and {ledger.free:.2f} of the capital is free "
            f'(portfolio "{self.portfolio_name}": capital {ledger.capital:.2f}, {held:.2f} '
            f"held by {count} open signal{'' if count == 1 else 's'})",
            CAPITAL,
        )

"""What ``get_signal`` returns, and the signal the engine then carries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Position = Literal["long", "short"]


class Entry(BaseModel):
    """One entry of a position (the first, and each average buy, SEMANTICS 9)."""

    model_config = ConfigDict(extra="forbid")

    price: float
    cost: float  # dollars
    timestamp: int  # ms


class Partial(BaseModel):
    """One partial close of a position (SEMANTICS 9)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["profit", "loss"]
    percent: float  # of what remained open
    current_price: float  # the price it closed at (the VWAP of the candles before the hook's)
    cost_basis_at_close: float  # dollars open before it
    entry_count_at_close: int  # entries made before it
    timestamp: int  # ms: the candle whose hook committed it


class SignalDto(BaseModel):
    """A strategy's intent: a market entry, or a scheduled one when price_open is set."""

    model_config = ConfigDict(extra="forbid")

    position: Position
    price_take_profit: float
    price_stop_loss: float
    # None = CC_MAX_SIGNAL_LIFETIME_MINUTES; math.inf (no expiry) only when that is math.inf too
    minute_estimated_time: int | float | None = None
    price_open: float | None = None
    note: str | None = None
    id: str | None = None
    # dollars of the first entry (pnl_cost, pnl_entries, a portfolio's capital); None:
    # CC_POSITION_ENTRY_COST. Percent PnL does not depend on it
    cost: float | None = None


class SignalRow(BaseModel):
    """A signal the engine accepted: the intent plus where and when it lives."""

    model_config = ConfigDict(extra="forbid")

    id: str
    position: Position
    price_open: float  # the entry: current price for a market entry, price_open for a scheduled one
    price_take_profit: float
    price_stop_loss: float
    minute_estimated_time: (
        int | float
    )  # an int, or math.inf under CC_MAX_SIGNAL_LIFETIME_MINUTES = math.inf
    note: str | None = None
    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    scheduled_at: int  # ms: the tick get_signal returned it
    pending_at: int  # ms: when the position opened (= scheduled_at for a market entry)
    params: dict[str, Any] | None = None
    # managing the position (SEMANTICS 9): price_open, price_stop_loss and price_take_profit above
    # are the effective ones (after average buys, trailing and breakeven); these are as opened
    original_price_open: float | None = None  # None in: the effective price_open
    original_price_stop_loss: float | None = None
    original_price_take_profit: float | None = None
    entries: list[Entry] = []
    partials: list[Partial] = []
    total_entries: int | None = None  # None in: len(entries), at least 1
    total_partials: int | None = None  # None in: len(partials)
    close_id: str | None = None  # the id given to commit_close_pending / commit_cancel_scheduled
    cost: float | None = None  # the signal's own first-entry dollars, when it gave them

    @model_validator(mode="after")
    def _originals(self) -> SignalRow:
        # a signal from before SEMANTICS 9 (or not yet opened) has its originals as its levels
        if self.original_price_open is None:
            self.original_price_open = self.price_open
        if self.original_price_stop_loss is None:
            self.original_price_stop_loss = self.price_stop_loss
        if self.original_price_take_profit is None:
            self.original_price_take_profit = self.price_take_profit
        if self.total_entries is None:
            self.total_entries = max(len(self.entries), 1)
        if self.total_partials is None:
            self.total_partials = len(self.partials)
        return self

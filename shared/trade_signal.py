"""What ``get_signal`` returns, and the signal the engine then carries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Position = Literal["long", "short"]


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


class SignalRow(BaseModel):
    """A signal the engine accepted: the intent plus where and when it lives."""

    model_config = ConfigDict(extra="forbid")

    id: str
    position: Position
    price_open: float  # the entry: current price for a market entry, price_open for a scheduled one
    price_take_profit: float
    price_stop_loss: float
    minute_estimated_time: int | float  # an int, or math.inf under CC_MAX_SIGNAL_LIFETIME_MINUTES = math.inf
    note: str | None = None
    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    scheduled_at: int  # ms: the tick get_signal returned it
    pending_at: int  # ms: when the position opened (= scheduled_at for a market entry)
    params: dict[str, Any] | None = None

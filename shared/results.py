"""Tick results (the ``action`` union of SEMANTICS.md) and the PnL record.

The engine produces plain dicts on its hot path; these models are what users
receive from ``Backtest.run``, ``Live.run`` and the listeners.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .trade_signal import SignalRow

CloseReason = Literal[
    "take_profit", "stop_loss", "time_expired", "closed"
]  # closed: commit_close_pending
CancelReason = Literal["timeout", "price_reject", "user"]


class PnL(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pnl_percentage: float  # fees and slippage included
    price_open: float  # the raw entry (the effective one after average buys, SEMANTICS 9)
    price_close: float  # the raw exit
    pnl_entries: float | None = None  # dollars invested (every entry's cost)
    pnl_cost: float | None = None  # dollars won or lost: pnl_percentage / 100 * pnl_entries


class _Tick(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    backtest: bool = True
    timestamp: int  # ms: the tick or candle this result belongs to


class IdleResult(_Tick):
    action: Literal["idle"] = "idle"
    current_price: float | None = None


class ScheduledResult(_Tick):
    action: Literal["scheduled"] = "scheduled"
    signal: SignalRow
    current_price: float


class OpenedResult(_Tick):
    action: Literal["opened"] = "opened"
    signal: SignalRow
    current_price: float


class ActiveResult(_Tick):
    action: Literal["active"] = "active"
    signal: SignalRow
    current_price: float


class ClosedResult(_Tick):
    action: Literal["closed"] = "closed"
    signal: SignalRow
    current_price: float  # the close price
    close_reason: CloseReason
    close_timestamp: int  # ms: open time of the candle that closed it
    pnl: PnL
    peak_price: float | None = None
    peak_pnl: float | None = None
    fall_price: float | None = None
    fall_pnl: float | None = None


class CancelledResult(_Tick):
    action: Literal["cancelled"] = "cancelled"
    signal: SignalRow
    current_price: float
    cancel_reason: CancelReason
    close_timestamp: int


TickResult = Annotated[
    IdleResult | ScheduledResult | OpenedResult | ActiveResult | ClosedResult | CancelledResult,
    Field(discriminator="action"),
]

_MODELS: dict[str, type[BaseModel]] = {
    "idle": IdleResult,
    "scheduled": ScheduledResult,
    "opened": OpenedResult,
    "active": ActiveResult,
    "closed": ClosedResult,
    "cancelled": CancelledResult,
}


def to_model(record: dict[str, Any]) -> BaseModel:
    """A tick record (a plain dict from the engine or the wire) as its model."""
    return _MODELS[record["action"]].model_validate(record)

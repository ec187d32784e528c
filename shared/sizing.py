"""Position sizing: how many units of the asset to buy, as backtest-kit computes it.

Followed line by line: backtest-kit's src/client/ClientSizing.ts (the three
formulas and the clamps), src/classes/PositionSize.ts (the facade, one static
method per sizing method) and src/lib/services/validation/
SizingValidationService.ts (an unknown name, a method that does not match the
schema's), read at commit 85f88409 (package 18.7.0).

- fixed-percentage: ``balance * (risk_percentage / 100) / |price_open - price_stop_loss|``
- kelly-criterion: ``kelly = (win_rate * win_loss_ratio - (1 - win_rate)) / win_loss_ratio``,
  then ``balance * (max(0, kelly) * kelly_multiplier) / price_open``
- atr-based: ``balance * (risk_percentage / 100) / (atr * atr_multiplier)``

then the clamps, in backtest-kit's order: ``max(q, min_position_size)``, then
``min(q, balance * max_position_percentage / 100 / price_open)``, then
``min(q, max_position_size)``; the floor goes first so the two risk caps have
the final word. The result is a quantity in units of the asset (BTC for
BTCUSDT), never quote currency: the risk in dollars over the stop distance in
dollars per unit.

Where btfarm refuses more than backtest-kit: a balance, price_open or any
other number that is not a finite positive number (backtest-kit checks
price_open only for Kelly and the percentage cap, and the balance nowhere).

``size_position`` is the pure computation of a schema and the inputs;
``PositionSize`` looks the schema up by name and runs its ``on_calculate``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from . import events
from .errors import UsageError
from .registry import get_sizing
from .schemas import SizingSchema

log = logging.getLogger("btfarm.sizing")

# the method each PositionSize call computes, by the call's name
METHOD_OF_CALL = {
    "fixed_percentage": "fixed-percentage",
    "kelly_criterion": "kelly-criterion",
    "atr_based": "atr-based",
}
CALL_OF_METHOD = {method: call for call, method in METHOD_OF_CALL.items()}


def size_position(
    schema: SizingSchema,
    balance: float,
    price_open: float,
    *,
    price_stop_loss: float | None = None,
    win_rate: float | None = None,
    win_loss_ratio: float | None = None,
    atr: float | None = None,
    where: str = "size_position",
) -> float:
    """The position size in units of the asset: the schema's formula, then its clamps.

    Give the inputs of the schema's method (price_stop_loss; win_rate and
    win_loss_ratio; atr). ``where`` names the caller in error messages."""
    where = f'{where} (sizing "{schema.sizing_name}")'
    _positive(where, "balance", balance, "the account balance in quote currency, e.g. 10000")
    _positive(where, "price_open", price_open, "the planned entry price")
    if schema.method == "fixed-percentage":
        _positive(where, "price_stop_loss", price_stop_loss, "the stop-loss price")
        quantity = _fixed_percentage(where, schema, balance, price_open, price_stop_loss)  # type: ignore[arg-type]
    elif schema.method == "kelly-criterion":
        quantity = _kelly_criterion(where, schema, balance, price_open, win_rate, win_loss_ratio)
    else:
        quantity = _atr_based(where, schema, balance, atr)
    return clamp(schema, quantity, balance, price_open)


def clamp(schema: SizingSchema, quantity: float, balance: float, price_open: float) -> float:
    """backtest-kit's CALCULATE_FN after the formula: the floor, then the two caps."""
    if schema.min_position_size is not None:
        quantity = max(quantity, schema.min_position_size)
    if schema.max_position_percentage is not None:
        quantity = min(quantity, balance * schema.max_position_percentage / 100 / price_open)
    if schema.max_position_size is not None:
        quantity = min(quantity, schema.max_position_size)
    return quantity


def _fixed_percentage(
    where: str, schema: SizingSchema, balance: float, price_open: float, price_stop_loss: float
) -> float:
    risk_amount = balance * (schema.risk_percentage / 100)  # type: ignore[operator]
    stop_distance = abs(price_open - price_stop_loss)
    if stop_distance == 0:
        raise UsageError(
            f"{where}: the stop distance |price_open - price_stop_loss| is 0 "
            f"(price_open={price_open!r}, price_stop_loss={price_stop_loss!r}); "
            "give a stop-loss price away from the entry"
        )
    return risk_amount / stop_distance


def _kelly_criterion(
    where: str,
    schema: SizingSchema,
    balance: float,
    price_open: float,
    win_rate: float | None,
    win_loss_ratio: float | None,
) -> float:
    _finite(where, "win_rate", win_rate)
    if not 0 < win_rate < 1:  # type: ignore[operator]
        raise UsageError(
            f"{where}: win_rate={win_rate!r} is outside (0, 1); give the fraction of "
            "trades won, e.g. 0.55 (not a percentage, and neither 0 nor 1)"
        )
    _positive(
        where, "win_loss_ratio", win_loss_ratio, "the average win over the average loss, e.g. 1.5"
    )
    kelly = (win_rate * win_loss_ratio - (1 - win_rate)) / win_loss_ratio  # type: ignore[operator]
    # a negative edge bets nothing; the multiplier scales the bet down (0.25: quarter Kelly)
    adjusted = max(0.0, kelly) * schema.kelly_multiplier  # type: ignore[operator]
    return (balance * adjusted) / price_open


def _atr_based(where: str, schema: SizingSchema, balance: float, atr: float | None) -> float:
    _positive(where, "atr", atr, "the current average true range in price units, e.g. 500")
    risk_amount = balance * (schema.risk_percentage / 100)  # type: ignore[operator]
    # atr_multiplier > 0 is checked at add_sizing, so the stop distance is never 0 here
    return risk_amount / (atr * schema.atr_multiplier)  # type: ignore[operator]


def _finite(where: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{where}: {name}={value!r} is not a finite number; give a number")


def _positive(where: str, name: str, value: Any, meaning: str) -> None:
    _finite(where, name, value)
    if value <= 0:
        raise UsageError(f"{where}: {name}={value!r} must be above 0; give {meaning}")


def _sized(
    call: str, symbol: str, sizing_name: str, balance: float, price_open: float, **inputs: float
) -> float:
    """Look the sizing up, check its method is this call's, compute, run on_calculate."""
    where = f"PositionSize.{call}"
    if not isinstance(symbol, str) or not symbol:
        raise UsageError(f'{where}: symbol={symbol!r} is not a symbol; give one, e.g. "BTCUSDT"')
    schema = get_sizing(sizing_name, where)
    if schema.method != METHOD_OF_CALL[call]:
        raise UsageError(
            f'{where}: sizing "{sizing_name}" is method "{schema.method}", not '
            f'"{METHOD_OF_CALL[call]}"; call PositionSize.{CALL_OF_METHOD[schema.method]}(...) '
            f'or name a sizing registered with method="{METHOD_OF_CALL[call]}"'
        )
    quantity = size_position(schema, balance, price_open, where=f"{where}({symbol!r})", **inputs)
    on_calculate = schema.callbacks.get("on_calculate")
    if on_calculate is not None:
        params = {
            "method": schema.method,
            "symbol": symbol,
            "balance": balance,
            "price_open": price_open,
            **inputs,
        }
        try:
            on_calculate(quantity, params)
        except (
            Exception
        ) as exc:  # as backtest-kit: a callback's bug is reported, the size still returned
            message = (
                f'sizing "{sizing_name}" on {symbol}: callback on_calculate raised '
                f"{type(exc).__name__}: {exc}"
            )
            log.warning(message)
            events.emit(
                "error",
                {
                    "symbol": symbol,
                    "strategy_name": None,
                    "exchange_name": None,
                    "sizing_name": sizing_name,
                    "timestamp": None,
                    "kind": type(exc).__name__,
                    "message": message,
                    "signal": None,
                    "error": exc,
                },
            )
    return quantity


class PositionSize:
    """backtest-kit's PositionSize, snake_case: one static method per sizing method,
    each returning a quantity in units of the asset.

        add_sizing(sizing_name="risk-2", method="fixed-percentage", risk_percentage=2)
        PositionSize.fixed_percentage("BTCUSDT", 10000, 50000, 49000, sizing_name="risk-2")  # 0.2
    """

    @staticmethod
    def fixed_percentage(
        symbol: str, balance: float, price_open: float, price_stop_loss: float, *, sizing_name: str
    ) -> float:
        """Risk ``risk_percentage`` % of the balance between the entry and the stop."""
        return _sized(
            "fixed_percentage",
            symbol,
            sizing_name,
            balance,
            price_open,
            price_stop_loss=price_stop_loss,
        )

    @staticmethod
    def kelly_criterion(
        symbol: str,
        balance: float,
        price_open: float,
        win_rate: float,
        win_loss_ratio: float,
        *,
        sizing_name: str,
    ) -> float:
        """Bet ``kelly_multiplier`` of the Kelly fraction of the balance."""
        return _sized(
            "kelly_criterion",
            symbol,
            sizing_name,
            balance,
            price_open,
            win_rate=win_rate,
            win_loss_ratio=win_loss_ratio,
        )

    @staticmethod
    def atr_based(
        symbol: str, balance: float, price_open: float, atr: float, *, sizing_name: str
    ) -> float:
        """Risk ``risk_percentage`` % of the balance over a stop ``atr * atr_multiplier`` away."""
        return _sized("atr_based", symbol, sizing_name, balance, price_open, atr=atr)

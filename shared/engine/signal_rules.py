"""Parsing and validating what ``get_signal`` returned (SEMANTICS.md section 2)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine_config import EngineConfig
from ..errors import SignalError
from ..trade_signal import SignalDto

FIELDS = set(SignalDto.model_fields)


def parse_signal(raw: Any, where: str) -> dict[str, Any]:
    """A signal as a plain dict, or SignalError saying what is wrong with it."""
    if isinstance(raw, SignalDto):
        return raw.model_dump()
    if not isinstance(raw, dict):
        shown = repr(raw)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise SignalError(f"{where}: get_signal returned {type(raw).__name__} {shown}; expected a dict, a SignalDto or None")
    unknown = set(raw) - FIELDS
    missing = {"position", "price_take_profit", "price_stop_loss"} - set(raw)
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(sorted(missing))}")
        if unknown:
            parts.append(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(sorted(FIELDS))}")
        raise SignalError(f"{where}: bad signal {raw!r}: " + "; ".join(parts))
    return raw


def _number(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return None
    return float(value)


def check_signal(sig: dict[str, Any], current_price: float, cfg: EngineConfig) -> tuple[dict[str, Any] | None, list[str]]:
    """The normalised signal and the list of every rule it breaks (empty when valid)."""
    errors: list[str] = []
    position = sig.get("position")
    if position not in ("long", "short"):
        errors.append(f'position must be "long" or "short", got {position!r}')
    tp = _number(sig.get("price_take_profit"))
    sl = _number(sig.get("price_stop_loss"))
    po_raw = sig.get("price_open")
    po = _number(po_raw) if po_raw is not None else None
    for label, raw, value in (("price_take_profit", sig.get("price_take_profit"), tp),
                              ("price_stop_loss", sig.get("price_stop_loss"), sl),
                              ("price_open", po_raw, po if po_raw is not None else 1.0)):
        if value is None or not math.isfinite(value) or value <= 0:
            errors.append(f"{label} must be a finite number > 0, got {raw!r}")
    met = sig.get("minute_estimated_time")
    if met is None:
        met = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES
    elif isinstance(met, np.integer):  # numpy's ints are ints (a strategy's arithmetic gives them)
        met = int(met)
    elif isinstance(met, float | np.floating) and float(met).is_integer():
        met = int(met)
    if isinstance(met, bool) or not isinstance(met, int) or met <= 0 or met > cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES:
        errors.append(
            f"minute_estimated_time must be a positive integer <= {cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES}, got {sig.get('minute_estimated_time')!r}"
        )
    if errors:
        return None, errors
    entry = po if po is not None else current_price
    long = position == "long"
    if long and not tp > entry > sl:
        errors.append(f"long needs take profit > open > stop loss, got TP {tp} / open {entry} / SL {sl}")
    if not long and not tp < entry < sl:
        errors.append(f"short needs take profit < open < stop loss, got TP {tp} / open {entry} / SL {sl}")
    if not errors:
        tp_dist = (tp - entry) / entry * 100 if long else (entry - tp) / entry * 100
        sl_dist = (entry - sl) / entry * 100 if long else (sl - entry) / entry * 100
        if tp_dist < cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT:
            errors.append(f"take profit is {tp_dist:.4f}% from open; the minimum is {cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT}%")
        if sl_dist < cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT:
            errors.append(f"stop loss is {sl_dist:.4f}% from open; the minimum is {cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT}%")
        if sl_dist > cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT:
            errors.append(f"stop loss is {sl_dist:.4f}% from open; the maximum is {cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT}%")
    if errors:
        return None, errors
    return {
        "position": position,
        "price_take_profit": tp,
        "price_stop_loss": sl,
        "price_open": po,
        "minute_estimated_time": met,
        "note": sig.get("note"),
        "id": sig.get("id"),
    }, []

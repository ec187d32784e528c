"""Parsing and validating what ``get_signal`` returned (SEMANTICS.md section 2)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine_config import EngineConfig
from ..errors import SignalError
from ..trade_signal import SignalDto

FIELDS = set(SignalDto.model_fields)


def parse_signal(raw: Any) -> dict[str, Any]:
    """A signal as a plain dict, or SignalError saying what is wrong with it (the caller
    prefixes where: a valid signal's place is never formatted)."""
    if isinstance(raw, SignalDto):
        return raw.model_dump()
    if not isinstance(raw, dict):
        shown = repr(raw)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise SignalError(
            f"get_signal returned {type(raw).__name__} {shown}; expected a dict, a SignalDto or None"
        )
    unknown = set(raw) - FIELDS
    missing = {"position", "price_take_profit", "price_stop_loss"} - set(raw)
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(sorted(missing))}")
        if unknown:
            parts.append(
                f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(sorted(FIELDS))}"
            )
        raise SignalError(f"bad signal {raw!r}: " + "; ".join(parts))
    return raw


_BOOLS = (bool, np.bool_)  # (tuples: a union written in the call is built at every call)
_NUMBERS = (int, float, np.number)
_FLOATS = (float, np.floating)


def _number(value: Any) -> float | None:
    if type(value) is float:  # (what nearly every strategy returns)
        return value
    if isinstance(value, _BOOLS) or not isinstance(value, _NUMBERS):
        return None
    return float(value)


def check_signal(
    sig: dict[str, Any], current_price: float, cfg: EngineConfig
) -> tuple[dict[str, Any] | None, list[str]]:
    """The normalised signal and the list of every rule it breaks (empty when valid)."""
    errors: list[str] = []
    position = sig.get("position")
    if position not in ("long", "short"):
        errors.append(f'position must be "long" or "short", got {position!r}')
    tp = _number(sig.get("price_take_profit"))
    sl = _number(sig.get("price_stop_loss"))
    po_raw = sig.get("price_open")
    po = _number(po_raw) if po_raw is not None else None
    for label, raw, value in (
        ("price_take_profit", sig.get("price_take_profit"), tp),
        ("price_stop_loss", sig.get("price_stop_loss"), sl),
    ):
        if value is None:  # not a number at all; the range is level_problems' to say
            errors.append(f"{label} must be a finite number > 0, got {raw!r}")
    if po_raw is not None and (po is None or not math.isfinite(po) or po <= 0):
        errors.append(f"price_open must be a finite number > 0, got {po_raw!r}")
    met = sig.get("minute_estimated_time")
    if met is None:
        met = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES
    elif isinstance(met, np.integer):  # numpy's ints are ints (a strategy's arithmetic gives them)
        met = int(met)
    elif isinstance(met, _FLOATS) and float(met).is_integer():
        met = int(met)
    elif isinstance(met, _FLOATS) and met == math.inf:
        met = math.inf  # allowed only when the config's lifetime is too (level_problems says)
    if isinstance(met, bool) or not (isinstance(met, int) or met == math.inf):
        errors.append(
            _lifetime_problem(cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES, sig.get("minute_estimated_time"))
        )
    cost_raw = sig.get("cost")
    cost = _number(cost_raw) if cost_raw is not None else None
    if cost_raw is not None and (cost is None or not math.isfinite(cost) or cost <= 0):
        errors.append(
            f"cost must be a finite number of dollars > 0, or None for CC_POSITION_ENTRY_COST "
            f"({cfg.CC_POSITION_ENTRY_COST:g}), got {cost_raw!r}"
        )
    if errors:
        return None, errors
    assert tp is not None and sl is not None  # (a None was an error above)
    entry = po if po is not None else current_price
    errors = level_problems(
        position == "long",
        entry,
        tp,
        sl,
        float(met),
        cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES,
        cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT,
        cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT,
        cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT,
        shown_lifetime=sig.get("minute_estimated_time"),
    )
    if errors:
        return None, errors
    checked = {
        "position": position,
        "price_take_profit": tp,
        "price_stop_loss": sl,
        "price_open": po,
        "minute_estimated_time": met,
        "note": sig.get("note"),
        "id": sig.get("id"),
    }
    if cost is not None:  # (only when given: a signal without one is as it always was)
        checked["cost"] = cost
    return checked, []


def level_problems(
    long: bool,
    entry: float,
    tp: float,
    sl: float,
    met: float,
    max_life: int | float,
    min_tp: float,
    min_sl: float,
    max_sl: float,
    shown_lifetime: Any = None,
) -> list[str]:
    """The one Python copy of the rule on a signal's numbers (SEMANTICS 2): what is wrong
    with take profit ``tp``, stop loss ``sl`` and lifetime ``met`` (minutes) at ``entry``;
    empty when valid. The batch lane asks it on plain floats; ``_batch_kernel.c`` is its
    C twin, held to it by tests/unit/test_batch_kernel.py."""
    errors = []
    for label, value in (("price_take_profit", tp), ("price_stop_loss", sl)):
        if not (math.isfinite(value) and value > 0):
            errors.append(f"{label} must be a finite number > 0, got {value!r}")
    # math.inf (no expiry, SEMANTICS 9) only under CC_MAX_SIGNAL_LIFETIME_MINUTES = math.inf
    endless = met == math.inf and max_life == math.inf
    if not (endless or (math.isfinite(met) and met.is_integer() and 0 < met <= max_life)):
        errors.append(
            _lifetime_problem(max_life, met if shown_lifetime is None else shown_lifetime)
        )
    if errors:
        return errors
    if long and not tp > entry > sl:
        return [f"long needs take profit > open > stop loss, got TP {tp} / open {entry} / SL {sl}"]
    if not long and not tp < entry < sl:
        return [f"short needs take profit < open < stop loss, got TP {tp} / open {entry} / SL {sl}"]
    tp_dist = (tp - entry) / entry * 100 if long else (entry - tp) / entry * 100
    sl_dist = (entry - sl) / entry * 100 if long else (sl - entry) / entry * 100
    if tp_dist < min_tp:
        errors.append(
            f"take profit is {_beside(tp_dist, min_tp)}% from open; the minimum is {min_tp}%"
        )
    if sl_dist < min_sl:
        errors.append(
            f"stop loss is {_beside(sl_dist, min_sl)}% from open; the minimum is {min_sl}%"
        )
    if sl_dist > max_sl:
        errors.append(
            f"stop loss is {_beside(sl_dist, max_sl)}% from open; the maximum is {max_sl}%"
        )
    return errors


def _beside(distance: float, bound: float) -> str:
    """``distance`` with 4 decimals, or as many more as show it is not ``bound``: a stop
    0.499999999999998 % away (0.5 % of a price that is no exact binary fraction) read
    "0.5000%; the minimum is 0.5%", a refusal that looked like none."""
    for decimals in range(4, 18):
        shown = f"{distance:.{decimals}f}"
        if float(shown) != bound:
            return shown
    return repr(distance)


def _lifetime_problem(max_life: int | float, shown: Any) -> str:
    if max_life == math.inf:
        return f"minute_estimated_time must be a positive integer or math.inf, got {shown!r}"
    problem = f"minute_estimated_time must be a positive integer <= {max_life}, got {shown!r}"
    if isinstance(shown, float | np.floating) and shown == math.inf:
        problem += "; no expiry needs set_config(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)"
    return problem

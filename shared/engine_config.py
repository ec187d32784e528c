"""Engine constants users may change with ``set_config`` (SEMANTICS.md names).

The config is a frozen value that travels with every run (and in every task
payload), so a worker computes with exactly the numbers the caller had.

Every constant has a type and a range, as backtest-kit's config validation
has (``ConfigValidationService``): a fee of -1 would show a losing strategy
winning every trade, a NaN fee would blank every statistic without a word,
so such values are refused, with the constant, the value and the fix. The
minimum take-profit distance must cover the round trip's costs,
2 x (fee + slippage), also as backtest-kit has it. Types are strict: the
string "0.1" or True is not a number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import SettingsError, did_you_mean


class EngineConfig(BaseModel):
    # strict: after _checked (which turns ints into floats for float constants), pydantic coerces nothing
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    CC_PERCENT_SLIPPAGE: float = 0.1  # percent of price lost on entry and on exit
    CC_PERCENT_FEE: float = 0.1  # percent of notional paid on entry and on exit
    CC_AVG_PRICE_CANDLES_COUNT: int = 5  # 1m candles in the VWAP that is the current price
    CC_MIN_TAKEPROFIT_DISTANCE_PERCENT: float = 0.5  # TP at least this far from entry, percent
    CC_MIN_STOPLOSS_DISTANCE_PERCENT: float = 0.5  # SL at least this far from entry, percent
    CC_MAX_STOPLOSS_DISTANCE_PERCENT: float = 20.0  # SL at most this far from entry, percent
    # longest minute_estimated_time, and its default; math.inf: positions never expire (SEMANTICS 9)
    CC_MAX_SIGNAL_LIFETIME_MINUTES: int | float = 1440
    CC_SCHEDULE_AWAIT_MINUTES: int = 120  # a scheduled entry not activated by then is cancelled
    CC_WARMUP_MINUTES: int = 1440  # 1m candles loaded before a frame for strategy look-backs
    TICK_TTL: float = 60.001  # seconds between live ticks
    # Position management (SEMANTICS 9), backtest-kit 19.5.0's names and defaults:
    # breakeven is available past 2 * (slippage + fee) + this percent from the effective entry
    CC_BREAKEVEN_THRESHOLD: float = 0.2
    CC_POSITION_ENTRY_COST: float = 100.0  # dollars of one entry; commit_average_buy's default cost
    # commit_average_buy without the "below every entry" rule (long; short: above every entry)
    CC_ENABLE_DCA_EVERYWHERE: bool = False
    # commit_partial_profit / _loss without the side rule (profit needs the price beyond the
    # effective entry on the profit side, loss on the loss side): either may close on either side
    CC_ENABLE_PPPL_EVERYWHERE: bool = False
    # commit_trailing_stop / _take without the "tighter than the last trail" rule: a later call
    # may loosen the trailed level (the price and opposite-level checks still hold)
    CC_ENABLE_TRAILING_EVERYWHERE: bool = False

    @model_validator(mode="before")
    @classmethod
    def _checked(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        values, problems = checked_values(data, tuple(data))
        if problems:  # protocol: a pydantic validator raises ValueError
            raise ValueError(_joined(problems))
        return values

    def to_json(self) -> dict[str, Any]:
        """The config as strict JSON types, for a task payload: JSON has no infinity, so
        an infinite lifetime is written as the string "Infinity" (``from_json`` reads it)."""
        return {k: (INFINITY if v == math.inf else v) for k, v in self.model_dump().items()}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | bytes) -> EngineConfig:
        """The config ``to_json`` wrote (a dict, or its JSON text), checked like ``set_config``."""
        if isinstance(data, str | bytes):
            data = json.loads(data)
        if not isinstance(data, dict):
            raise SettingsError(
                f"engine config payload: expected a JSON object, got {type(data).__name__}"
            )
        data = {k: (math.inf if k in INFINITE_OK and v == INFINITY else v) for k, v in data.items()}
        return _validated(data, "engine config payload")


INFINITY = "Infinity"  # how to_json writes math.inf (JSON has no infinity)


@dataclass(frozen=True)
class _Rule:
    kind: str  # "number" (a float; an int is taken), "integer", "bool"
    low: float | None = None  # bound, or None
    low_open: bool = False  # True: value > low; False: value >= low
    infinite_ok: bool = False  # math.inf is allowed (lifetimes, as backtest-kit's Infinity)
    meaning: str = ""
    below: float | None = None  # value < below, or None

    def allowed(self) -> str:
        what = {"number": "a finite number", "integer": "an integer", "bool": "True or False"}[
            self.kind
        ]
        if self.low is not None:
            what += f" {'>' if self.low_open else '>='} {_num(self.low)}"
        if self.below is not None:
            what += f" and < {_num(self.below)}"
        if self.infinite_ok:
            what += ", or math.inf"
        return what


RULES: dict[str, _Rule] = {
    # below 100: at 100 percent a short's slipped price is 0, and a fee takes the whole notional
    "CC_PERCENT_SLIPPAGE": _Rule(
        "number", 0, meaning="percent of price lost on entry and on exit", below=100
    ),
    "CC_PERCENT_FEE": _Rule(
        "number", 0, meaning="percent of notional paid on entry and on exit", below=100
    ),
    "CC_AVG_PRICE_CANDLES_COUNT": _Rule("integer", 0, True, meaning="1m candles in the VWAP"),
    "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT": _Rule("number", 0, True, meaning="percent from entry"),
    "CC_MIN_STOPLOSS_DISTANCE_PERCENT": _Rule("number", 0, True, meaning="percent from entry"),
    "CC_MAX_STOPLOSS_DISTANCE_PERCENT": _Rule("number", 0, True, meaning="percent from entry"),
    "CC_MAX_SIGNAL_LIFETIME_MINUTES": _Rule(
        "integer", 0, True, True, meaning="minutes; math.inf: no expiry"
    ),
    "CC_SCHEDULE_AWAIT_MINUTES": _Rule("integer", 0, True, meaning="minutes"),
    "CC_WARMUP_MINUTES": _Rule("integer", 0, meaning="minutes of candles before a frame"),
    "TICK_TTL": _Rule("number", 0, True, meaning="seconds between live ticks"),
    "CC_BREAKEVEN_THRESHOLD": _Rule("number", 0, meaning="percent above the round-trip costs"),
    "CC_POSITION_ENTRY_COST": _Rule("number", 0, True, meaning="dollars"),
    "CC_ENABLE_DCA_EVERYWHERE": _Rule("bool"),
    "CC_ENABLE_PPPL_EVERYWHERE": _Rule("bool"),
    "CC_ENABLE_TRAILING_EVERYWHERE": _Rule("bool"),
}
INFINITE_OK = frozenset(name for name, rule in RULES.items() if rule.infinite_ok)


def _num(x: float) -> str:
    return f"{x:.10g}"


def _joined(problems: list[str]) -> str:
    return (
        problems[0]
        if len(problems) == 1
        else "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
    )


def _one(name: str, value: Any) -> tuple[Any, str | None]:
    """``value`` as the constant stores it, or why it is refused."""
    rule = RULES[name]
    default = EngineConfig.model_fields[name].default

    def refused(why: str = "") -> tuple[Any, str]:
        kind = type(value).__name__
        shown = (
            f"{value!r} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})"
            if why == "type"
            else repr(value)
        )
        fix = f"allowed: {rule.allowed()}"
        fix += (
            f" ({rule.meaning}; default {default!r})" if rule.meaning else f" (default {default!r})"
        )
        return value, f"{name} = {shown} is refused; {fix}"

    if rule.kind == "bool":
        return (value, None) if isinstance(value, bool) else refused("type")
    if isinstance(value, bool | np.bool_):  # a bool is an int to Python, never a count or a percent
        return refused("type")
    if rule.kind == "integer":
        if isinstance(value, np.integer):
            value = int(value)
        if rule.infinite_ok and isinstance(value, float | np.floating) and value == math.inf:
            return math.inf, None
        if not isinstance(value, int):
            return refused("type")
        number: float = value
    else:
        if not isinstance(value, int | float | np.integer | np.floating):
            return refused("type")
        number = float(value)
        if not math.isfinite(number):
            return refused()
    if rule.low is not None and (number <= rule.low if rule.low_open else number < rule.low):
        return refused()
    if rule.below is not None and number >= rule.below:
        return refused()
    return (value if rule.kind == "integer" else number), None


def _round_trip_cost(fee: float, slippage: float) -> float:
    return 2 * (fee + slippage)


def checked_values(
    data: dict[str, Any], changed: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """``data`` over the defaults, each value as stored, and every problem with them (empty when
    valid). ``changed``: the keys the caller set, named in the cross-constant fix."""
    values = {name: field.default for name, field in EngineConfig.model_fields.items()}
    problems = []
    for name, value in data.items():
        if (
            name not in RULES
        ):  # extra="forbid" names it; set_config says it first, with the known names
            values[name] = value
            continue
        values[name], problem = _one(name, value)
        if problem:
            problems.append(problem)
    if problems:
        return values, problems
    fee, slip = values["CC_PERCENT_FEE"], values["CC_PERCENT_SLIPPAGE"]
    min_tp = values["CC_MIN_TAKEPROFIT_DISTANCE_PERCENT"]
    need = _round_trip_cost(fee, slip)
    # 2 * (0.2 + 0.1) is 0.6000000000000001: a minimum written as 0.6 meets it
    if min_tp < need and not math.isclose(min_tp, need, rel_tol=1e-9, abs_tol=1e-12):
        suggested = float(_num(need))
        example = {k: values[k] for k in changed if k in ("CC_PERCENT_FEE", "CC_PERCENT_SLIPPAGE")}
        example["CC_MIN_TAKEPROFIT_DISTANCE_PERCENT"] = suggested
        call = ", ".join(f"{k}={v!r}" for k, v in example.items())
        problems.append(
            f"CC_MIN_TAKEPROFIT_DISTANCE_PERCENT = {min_tp!r} is below the round-trip cost 2 x (CC_PERCENT_FEE "
            f"{_num(fee)} + CC_PERCENT_SLIPPAGE {_num(slip)}) = {_num(need)} percent: every take profit at the "
            f"minimum distance would close at a loss. Raise CC_MIN_TAKEPROFIT_DISTANCE_PERCENT with the fee "
            f"or slippage, e.g. set_config({call}), or lower CC_PERCENT_FEE / CC_PERCENT_SLIPPAGE"
        )
    min_sl, max_sl = (
        values["CC_MIN_STOPLOSS_DISTANCE_PERCENT"],
        values["CC_MAX_STOPLOSS_DISTANCE_PERCENT"],
    )
    if min_sl >= max_sl:
        problems.append(
            f"CC_MIN_STOPLOSS_DISTANCE_PERCENT = {min_sl!r} must be below CC_MAX_STOPLOSS_DISTANCE_PERCENT = "
            f"{max_sl!r}: no stop loss could pass both; lower the minimum or raise the maximum"
        )
    return values, problems


def _validated(data: dict[str, Any], where: str, changed: tuple[str, ...] = ()) -> EngineConfig:
    known = list(EngineConfig.model_fields)
    for key in data:
        if key not in EngineConfig.model_fields:
            raise SettingsError(
                f"{where}: unknown key {key!r}; known: {', '.join(known)}."
                + did_you_mean(str(key), known)
            )
    values, problems = checked_values(data, changed)
    if problems:
        raise SettingsError(f"{where}: {_joined(problems)}.")
    try:
        return EngineConfig.model_validate(values)
    except ValidationError as exc:  # not expected: checked_values refuses first, with the fix
        raise SettingsError(f"{where}: {exc}") from exc


_current = EngineConfig()


def get_config() -> EngineConfig:
    """The engine config in force in this process."""
    return _current


def set_config(config: dict[str, Any] | None = None, /, **changes: Any) -> EngineConfig:
    """Change engine constants, e.g. ``set_config(CC_PERCENT_FEE=0.05)``.

    Unknown names are refused with the list of known ones; a value of the wrong type or out
    of range is refused naming the constant, the value and what is allowed, and nothing
    changes. Constants that must agree (the minimum take-profit distance covers
    2 x (fee + slippage)) are checked together: raise them in one call.
    """
    global _current
    changes = {**(config or {}), **changes}
    _current = _validated({**_current.model_dump(), **changes}, "set_config", tuple(changes))
    return _current


def reset_config() -> EngineConfig:
    """Back to the defaults of SEMANTICS.md."""
    global _current
    _current = EngineConfig()
    return _current

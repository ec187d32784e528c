"""Engine constants users may change with ``set_config`` (SEMANTICS.md names).

The config is a frozen value that travels with every run (and in every task
payload), so a worker computes with exactly the numbers the caller had.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import SettingsError, did_you_mean


class EngineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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


_current = EngineConfig()


def get_config() -> EngineConfig:
    """The engine config in force in this process."""
    return _current


def set_config(config: dict[str, Any] | None = None, /, **changes: Any) -> EngineConfig:
    """Change engine constants, e.g. ``set_config(CC_PERCENT_FEE=0.05)``.

    Unknown names are refused with the list of known ones.
    """
    global _current
    changes = {**(config or {}), **changes}
    known = list(EngineConfig.model_fields)
    for key in changes:
        if key not in EngineConfig.model_fields:
            raise SettingsError(
                f"set_config: unknown key {key!r}; known: {', '.join(known)}." + did_you_mean(key, known)
            )
    try:
        _current = _current.model_copy(update={}).model_validate({**_current.model_dump(), **changes})
    except ValidationError as exc:
        raise SettingsError(f"set_config: {exc}") from exc
    return _current


def reset_config() -> EngineConfig:
    """Back to the defaults of SEMANTICS.md."""
    global _current
    _current = EngineConfig()
    return _current

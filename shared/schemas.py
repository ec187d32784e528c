"""The schemas users register by name (SEMANTICS.md section 1).

Each is a frozen pydantic model that refuses unknown keys, so a misspelt
field is an error at registration, not a silent default.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import SchemaError, did_you_mean
from .intervals import FrameInterval, StrategyInterval
from .position_plan import PositionPlan, check_against_callbacks, check_references
from .search_space import Search
from .walk_forward import WalkForward

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-\[\]=,: ]{0,199}$")

Metric = Literal[
    "sharpe_ratio",
    "annualized_sharpe_ratio",
    "win_rate",
    "total_pnl",
    "certainty_ratio",
    "avg_pnl",
    "expected_yearly_returns",
]
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]


def check_name(kind: str, name: str) -> str:
    """Names become file names and Redis keys: no path separators, no '..'."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise SchemaError(
            f"{kind} {name!r} is not a valid name: use letters, digits and - _ . [ ] = , : "
            "(no path separators, no '..', at most 200 characters)"
        )
    return name


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    note: str | None = None


def to_utc(value: datetime | str | int | float) -> datetime:
    """A datetime, ISO string or epoch milliseconds as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise SchemaError(f"expected a datetime, an ISO date string or epoch ms, got {value!r}")


def to_ms(value: datetime) -> int:
    return int(round(value.timestamp() * 1000))


class ExchangeSchema(_Schema):
    exchange_name: str
    get_candles: Callable[..., Any]
    format_price: Callable[[str, float], str] | None = None
    format_quantity: Callable[[str, float], str] | None = None
    source: Any = None  # a built-in candle source with a fast load_range(symbol, start_ms, end_ms)

    _name = field_validator("exchange_name")(lambda v: check_name("exchange_name", v))


class FrameSchema(_Schema):
    frame_name: str
    interval: FrameInterval
    start_date: datetime
    end_date: datetime
    callbacks: dict[str, Callable[..., Any]] = Field(default_factory=dict)

    _name = field_validator("frame_name")(lambda v: check_name("frame_name", v))

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> datetime:
        return to_utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> FrameSchema:
        if self.start_date > self.end_date:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                f'frame "{self.frame_name}": start_date {self.start_date.isoformat()} is after '
                f"end_date {self.end_date.isoformat()}"
            )
        return self


STRATEGY_CALLBACKS = (
    "on_open",
    "on_close",
    "on_active",
    "on_idle",
    "on_schedule",
    "on_cancel",
    # managing an open position (SEMANTICS 9): run on every candle it stays open
    "on_active_ping",
    "on_partial_profit",
    "on_partial_loss",
    "on_breakeven",
)


class StrategySchema(_Schema):
    strategy_name: str
    interval: StrategyInterval
    get_signal: Callable[..., Any] | None = (
        None  # (symbol, when) -> signal | None; backtest and live
    )
    get_signals: Callable[..., Any] | None = (
        None  # (candles, price, params) -> intents; backtest only
    )
    callbacks: dict[str, Callable[..., Any]] = Field(default_factory=dict)
    risk_name: str | None = None
    risk_list: list[str] = Field(
        default_factory=list
    )  # more risks, all must pass (after risk_name)
    params: dict[str, Any] = Field(default_factory=dict)
    # the common position rules as data, which sweeps run at compiled speed (shared/position_plan.py)
    position_plan: PositionPlan | None = None

    _name = field_validator("strategy_name")(lambda v: check_name("strategy_name", v))
    _risks = field_validator("risk_list")(
        lambda v: [check_name("risk_list entry", name) for name in v]
    )

    @field_validator("position_plan")
    @classmethod
    def _plan(cls, plan: PositionPlan | None, info: ValidationInfo) -> PositionPlan | None:
        if plan is not None:  # (params and callbacks, declared above, are validated first)
            check_references(plan, info.data.get("params") or {})
            check_against_callbacks(plan, info.data.get("callbacks") or {})
        return plan

    @model_validator(mode="after")
    def _has_a_signal_function(self) -> StrategySchema:
        if self.get_signal is None and self.get_signals is None:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                "give get_signal(symbol, when), or the vectorised get_signals(candles, price, params), or both"
            )
        return self

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, value: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        for key, fn in value.items():
            if key not in STRATEGY_CALLBACKS:
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"unknown callback {key!r}; known: {', '.join(STRATEGY_CALLBACKS)}"
                )
            if not callable(fn):
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(f"callback {key!r} is not callable")
        return value


class Sweep(BaseModel):
    """A grid of one strategy's params; expands to one variant per combination."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy_name: str
    grid: dict[str, list[Any]]

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Refused at registration: an empty grid, an empty value list, a value
        that cannot travel as JSON to a worker (STYLE 7), or a repeated value."""
        if not value:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError("sweep grid is empty: give at least one parameter, e.g. fast=[5, 10]")
        return _checked_grid(value)


def _checked_grid(value: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """A grid's value lists, each non-empty, JSON, and without a repeated value."""
    for key, values in value.items():
        if not values:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(f"sweep parameter {key!r} has no values: give at least one")
        for item in values:
            if not _json_value(item):
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"sweep parameter {key}={item!r} ({type(item).__name__}) cannot be sent to "
                    "workers as JSON: use str, int, float (finite), bool, None, or lists/dicts of them"
                )
        if _has_repeat(values):
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(f"sweep parameter {key!r} repeats a value in {values!r}")
    return value


def _has_repeat(values: list[Any]) -> bool:
    """Two values that travel as the same JSON (1 and 1.0 do not, nor 1 and true). Values
    that are str, int, bool or None are told apart by type and value (a 20,000-value grid
    in ~5 instead of ~40 ms, paid by every process that imports its module); others by
    their JSON text."""
    if all(v is None or type(v) in (str, int, bool) for v in values):
        seen: set[Any] = {(type(v), v) for v in values}
    else:
        seen = {json.dumps(v, sort_keys=True) for v in values}
    return len(seen) != len(values)


def _json_value(value: Any) -> bool:
    """True for values that survive a JSON round trip unchanged."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_value(v) for k, v in value.items())
    return False


def sweep(strategy_name: str, **grid: list[Any]) -> Sweep:
    """``sweep("sma-cross", fast=[5, 10], slow=[20, 50])`` for a walker's strategies.

    Each value must be a list or tuple (or a range): a string would be split into
    its letters, a set has no order, so both are refused with the fix."""
    for key, values in grid.items():
        if not isinstance(values, list | tuple | range):
            kind = type(values).__name__
            hint = (
                f"{key}=[{values!r}]"
                if isinstance(values, str | int | float | bool) or values is None
                else f"{key}=sorted({values!r})"
                if isinstance(values, set | frozenset)
                else f"{key}=[...]"
            )
            raise SchemaError(
                f"sweep({strategy_name!r}): {key}={values!r} is a {kind}, not a list of "
                f"values; write {hint}"
            )
    try:
        return Sweep(strategy_name=strategy_name, grid={k: list(v) for k, v in grid.items()})
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise SchemaError(f"sweep({strategy_name!r}): {problems}") from None


PORTFOLIO_GRID_KEYS = (
    "max_positions",
    "capital",
)  # beside each member's "SYMBOL:strategy_name.param"
MEMBER_PARAM_KEY = re.compile(r"^.+:.+\..+$")  # "SYMBOL:strategy_name.param"


class PortfolioSweep(BaseModel):
    """A portfolio in a walker's strategies: the registered portfolio (no ``grid``: one
    variant), or a grid of its params, one variant per combination (the first key varying
    slowest), each one farm task. ``grid`` keys: ``"max_positions"`` (the portfolio risk's),
    ``"capital"``, and ``"SYMBOL:strategy_name.param"`` (a member strategy's param; a
    ``"members": {"SYMBOL:strategy_name": {param: [values]}}`` entry is written as those keys).
    A variant's params are ``PortfolioRun``'s (shared/engine/portfolio_run.py). What needs the
    registry (the portfolio, its members, their params) is checked when the walker runs
    (orchestrator/sweeps/variants.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    portfolio_name: str
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    _name = field_validator("portfolio_name")(lambda v: check_name("portfolio_name", v))

    @field_validator("grid", mode="before")
    @classmethod
    def _members_written_flat(cls, value: Any) -> Any:
        if not isinstance(value, dict) or "members" not in value:
            return value
        members = value["members"]
        if not isinstance(members, dict) or not all(isinstance(p, dict) for p in members.values()):
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                'grid["members"] must map "SYMBOL:strategy_name" to {param: [values]}, got '
                f"{members!r}"
            )
        flat: dict[str, Any] = {}
        for key, values in value.items():
            if key != "members":
                flat[key] = values
                continue
            for member, params in members.items():
                for param, member_values in params.items():
                    name = f"{member}.{param}"
                    if name in value:
                        # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                        raise ValueError(
                            f'{name!r} is in grid and in grid["members"]: give its values once'
                        )
                    flat[name] = member_values
        return flat

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key in value:
            if key not in PORTFOLIO_GRID_KEYS and not MEMBER_PARAM_KEY.match(key):
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"grid key {key!r} is not a portfolio's param."
                    + did_you_mean(key, PORTFOLIO_GRID_KEYS)
                    + " Give max_positions, capital, or a member's strategy param as "
                    '"SYMBOL:strategy_name.param" (e.g. "BTCUSDT:sma-cross.fast")'
                )
        return _checked_grid(value)


def portfolio_sweep(
    portfolio_name: str,
    members: dict[str, dict[str, list[Any]]] | None = None,
    **grid: list[Any],
) -> PortfolioSweep:
    """``portfolio_sweep("duo", max_positions=[1, 2], members={"BTCUSDT:sma-cross": {"fast":
    [5, 10]}})`` for a walker's strategies: the portfolio's variants (``portfolio_sweep("duo")``:
    the registered portfolio alone). Each value is a list, as ``sweep``'s."""
    given = {**grid, **({"members": members} if members is not None else {})}
    for key, values in [
        *grid.items(),
        *(
            (f"{m}.{p}", v)
            for m, params in (members or {}).items()
            if isinstance(params, dict)
            for p, v in params.items()
        ),
    ]:
        if not isinstance(values, list | tuple | range):
            raise SchemaError(
                f"portfolio_sweep({portfolio_name!r}): {key}={values!r} is a "
                f"{type(values).__name__}, not a list of values; write [{values!r}]"
            )
    try:
        return PortfolioSweep(portfolio_name=portfolio_name, grid=_as_lists(given))
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise SchemaError(f"portfolio_sweep({portfolio_name!r}): {problems}") from None


def _as_lists(grid: dict[str, Any]) -> dict[str, Any]:
    """Tuples and ranges as lists, in a grid and in its "members" entry."""
    return {
        key: (
            {m: _as_lists(p) if isinstance(p, dict) else p for m, p in values.items()}
            if key == "members" and isinstance(values, dict)
            else list(values)
            if isinstance(values, tuple | range)
            else values
        )
        for key, values in grid.items()
    }


class WalkerSchema(_Schema):
    walker_name: str
    exchange_name: str
    frame_name: str
    strategies: list[str | Sweep | Search | PortfolioSweep]
    metric: Metric = "sharpe_ratio"
    min_trades: int = Field(default=1, ge=0)  # fewer closed signals: listed, not ranked
    # the winner is refused (no best, and the report says why) when its deflated Sharpe ratio
    # is below min_dsr or the sweep's probability of backtest overfitting above max_pbo
    min_dsr: float | None = Field(default=None, ge=0, le=1)
    max_pbo: float | None = Field(default=None, ge=0, le=1)
    # the frame cut into training and test windows (shared/walk_forward.py); None: one sweep
    walk_forward: WalkForward | None = None
    callbacks: dict[str, Callable[..., Any]] = Field(default_factory=dict)

    _name = field_validator("walker_name")(lambda v: check_name("walker_name", v))

    @field_validator("strategies")
    @classmethod
    def _non_empty(
        cls, value: list[str | Sweep | Search | PortfolioSweep]
    ) -> list[str | Sweep | Search | PortfolioSweep]:
        if not value:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError("strategies is empty: list at least one strategy name or sweep")
        if any(isinstance(v, Search) for v in value) and len(value) > 1:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                "a walker with a search lists only that search: its trials are ranked among "
                "themselves; put the grids and other strategies in a walker of their own"
            )
        return value

    @property
    def search(self) -> Search | None:
        """The walker's search, when it is one (its only entry)."""
        first = self.strategies[0]
        return first if isinstance(first, Search) else None


RISK_CALLBACKS = ("on_rejected", "on_allowed")  # backtest-kit's IRiskCallbacks: (symbol, params)
RISK_VALIDATION_KEYS = ("validate", "note")  # backtest-kit's IRiskValidation


class RiskSchema(_Schema):
    """A risk (SEMANTICS 1; backtest-kit's IRiskSchema, snake_case). ``validations``: functions
    of the payload, or ``{"validate": fn, "note": str}``; None, False or "" passes, a non-empty
    string or ``{"id", "note"}`` rejects, a raise rejects with its message (shared/risk_check.py).
    ``max_positions``: a rule given as data, which every lane (the compiled one too) can
    evaluate: a signal is rejected while that many positions of this risk are open."""

    risk_name: str
    validations: list[Any] = Field(default_factory=list)
    callbacks: dict[str, Callable[..., Any]] = Field(default_factory=dict)
    max_positions: int | None = Field(default=None, strict=True)

    _name = field_validator("risk_name")(lambda v: check_name("risk_name", v))

    @field_validator("validations")
    @classmethod
    def _validations(cls, value: list[Any]) -> list[Any]:
        for k, item in enumerate(value):
            if callable(item):
                continue
            if not isinstance(item, dict):
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"validations[{k}] is {type(item).__name__} {item!r}: give a function of the "
                    'payload, or {"validate": fn, "note": "what it checks"}'
                )
            unknown = [key for key in item if key not in RISK_VALIDATION_KEYS]
            if unknown:
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"validations[{k}] has unknown key {unknown[0]!r}."
                    + did_you_mean(str(unknown[0]), RISK_VALIDATION_KEYS)
                    + ' Give {"validate": fn, "note": "what it checks"}'
                )
            if not callable(item.get("validate")):
                given = (
                    "is missing"
                    if "validate" not in item
                    else f"is {item['validate']!r}, not a function"
                )
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f'validations[{k}]["validate"] {given}: give the function that checks the '
                    'payload, e.g. {"validate": lambda p: None, "note": "..."}'
                )
            note = item.get("note")
            if note is not None and not isinstance(note, str):
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f'validations[{k}]["note"] is {note!r}: give a string, or leave it out'
                )
        return value

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, value: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        for key, fn in value.items():
            if key not in RISK_CALLBACKS:
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"unknown callback {key!r}."
                    + did_you_mean(key, RISK_CALLBACKS)
                    + f" A risk's callbacks are {', '.join(RISK_CALLBACKS)}"
                )
            if not callable(fn):
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(f"callback {key!r} is not callable")
        return value

    @field_validator("max_positions")
    @classmethod
    def _max_positions(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                f"max_positions must be 1 or more (at 0 no signal could ever open), got {value}; "
                "leave it out for no limit"
            )
        return value


SizingMethod = Literal["fixed-percentage", "kelly-criterion", "atr-based"]
SIZING_CALLBACKS = (
    "on_calculate",
)  # (quantity, params) after the clamps, as backtest-kit's onCalculate
# what each method reads beside the clamps; a field of another method is refused, not ignored
SIZING_FIELDS: dict[str, tuple[str, ...]] = {
    "fixed-percentage": ("risk_percentage",),
    "kelly-criterion": ("kelly_multiplier",),
    "atr-based": ("risk_percentage", "atr_multiplier"),
}
# backtest-kit's defaults (src/client/ClientSizing.ts: kellyMultiplier = 0.25, atrMultiplier = 2)
SIZING_DEFAULTS = {"kelly_multiplier": 0.25, "atr_multiplier": 2.0}
# (low, low included, high) of each number; None: no bound. Percentages are 0-100 as in backtest-kit.
SIZING_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "risk_percentage": (0.0, False, 100.0),  # percent of the balance risked per trade
    "kelly_multiplier": (0.0, True, 1.0),  # fraction of the Kelly bet (0.25: quarter Kelly)
    "atr_multiplier": (0.0, False, None),  # the stop is atr x this away
    "min_position_size": (0.0, True, None),  # units of the asset
    "max_position_percentage": (
        0.0,
        False,
        100.0,
    ),  # percent of the balance, as units at price_open
    "max_position_size": (0.0, False, None),  # units of the asset
}
_SIZING_EXAMPLE = {
    "risk_percentage": "risk_percentage=1",
    "kelly_multiplier": "kelly_multiplier=0.25",
    "atr_multiplier": "atr_multiplier=2",
}


class SizingSchema(_Schema):
    """How many units of the asset a position holds: backtest-kit's ISizingSchema
    (src/interfaces/Sizing.interface.ts), snake_case. ``PositionSize``
    (shared/sizing.py) computes with it; the registration checks each method's
    required field, refuses another method's, and refuses numbers out of range."""

    sizing_name: str
    method: SizingMethod
    risk_percentage: float | None = Field(default=None, strict=True)
    kelly_multiplier: float | None = Field(default=None, strict=True)
    atr_multiplier: float | None = Field(default=None, strict=True)
    min_position_size: float | None = Field(default=None, strict=True)
    max_position_percentage: float | None = Field(default=None, strict=True)
    max_position_size: float | None = Field(default=None, strict=True)
    callbacks: dict[str, Callable[..., Any]] = Field(default_factory=dict)

    _name = field_validator("sizing_name")(lambda v: check_name("sizing_name", v))

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("method") not in SIZING_FIELDS:
            known = " or ".join(f'"{m}"' for m in SIZING_FIELDS)
            given = data.get("method")
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                f"method is missing: give method={known}"
                if given is None
                else f"method {given!r} is unknown."
                + did_you_mean(str(given), SIZING_FIELDS)
                + f" Give one of {known}"
            )
        if isinstance(data, dict):
            for key in SIZING_FIELDS[data["method"]]:
                if key in SIZING_DEFAULTS and data.get(key) is None:
                    data = {**data, key: SIZING_DEFAULTS[key]}
        return data

    @model_validator(mode="after")
    def _method_fields(self) -> SizingSchema:
        wanted = SIZING_FIELDS[self.method]
        for key in ("risk_percentage", "kelly_multiplier", "atr_multiplier"):
            value = getattr(self, key)
            if key in wanted and value is None:
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f'method "{self.method}" needs {key}: give it, e.g. {_SIZING_EXAMPLE[key]}'
                )
            if key not in wanted and value is not None:
                users = [m for m, keys in SIZING_FIELDS.items() if key in keys]
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f'{key}={value!r} is not read by method "{self.method}" (only by '
                    f"{' and '.join(users)}): remove it, or change the method"
                )
        for key, (low, low_included, high) in SIZING_RANGES.items():
            value = getattr(self, key)
            if value is None:
                continue
            if not (
                math.isfinite(value)
                and (value >= low if low_included else value > low)
                and (high is None or value <= high)
            ):
                shown = (
                    f"{'[' if low_included else '('}{low:g}, {high:g}]"
                    if high is not None
                    else f"{'>=' if low_included else '>'} {low:g}"
                )
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(f"{key}={value!r} is out of range: give a finite number {shown}")
        if (
            self.min_position_size is not None
            and self.max_position_size is not None
            and self.min_position_size > self.max_position_size
        ):
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                f"min_position_size={self.min_position_size!r} is above max_position_size="
                f"{self.max_position_size!r}: the cap is applied last, so the floor would never hold; "
                "lower the floor or raise the cap"
            )
        for key, fn in self.callbacks.items():
            if key not in SIZING_CALLBACKS or not callable(fn):
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"callback {key!r} is unknown or not callable; known: "
                    f"{', '.join(SIZING_CALLBACKS)} (a function of quantity, params)"
                )
        return self


class PortfolioMember(BaseModel):
    """One member of a portfolio: a registered strategy trading one symbol."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    strategy_name: str

    _name = field_validator("strategy_name")(lambda v: check_name("strategy_name", v))

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not value.strip():
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError('symbol is empty: give the symbol the exchange lists, e.g. "BTCUSDT"')
        return value

    @property
    def key(self) -> str:
        """How the member is addressed (a variant's params, reports): ``symbol:strategy_name``."""
        return f"{self.symbol}:{self.strategy_name}"


class PortfolioSchema(_Schema):
    """Several strategies on their symbols, run minute by minute together over one frame of one
    exchange (shared/engine/portfolio_walk.py), so ``risk_name`` (checked before every member's
    own risks) sees every member's positions at the same simulated time, and ``capital`` (dollars;
    None: no limit) pays each entry's cost and gets it back, with its PnL, at the close."""

    portfolio_name: str
    exchange_name: str
    frame_name: str
    members: list[PortfolioMember]
    risk_name: str | None = None
    capital: float | None = None

    _name = field_validator("portfolio_name")(lambda v: check_name("portfolio_name", v))

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[PortfolioMember]) -> list[PortfolioMember]:
        if not value:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                'members is empty: list at least one {"symbol": ..., "strategy_name": ...}'
            )
        seen: dict[tuple[str, str], int] = {}
        for k, member in enumerate(value):
            pair = (member.symbol, member.strategy_name)
            if pair in seen:
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f'members[{seen[pair]}] and members[{k}] are both strategy "{member.strategy_name}" on '
                    f"{member.symbol}: a strategy trades a symbol once in a portfolio; remove one, or register "
                    f'the strategy again under another name (add_strategy(..., strategy_name="'
                    f'{member.strategy_name}-2")) to run it twice'
                )
            seen[pair] = k
        return value

    @field_validator("capital", mode="before")
    @classmethod
    def _capital(cls, value: Any) -> Any:
        if value is None:
            return None
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or number <= 0:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(
                f"capital must be a finite number of dollars > 0, got {value!r}; "
                "leave it out (None) for no capital limit"
            )
        return float(number)

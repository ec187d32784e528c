"""Named schemas: ``add_*`` to register, ``get_*`` to use, ``list_*`` to see.

Bad schemas are refused at registration; a missing name is refused at use,
with an error naming the schema and the method that needed it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import NotRegisteredError, SchemaError, did_you_mean
from .frame_windows import window_of
from .risk_check import risk_names
from .same_definition import differing_fields
from .schemas import (
    ExchangeSchema,
    FrameSchema,
    PortfolioSchema,
    RiskSchema,
    SizingSchema,
    StrategySchema,
    WalkerSchema,
)

S = TypeVar("S", bound=BaseModel)

KINDS: dict[str, tuple[type[BaseModel], str]] = {
    "exchange": (ExchangeSchema, "exchange_name"),
    "frame": (FrameSchema, "frame_name"),
    "strategy": (StrategySchema, "strategy_name"),
    "walker": (WalkerSchema, "walker_name"),
    "risk": (RiskSchema, "risk_name"),
    "sizing": (SizingSchema, "sizing_name"),
    "portfolio": (PortfolioSchema, "portfolio_name"),
}
# kinds two modules may both register under one name, when the definitions are the same
# (same_definition.py): a market and a time range are what several strategy modules share;
# a strategy, walker, risk, sizing or portfolio registered twice is a mistake to report
SHAREABLE_KINDS = ("exchange", "frame")


def caller_origin(depth: int = 1) -> str | None:
    """What a worker must import to get the registrations the caller makes: the
    calling module's dotted name, or its file's absolute path when it is the
    running script (``__main__``) or was imported from a path; None when it has
    neither (an interactive session, ``python -c``)."""
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    if frame is None:
        return None
    name = frame.f_globals.get("__name__")
    file = frame.f_globals.get("__file__")
    if name == "__main__" or (name or "").startswith("btfarm_user_"):
        return str(Path(file).resolve()) if file else None
    return name


class Registry:
    def __init__(self) -> None:
        self._items: dict[str, dict[str, BaseModel]] = {kind: {} for kind in KINDS}
        self._origins: dict[str, dict[str, str | None]] = {kind: {} for kind in KINDS}

    def add(
        self,
        kind: str,
        schema: BaseModel | dict[str, Any] | None,
        override: bool,
        fields: dict[str, Any],
        origin: str | None = None,
    ) -> Any:
        """Register ``schema``; ``origin`` names the module that did (default: the caller's)."""
        model, name_field = KINDS[kind]
        if isinstance(schema, model):
            item = schema.model_copy(update=fields) if fields else schema
        else:
            data = {**(dict(schema) if schema else {}), **fields}
            try:
                item = model.model_validate(data)
            except ValidationError as exc:
                raise SchemaError(_describe(f"add_{kind}", data.get(name_field), exc)) from exc
        name = getattr(item, name_field)
        origin = origin or caller_origin()
        if name in self._items[kind] and not override:
            registered = self._items[kind][name]
            differ = differing_fields(registered, item)
            if kind in SHAREABLE_KINDS and not differ:
                return registered  # a second module sharing the definition: nothing to do
            raise SchemaError(
                f'add_{kind}: {kind} "{name}" is already registered; pass override=True to replace it, '
                f"or give one of them another name. It was registered by {_module(self.origin(kind, name))}; "
                f"{_module(origin)} registers "
                + (
                    f"a different definition ({', '.join(differ)} differ{'s' if len(differ) == 1 else ''})"
                    if differ
                    else "it again"
                )
            )
        self._items[kind][name] = item
        self._origins[kind][name] = origin
        return item

    def origin(self, kind: str, name: str) -> str | None:
        """The module (dotted name or file path) whose code registered ``name``."""
        return self._origins[kind].get(name)

    def get(self, kind: str, name: str, needed_by: str) -> Any:
        items = self._items[kind]
        try:
            return items[name]
        except (KeyError, TypeError):
            raise NotRegisteredError(
                f'{kind} "{name}" not found (needed by {needed_by}).'
                + did_you_mean(str(name), items)
                + f" Register it with add_{kind}(...)"
                + (
                    f"; registered: {', '.join(sorted(items))}."
                    if items
                    else "; none is registered."
                )
            ) from None

    def names(self, kind: str) -> list[str]:
        return list(self._items[kind])

    def items(self, kind: str) -> list[Any]:
        return list(self._items[kind].values())

    def clear(self) -> None:
        for items in self._items.values():
            items.clear()
        for origins in self._origins.values():
            origins.clear()


def _module(origin: str | None) -> str:
    return f"module {origin}" if origin else "an interactive session"


def _describe(method: str, name: Any, exc: ValidationError) -> str:
    where = f' "{name}"' if name else ""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "schema"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        given = err.get("input")
        shown = (
            ""
            if err["type"] in {"missing", "model_type"} or callable(given)
            else f" (got {given!r})"
        )
        problems.append(f"{loc}: {msg}{shown}")
    return f"{method}{where}: " + "; ".join(problems)


registry = Registry()


def add_exchange(
    schema: ExchangeSchema | dict[str, Any] | None = None,
    /,
    *,
    override: bool = False,
    **fields: Any,
) -> ExchangeSchema:
    return registry.add("exchange", schema, override, fields)


def add_frame(
    schema: FrameSchema | dict[str, Any] | None = None, /, *, override: bool = False, **fields: Any
) -> FrameSchema:
    return registry.add("frame", schema, override, fields)


def add_strategy(
    schema: StrategySchema | dict[str, Any] | None = None,
    /,
    *,
    override: bool = False,
    **fields: Any,
) -> StrategySchema:
    return registry.add("strategy", schema, override, fields)


def add_walker(
    schema: WalkerSchema | dict[str, Any] | None = None, /, *, override: bool = False, **fields: Any
) -> WalkerSchema:
    return registry.add("walker", schema, override, fields)


def add_risk(
    schema: RiskSchema | dict[str, Any] | None = None, /, *, override: bool = False, **fields: Any
) -> RiskSchema:
    return registry.add("risk", schema, override, fields)


def add_sizing(
    schema: SizingSchema | dict[str, Any] | None = None, /, *, override: bool = False, **fields: Any
) -> SizingSchema:
    return registry.add("sizing", schema, override, fields)


def add_portfolio(
    schema: PortfolioSchema | dict[str, Any] | None = None,
    /,
    *,
    override: bool = False,
    **fields: Any,
) -> PortfolioSchema:
    """Register a portfolio: ``portfolio_name``, ``exchange_name``, ``frame_name``, ``members``
    (``[{"symbol": ..., "strategy_name": ...}, ...]``), optional ``risk_name`` and ``capital``
    (dollars). Its names are checked when it runs (``Portfolio.run``), like a walker's."""
    return registry.add("portfolio", schema, override, fields)


def get_exchange(name: str, needed_by: str = "get_exchange") -> ExchangeSchema:
    return registry.get("exchange", name, needed_by)


def get_frame(name: str, needed_by: str = "get_frame") -> FrameSchema:
    """A registered frame, or a window of one named by its range (frame_windows.py)."""
    try:
        return registry.get("frame", name, needed_by)
    except NotRegisteredError:
        window = window_of(registry, name, needed_by)
        if window is None:
            raise
        return window


def get_strategy(name: str, needed_by: str = "get_strategy") -> StrategySchema:
    return registry.get("strategy", name, needed_by)


def get_walker(name: str, needed_by: str = "get_walker") -> WalkerSchema:
    return registry.get("walker", name, needed_by)


def get_risk(name: str, needed_by: str = "get_risk") -> RiskSchema:
    return registry.get("risk", name, needed_by)


def get_strategy_risks(
    strategy: StrategySchema,
    needed_by: str = "get_strategy_risks",
    given: RiskSchema | list[RiskSchema] | None = None,
) -> list[RiskSchema]:
    """The risks ``strategy`` names (``risk_name`` then ``risk_list``, risk_check.risk_names),
    in order; ``given``: schemas already looked up (they come first, and are not looked up
    again). A name not registered is an error naming the strategy and the field."""
    found = [given] if isinstance(given, RiskSchema) else list(given or ())
    have = {risk.risk_name for risk in found}
    for name in risk_names(strategy):
        if name not in have:
            field = "risk_name" if name == strategy.risk_name else "risk_list"
            found.append(
                get_risk(name, f'{needed_by}: {field} of strategy "{strategy.strategy_name}"')
            )
            have.add(name)
    return found


def get_portfolio(name: str, needed_by: str = "get_portfolio") -> PortfolioSchema:
    return registry.get("portfolio", name, needed_by)


def get_sizing(name: str, needed_by: str = "get_sizing") -> SizingSchema:
    return registry.get("sizing", name, needed_by)


def list_exchanges() -> list[ExchangeSchema]:
    return registry.items("exchange")


def list_frames() -> list[FrameSchema]:
    return registry.items("frame")


def list_strategies() -> list[StrategySchema]:
    return registry.items("strategy")


def list_walkers() -> list[WalkerSchema]:
    return registry.items("walker")


def list_risks() -> list[RiskSchema]:
    return registry.items("risk")


def list_sizings() -> list[SizingSchema]:
    return registry.items("sizing")


def list_portfolios() -> list[PortfolioSchema]:
    return registry.items("portfolio")

"""A walker's strategies as a variant space: names plus JSON parameters, by index.

``sweep("sma-cross", fast=[5, 10], slow=[20, 50])`` becomes four variants
named ``sma-cross[fast=5,slow=20]`` ... in the grid's order (the first key
varies slowest), each carrying the strategy's registered params updated with
its combination. A plain name is one variant with the registered params. A
portfolio (``PortfolioSweep``) is the same: ``duo[max_positions=1]`` ... each
carrying its combination as ``PortfolioRun``'s params. The space keeps the
grids, not the expanded list (shared/variant_space.py).

What ``Sweep`` cannot check at registration (the strategy may be registered
later) is checked here, before anything is submitted: the strategy exists,
each grid key is one of its declared params (when it declares any), and no
two variants share a name.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Any

from btfarm.shared.engine.portfolio_run import apply_params, member_param
from btfarm.shared.errors import NotRegisteredError, SchemaError, UsageError, did_you_mean
from btfarm.shared.registry import (
    get_portfolio,
    get_risk,
    get_strategy,
    get_strategy_risks,
    registry,
)
from btfarm.shared.schemas import PORTFOLIO_GRID_KEYS, PortfolioSweep, Sweep, WalkerSchema
from btfarm.shared.variant_space import VariantSpace, variant_name

__all__ = ["expand", "variant_name"]

NAMES_CHECKED_AT_ONCE = 100_000  # above this, items are compared value set by value set


def expand(walker: WalkerSchema, needed_by: str = "Walker.run") -> VariantSpace:
    """Every variant of ``walker`` in its listed order; raises SchemaError or NotRegisteredError."""
    if walker.search is not None:
        raise UsageError(
            f"walker {walker.walker_name!r} is a search: its trials are proposed as it runs, "
            "so it has no variants to list beforehand (Walker.run runs it, on one symbol)"
        )
    items: list[dict[str, Any]] = []
    for entry in walker.strategies:
        if isinstance(entry, Sweep):
            items.append(_sweep_item(entry, walker.walker_name, needed_by))
        elif isinstance(entry, PortfolioSweep):
            items.append(_portfolio_item(entry, walker, needed_by))
        elif isinstance(entry, str):  # (a Search is its walker's only entry: refused above)
            strategy = _strategy_named(entry, walker.walker_name, needed_by)
            _check_risk(strategy, needed_by)
            items.append(
                {
                    "base": entry,
                    "keys": [],
                    "values": [],
                    "declared": None,
                    "module": _module_of(strategy),
                }
            )
    space = VariantSpace(items)
    _refuse_repeats(space, walker.walker_name)
    return space


def _sweep_item(entry: Sweep, walker_name: str, needed_by: str) -> dict[str, Any]:
    strategy = get_strategy(entry.strategy_name, needed_by)
    _check_risk(strategy, needed_by)
    declared = dict(strategy.params)
    if declared:
        for key in entry.grid:
            if key not in declared:
                raise SchemaError(
                    f"walker {walker_name!r}: sweep of {entry.strategy_name!r} sets {key!r}, which is "
                    f"not one of its params ({', '.join(declared)})." + did_you_mean(key, declared)
                )
    return {
        "base": entry.strategy_name,
        "keys": list(entry.grid),
        "values": [list(v) for v in entry.grid.values()],
        "declared": declared,
        "module": _module_of(strategy),
    }


def _strategy_named(name: str, walker_name: str, needed_by: str) -> Any:
    """The strategy a walker lists by name; a portfolio's name there is refused with the fix."""
    try:
        return get_strategy(name, needed_by)
    except NotRegisteredError:
        if name in registry.names("portfolio"):
            raise SchemaError(
                f"walker {walker_name!r} lists {name!r}, which is a portfolio, as a strategy: "
                f'list it as {{"portfolio_name": "{name}"}} (or portfolio_sweep("{name}", ...) '
                "to vary it)"
            ) from None
        raise


def _portfolio_item(entry: PortfolioSweep, walker: WalkerSchema, needed_by: str) -> dict[str, Any]:
    """A portfolio's variants, checked as far as the registry allows: the portfolio, its
    exchange and frame (the walker's: a walker ranks variants of one market and frame), its
    members' strategies and risks, each grid key (a member's declared param, or a risk number
    the portfolio has), and each value (as ``PortfolioRun`` would refuse it)."""
    name = entry.portfolio_name
    where = f"walker {walker.walker_name!r}: portfolio {name!r}"
    portfolio = get_portfolio(name, needed_by)
    for field in ("exchange_name", "frame_name"):
        mine, walkers = getattr(portfolio, field), getattr(walker, field)
        if mine != walkers:
            raise SchemaError(
                f"{where} runs on {field} {mine!r}, the walker on {walkers!r}: a walker ranks "
                f"variants of one exchange and frame; give the walker {field}={mine!r}, or list "
                "a portfolio registered on the walker's"
            )
    strategies = {
        m.key: get_strategy(m.strategy_name, f"{needed_by}: {where}, member {m.key}")
        for m in portfolio.members
    }
    for strategy in strategies.values():
        _check_risk(strategy, needed_by)
    if portfolio.risk_name:
        get_risk(portfolio.risk_name, f"{needed_by}: {where}")
    for key, values in entry.grid.items():
        found = member_param(key, list(strategies))
        if key not in PORTFOLIO_GRID_KEYS and found is None:
            raise SchemaError(
                f"{where}: grid key {key!r} is not the param of any member."
                + did_you_mean(key, [f"{k}.{p}" for k, s in strategies.items() for p in s.params])
                + f" Its members are {', '.join(strategies)}; write a member's param as "
                '"SYMBOL:strategy_name.param"'
            )
        if found is not None:
            member, param = found
            declared = strategies[member].params
            if declared and param not in declared:
                raise SchemaError(
                    f"{where}: grid key {key!r} sets {param!r}, which is not one of the params "
                    f"of member {member} ({', '.join(declared)})." + did_you_mean(param, declared)
                )
            continue
        for value in values:
            try:
                apply_params(portfolio, {key: value})
            except UsageError as exc:
                raise SchemaError(f"walker {walker.walker_name!r}: {exc}") from None
    return {
        "base": name,
        "kind": "portfolio",
        "keys": list(entry.grid),
        "values": [list(v) for v in entry.grid.values()],
        "declared": None,
        "module": registry.origin("portfolio", name),
        "strategies": list(dict.fromkeys(m.strategy_name for m in portfolio.members)),
    }


def _refuse_repeats(space: VariantSpace, walker_name: str) -> None:
    """No two variants share a name. Within a grid they cannot (Sweep refuses a repeated
    value); across items only those of one strategy with the same keys can, so only those
    are compared: by their names when few, else key by key (two grids overlap when every
    key's value lists do)."""
    groups: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    for at, item in enumerate(space.items):
        groups[(item["base"], tuple(item["keys"]))].append(at)
    for members in groups.values():
        if len(members) < 2:
            continue
        if sum(len(space.span(m)) for m in members) <= NAMES_CHECKED_AT_ONCE:
            seen: set[str] = set()
            for m in members:
                for index in space.span(m):
                    name = space.name(index)
                    if name in seen:
                        _twice(walker_name, name)
                    seen.add(name)
            continue
        value_sets = [
            [{json.dumps(v, sort_keys=True) for v in values} for values in space.items[m]["values"]]
            for m in members
        ]
        for a, b in itertools.combinations(range(len(members)), 2):
            shared = [sa & sb for sa, sb in zip(value_sets[a], value_sets[b], strict=True)]
            if all(shared):
                item = space.items[members[a]]
                combo = {k: json.loads(min(s)) for k, s in zip(item["keys"], shared, strict=True)}
                _twice(walker_name, variant_name(item["base"], combo) if combo else item["base"])


def _twice(walker_name: str, name: str) -> None:
    raise SchemaError(
        f"walker {walker_name!r} lists {name!r} twice; each strategy or variant may appear once"
    )


def _check_risk(strategy: Any, needed_by: str) -> None:
    """Every risk the strategy names (``risk_name`` and ``risk_list``) is registered: a
    typo fails the walker here, not each variant on a worker."""
    get_strategy_risks(strategy, needed_by)


def _module_of(strategy: Any) -> str | None:
    """What a worker must import to have the strategy: the module that registered
    it (a dotted name, or the file of a script), not the one defining its code."""
    return registry.origin("strategy", strategy.strategy_name)

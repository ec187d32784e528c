"""Expanding a walker's strategies into variants: names plus JSON parameters.

``sweep("sma-cross", fast=[5, 10], slow=[20, 50])`` becomes four variants
named ``sma-cross[fast=5,slow=20]`` ... in the grid's order (the first key
varies slowest), each carrying the strategy's registered params updated with
its combination. A plain name is one variant with the registered params.

What ``Sweep`` cannot check at registration (the strategy may be registered
later) is checked here, before anything is submitted: the strategy exists,
each grid key is one of its declared params (when it declares any), and no
two variants share a name.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from btfarm.shared.errors import SchemaError, did_you_mean
from btfarm.shared.payloads import Variant
from btfarm.shared.registry import get_risk, get_strategy, registry
from btfarm.shared.schemas import Sweep, WalkerSchema


def variant_name(strategy_name: str, combo: dict[str, Any]) -> str:
    """``sma-cross[fast=5,slow=20]``: keys in grid order, values as JSON (strings bare)."""
    parts = [f"{k}={v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))}"
             for k, v in combo.items()]
    return f"{strategy_name}[{','.join(parts)}]"


def expand(walker: WalkerSchema, needed_by: str = "Walker.run") -> list[Variant]:
    """Every variant of ``walker`` in its listed order; raises SchemaError or NotRegisteredError."""
    variants: list[Variant] = []
    for item in walker.strategies:
        if isinstance(item, Sweep):
            variants.extend(_expand_sweep(item, walker.walker_name, needed_by))
        else:
            strategy = get_strategy(item, needed_by)
            _check_risk(strategy, needed_by)
            variants.append(Variant(strategy_name=item, base=item, params=None,
                                    module=_module_of(strategy)))
    seen: set[str] = set()
    for v in variants:
        if v.strategy_name in seen:
            raise SchemaError(f"walker {walker.walker_name!r} lists {v.strategy_name!r} twice; "
                              "each strategy or variant may appear once")
        seen.add(v.strategy_name)
    return variants


def _expand_sweep(item: Sweep, walker_name: str, needed_by: str) -> list[Variant]:
    strategy = get_strategy(item.strategy_name, needed_by)
    _check_risk(strategy, needed_by)
    declared = dict(strategy.params)
    if declared:
        for key in item.grid:
            if key not in declared:
                raise SchemaError(
                    f"walker {walker_name!r}: sweep of {item.strategy_name!r} sets {key!r}, which is "
                    f"not one of its params ({', '.join(declared)})." + did_you_mean(key, declared))
    keys = list(item.grid)
    module = _module_of(strategy)
    out = []
    for values in itertools.product(*(item.grid[k] for k in keys)):
        combo = dict(zip(keys, values, strict=True))
        out.append(Variant(strategy_name=variant_name(item.strategy_name, combo),
                           base=item.strategy_name, params={**declared, **combo}, module=module))
    return out


def _check_risk(strategy: Any, needed_by: str) -> None:
    if strategy.risk_name:
        get_risk(strategy.risk_name, needed_by)


def _module_of(strategy: Any) -> str | None:
    """What a worker must import to have the strategy: the module that registered
    it (a dotted name, or the file of a script), not the one defining its code."""
    return registry.origin("strategy", strategy.strategy_name)

"""A search over one strategy's params, beside the grids of ``sweep``: Optuna proposes the
trials (orchestrator/searches/run.py), the farm runs them.

``search("sma-cross", n_trials=200, fast=(3, 50), slow=(10, 200),
constraint=lambda p: p["fast"] < p["slow"])``: a pair of ints is an integer
range, a pair with a float a float range (both ends included), a third item
"log" samples on a log scale, a list is a set of choices. The constraint is
checked before a trial runs; one that fails it never reaches a worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import SchemaError

Sampler = Literal["tpe", "random"]


class Dimension(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["int", "float", "categorical"]
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: list[Any] | None = None

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"one of {self.choices}"
        return f"{self.kind} {self.low}..{self.high}" + (" (log)" if self.log else "")


class Search(BaseModel):
    """Trials of one strategy's params proposed by a sampler, ``n_trials`` in all."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    strategy_name: str
    space: dict[str, Dimension]
    n_trials: int = Field(ge=1)
    sampler: Sampler = "tpe"
    seed: int | None = None
    batch: int | None = Field(
        default=None, ge=1
    )  # trials proposed and run together (default: 2 per slot)
    constraint: Callable[[dict[str, Any]], bool] | None = None

    def identity(self) -> dict[str, Any]:
        """What makes two searches the same study (the constraint by its code)."""
        code = getattr(self.constraint, "__code__", None)
        return {
            "strategy": self.strategy_name,
            "space": {k: d.model_dump() for k, d in self.space.items()},
            "sampler": self.sampler,
            "seed": self.seed,
            "constraint": code.co_code.hex() + repr(code.co_consts) if code is not None else None,
        }


def _dimension(strategy_name: str, key: str, spec: Any) -> Dimension:
    where = f"search({strategy_name!r}): {key}={spec!r}"
    if isinstance(spec, list):
        if not spec:
            raise SchemaError(f"{where} has no choices: list at least one")
        return Dimension(kind="categorical", choices=list(spec))
    if (
        not isinstance(spec, tuple)
        or len(spec) not in (2, 3)
        or (len(spec) == 3 and spec[2] != "log")
    ):
        raise SchemaError(
            f"{where} is not a range or choices: write {key}=(low, high), {key}=(low, high, "
            f'"log") or {key}=[choice, ...]'
        )
    low, high = spec[0], spec[1]
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in (low, high)
    ):
        raise SchemaError(f"{where}: the ends of a range are finite numbers")
    if low >= high:
        raise SchemaError(f"{where}: low must be below high")
    log = len(spec) == 3
    if log and low <= 0:
        raise SchemaError(f"{where}: a log range starts above 0")
    kind: Literal["int", "float"] = (
        "int" if isinstance(low, int) and isinstance(high, int) else "float"
    )
    return Dimension(kind=kind, low=low, high=high, log=log)


def search(
    strategy_name: str,
    n_trials: int,
    sampler: Sampler = "tpe",
    seed: int | None = None,
    batch: int | None = None,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
    **space: Any,
) -> Search:
    """``search("sma-cross", n_trials=200, fast=(3, 50), slow=(10, 200))`` for a walker's strategies."""
    if not space:
        raise SchemaError(
            f"search({strategy_name!r}) has no dimension: give at least one, e.g. fast=(3, 50)"
        )
    if constraint is not None and not callable(constraint):
        raise SchemaError(
            f"search({strategy_name!r}): constraint must be a function of the params, "
            f"got {type(constraint).__name__}"
        )
    dims = {key: _dimension(strategy_name, key, spec) for key, spec in space.items()}
    try:
        return Search(
            strategy_name=strategy_name,
            space=dims,
            n_trials=n_trials,
            sampler=sampler,
            seed=seed,
            batch=batch,
            constraint=constraint,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SchemaError(f"search({strategy_name!r}): {problems}") from None

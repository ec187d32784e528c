"""A position plan: the common rules of managing an open position, declared as data (SEMANTICS.md 9).

A hook in Python runs once per candle of every open position, which a sweep
cannot afford; a plan says the same with numbers, and the compiled batch
loop runs it (shared/engine/_batch_kernel.c). The event and vector lanes run
it too, translated into the hooks it stands for
(shared/engine/position_plan_hooks.py), so a plan and the same rule written
as a hook give the same trades (tests/unit/test_position_plan_twins.py).

The rules, each run on every candle the position stays open (the hook's
``current_price`` is VWAP_u, ``move`` the move from the effective entry in
percent, positive in the position's favour), in this order:

1. ``trailing_stop``: rungs (threshold, shift), thresholds ascending; once
   per rung and position, when move >= threshold:
   ``commit_trailing_stop(symbol, shift, current_price)``.
2. ``trailing_take``: rungs (threshold, shift), thresholds descending (each
   further into the loss); once per rung, when move <= threshold:
   ``commit_trailing_take(symbol, shift, current_price)``.
3. ``breakeven``: ``commit_breakeven`` when breakeven becomes available
   (``on_breakeven``), then again on every later candle until one is applied
   (so the one-candle lag of SEMANTICS 9 applies as it does to a hook).
4. ``average_buy``: (step, cost, max_entries): while the position has fewer
   than max_entries entries and move <= -step, ``commit_average_buy(symbol,
   cost)`` (cost None: CC_POSITION_ENTRY_COST).
5. ``close_losing_after``: minutes; once per position, when it has been open
   that long and its open part loses at the current price (pnl_percentage
   from the effective entry, costs included, below 0):
   ``commit_close_pending(symbol)``.
6. ``partial_profit`` / ``partial_loss``: rungs (level, percent), levels
   among 10, 20 .. 100 ascending; when a level becomes available on that
   side (SEMANTICS 9), ``commit_partial_profit(symbol, percent)`` (or
   ``_loss``): percent of what remains.

Rules 1-5 run where ``on_active_ping`` runs (rule 3's first call where
``on_breakeven`` does), rule 6 where ``on_partial_profit`` /
``on_partial_loss`` do; each right after the strategy's own callback. Like a
hook, rules 1-5 read the position as the hook's ``signal`` shows it when the
hook begins (an average buy in rule 4 does not change the entry rule 5
reads). Partials, breakeven and average buys are priced one candle behind,
as every commit is (SEMANTICS 9).

Sweeping a plan: any number (or the breakeven flag) may be the name of one
of the strategy's ``params`` instead, e.g. ``trailing_stop=[("trail_at",
-0.75)]`` with ``params={"trail_at": 0.25}``; ``sweep("s", trail_at=[0.25,
0.5])`` then sweeps it like any param, and each variant's plan is resolved
from its own params (``resolve``). The plan is plain JSON (``model_dump``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .errors import SchemaError, did_you_mean

LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)  # the availability levels of SEMANTICS 9
MAX_ENTRIES = 1000  # average_buy.max_entries at most (the compiled loop keeps each entry)
MAX_RUNGS = 100  # rungs of a trailing ladder at most


def _is_ref(value: Any) -> bool:
    return isinstance(value, str)


def _real_or_ref(value: Any) -> Any:
    """A plan's number as given: a real number (not a bool) or a param's name."""
    if isinstance(value, str):
        if not value:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError("an empty string names no param: give a number or a param's name")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
        raise ValueError(f"{value!r} is neither a number nor the name of a param")
    return value


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _pair(fields: tuple[str, str]) -> Callable[[Any], Any]:
    """Let a rung be written as a pair (``(0.25, -0.75)``) as well as a dict."""

    def before(data: Any) -> Any:
        if isinstance(data, list | tuple):
            if len(data) != 2:
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"a rung is a pair ({fields[0]}, {fields[1]}), got {len(data)} items: {data!r}"
                )
            return dict(zip(fields, data, strict=True))
        return data

    return before


class Rung(_Part):
    """A trailing rung: when the move reaches ``threshold`` percent, trail by ``shift`` points."""

    threshold: float | int | str
    shift: float | int | str

    _as_pair = model_validator(mode="before")(_pair(("threshold", "shift")))
    _values = field_validator("threshold", "shift", mode="before")(_real_or_ref)


class LevelClose(_Part):
    """A partial close: when ``level`` (10..100) becomes available, close ``percent`` of what remains."""

    level: int | str
    percent: float | int | str

    _as_pair = model_validator(mode="before")(_pair(("level", "percent")))
    _values = field_validator("level", "percent", mode="before")(_real_or_ref)


class AverageBuy(_Part):
    """Average in when the price is ``step`` percent beyond the effective entry, up to
    ``max_entries`` entries of ``cost`` dollars (None: CC_POSITION_ENTRY_COST)."""

    step: float | int | str
    max_entries: int | str
    cost: float | int | str | None = None

    @field_validator("step", "max_entries", "cost", mode="before")
    @classmethod
    def _values(cls, value: Any) -> Any:
        return None if value is None else _real_or_ref(value)


class PositionPlan(_Part):
    """The rules a strategy declares for its open positions (see the module's docstring)."""

    trailing_stop: list[Rung] = []
    trailing_take: list[Rung] = []
    partial_profit: list[LevelClose] = []
    partial_loss: list[LevelClose] = []
    breakeven: bool | str = False
    average_buy: AverageBuy | None = None
    close_losing_after: float | int | str | None = None  # minutes

    @field_validator("breakeven", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str) and not value:
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError("an empty string names no param: give True, False or a param's name")
        if not isinstance(value, bool | str):
            # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
            raise ValueError(f"breakeven is True, False or the name of a param, got {value!r}")
        return value

    @field_validator("close_losing_after", mode="before")
    @classmethod
    def _minutes(cls, value: Any) -> Any:
        return None if value is None else _real_or_ref(value)

    def may_move_stop(self) -> list[str]:
        """The rules that may move the stop loss (a breakeven named by a param may)."""
        return [
            name
            for name, on in (
                ("trailing_stop", bool(self.trailing_stop)),
                ("breakeven", self.breakeven is not False),
            )
            if on
        ]

    def may_move_take(self) -> list[str]:
        return ["trailing_take"] if self.trailing_take else []

    def resolve(
        self, params: dict[str, Any] | None, where: str = "position_plan"
    ) -> ResolvedPlan | None:
        """The plan with each param's value in place, checked; None when it has no rule.
        Raises SchemaError naming ``where``, the field, the value (and its param) and the fix."""
        return _Resolver(self, params or {}, where).run()


@dataclass(frozen=True, slots=True)
class ResolvedPlan:
    """A plan with numbers only, as one variant runs it (``PositionPlan.resolve``)."""

    trailing_stop: tuple[tuple[float, float], ...] = ()  # (threshold, shift), thresholds ascending
    trailing_take: tuple[tuple[float, float], ...] = ()  # (threshold, shift), thresholds descending
    partial_profit: tuple[tuple[int, float], ...] = ()  # (level, percent), levels ascending
    partial_loss: tuple[tuple[int, float], ...] = ()
    breakeven: bool = False
    average_buy: tuple[float, float | None, int] | None = None  # (step, cost or None, max_entries)
    close_losing_after: float | None = None  # minutes

    @property
    def moves_stop(self) -> bool:
        return bool(self.trailing_stop) or self.breakeven

    @property
    def moves_take(self) -> bool:
        return bool(self.trailing_take)


class _Resolver:
    def __init__(self, plan: PositionPlan, params: dict[str, Any], where: str) -> None:
        self.plan, self.params, self.where = plan, params, where

    def _value(self, field: str, value: Any) -> tuple[Any, str]:
        """(the value, how it was given) of ``field``."""
        if not _is_ref(value):
            return value, f"{value!r}"
        if value not in self.params:
            known = ", ".join(self.params) or "none"
            raise SchemaError(
                f"{self._at(field)} names param {value!r}, which is not one of the strategy's "
                f"params ({known})."
                + did_you_mean(value, self.params)
                + f" Declare it with its default, e.g. params={{{value!r}: ...}}"
            )
        return self.params[value], f"{self.params[value]!r} (param {value!r})"

    def _at(self, field: str) -> str:
        return f"{self.where}.{field}" if self.where else field

    def _fail(self, field: str, shown: str, rule: str) -> SchemaError:
        return SchemaError(f"{self._at(field)} = {shown}: {rule}")

    def number(
        self,
        field: str,
        value: Any,
        low: float | None = None,
        high: float | None = None,
        *,
        low_open: bool = False,
        nonzero: bool = False,
        rule: str = "",
    ) -> float:
        got, shown = self._value(field, value)
        if isinstance(got, bool) or not isinstance(got, int | float) or not math.isfinite(got):
            raise self._fail(field, shown, "give a finite number")
        ok = (low is None or (got > low if low_open else got >= low)) and (
            high is None or got <= high
        )
        if not ok or (nonzero and got == 0):
            raise self._fail(field, shown, rule)
        return float(got)

    def whole(self, field: str, value: Any, allowed: Callable[[int], bool], rule: str) -> int:
        got, shown = self._value(field, value)
        if (
            isinstance(got, bool)
            or not isinstance(got, int | float)
            or not math.isfinite(got)
            or int(got) != got
            or not allowed(int(got))
        ):
            raise self._fail(field, shown, rule)
        return int(got)

    def ladder(self, name: str, ascending: bool) -> tuple[tuple[float, float], ...]:
        rungs = getattr(self.plan, name)
        if len(rungs) > MAX_RUNGS:
            raise SchemaError(f"{self._at(name)} has {len(rungs)} rungs; at most {MAX_RUNGS}")
        out: list[tuple[float, float]] = []
        for k, rung in enumerate(rungs):
            threshold = self.number(f"{name}[{k}].threshold", rung.threshold)
            shift = self.number(
                f"{name}[{k}].shift",
                rung.shift,
                -100,
                100,
                nonzero=True,
                rule="a shift is percent points in -100..100 other than 0 (negative: "
                "tighter), as commit_" + name + " takes",
            )
            if out and not (threshold > out[-1][0] if ascending else threshold < out[-1][0]):
                order = (
                    "ascend (each rung further into the profit)"
                    if ascending
                    else "descend (each rung further into the loss)"
                )
                raise self._fail(
                    f"{name}[{k}].threshold",
                    self._value(f"{name}[{k}].threshold", rung.threshold)[1],
                    f"not {'above' if ascending else 'below'} the rung before ({out[-1][0]!r}): "
                    f"the thresholds of {name} {order}; reorder the rungs or change the values",
                )
            out.append((threshold, shift))
        return tuple(out)

    def closes(self, name: str) -> tuple[tuple[int, float], ...]:
        out: list[tuple[int, float]] = []
        for k, close in enumerate(getattr(self.plan, name)):
            level = self.whole(
                f"{name}[{k}].level",
                close.level,
                lambda v: v in LEVELS,
                f"a level is one of {', '.join(map(str, LEVELS))} (percent of the way to "
                f"the {'take profit' if name == 'partial_profit' else 'stop loss'})",
            )
            percent = self.number(
                f"{name}[{k}].percent",
                close.percent,
                0,
                100,
                low_open=True,
                rule="a percent of what remains, 0 < percent <= 100",
            )
            if out and level <= out[-1][0]:
                raise self._fail(
                    f"{name}[{k}].level",
                    self._value(f"{name}[{k}].level", close.level)[1],
                    f"not above the level before ({out[-1][0]}): the levels of {name} ascend; "
                    "reorder them, and give each level once",
                )
            out.append((level, percent))
        return tuple(out)

    def run(self) -> ResolvedPlan | None:
        plan = self.plan
        breakeven, shown = self._value("breakeven", plan.breakeven)
        if not isinstance(breakeven, bool):
            raise self._fail("breakeven", shown, "give True or False")
        average = None
        if plan.average_buy is not None:
            a = plan.average_buy
            step = self.number(
                "average_buy.step",
                a.step,
                0,
                None,
                low_open=True,
                rule="a step is the percent beyond the effective entry, > 0",
            )
            cost = (
                None
                if a.cost is None
                else self.number(
                    "average_buy.cost",
                    a.cost,
                    0,
                    None,
                    low_open=True,
                    rule="a cost is dollars, > 0",
                )
            )
            entries = self.whole(
                "average_buy.max_entries",
                a.max_entries,
                lambda v: 2 <= v <= MAX_ENTRIES,
                f"the most entries a position may have, counting the first: a whole number "
                f"in 2..{MAX_ENTRIES}",
            )
            average = (step, cost, entries)
        minutes = None
        if plan.close_losing_after is not None:
            minutes = self.number(
                "close_losing_after",
                plan.close_losing_after,
                0,
                None,
                low_open=True,
                rule="minutes the position has been open, > 0",
            )
        resolved = ResolvedPlan(
            trailing_stop=self.ladder("trailing_stop", True),
            trailing_take=self.ladder("trailing_take", False),
            partial_profit=self.closes("partial_profit"),
            partial_loss=self.closes("partial_loss"),
            breakeven=breakeven,
            average_buy=average,
            close_losing_after=minutes,
        )
        return None if resolved == ResolvedPlan() else resolved


# ---- registration: what StrategySchema checks ------------------------------------

STOP_COMMITS = ("commit_trailing_stop", "commit_breakeven")
TAKE_COMMITS = ("commit_trailing_take",)


def _names_in(fn: Any, depth: int = 0) -> set[str]:
    """The global and attribute names a function's code (and the code nested in it) uses."""
    fn = getattr(fn, "__func__", fn)  # a bound method
    fn = getattr(fn, "__wrapped__", fn) if depth == 0 else fn
    code = getattr(fn, "__code__", None)
    if code is None:
        code = getattr(vars(type(fn)).get("__call__"), "__code__", None)  # an object with __call__
    names: set[str] = set()
    stack = [code] if code is not None else []
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    return names


def check_against_callbacks(plan: PositionPlan, callbacks: dict[str, Any]) -> None:
    """Refuse a plan and a callback that both move the stop loss (or the take profit): which
    one wins would depend on the order they run in. Raises ValueError naming both (pydantic
    makes it the registration's SchemaError). A commit made from a listener, or from code a
    callback calls, is refused when it runs instead (position_hook.py)."""
    for moves, commits, what in (
        (plan.may_move_stop(), STOP_COMMITS, "stop loss"),
        (plan.may_move_take(), TAKE_COMMITS, "take profit"),
    ):
        if not moves:
            continue
        for name, fn in callbacks.items():
            used = sorted(set(commits) & _names_in(fn))
            if used:
                # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
                raise ValueError(
                    f"the plan moves the {what} ({' and '.join(moves)}) and callback {name} calls "
                    f"{' and '.join(used)}: both would move it, and which wins would depend on the order "
                    f"they run in; keep one of them (the plan runs in sweeps at compiled speed)"
                )


def check_references(plan: PositionPlan, params: dict[str, Any]) -> None:
    """Every param a plan names is declared, and the plan resolves with the declared values
    (a sweep's variants are resolved again, each with its own)."""
    try:
        plan.resolve(params, where="")
    except SchemaError as exc:
        # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
        raise ValueError(str(exc)) from None

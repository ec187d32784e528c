"""Whether two registrations define the same thing: the rule that lets two user modules
register one exchange or frame (a shared market, a shared range) under one name.

Two schemas are the same definition when every field is the same value:
- plain data (names, numbers, dates, paths) equal; lists, tuples and dicts element by element;
  numpy arrays equal in shape, dtype and every element;
- a function: the same object, or the same qualified name and source (the source hash of
  fingerprint.py), the same defaults, and the same values in its closure and in the module
  globals its code names (so two copies of ``get_candles`` reading different folders differ);
- a bound method: the same function bound to the same value; a ``functools.partial``: the
  same function and arguments; a class: the same object, or the same qualified name and source;
- any other object (a candle source): the same type and the same attributes, its caches
  included, or ``==`` when its class defines equality.
Anything this cannot decide counts as different: a wrongly merged definition would run one
module's market under the other's name, a refused one only asks for another name.
"""

from __future__ import annotations

import functools
import types
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np
from pydantic import BaseModel

from .fingerprint import _function_source

_PLAIN = (
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
    date,
    datetime,
    time,
    timedelta,
    Decimal,
    PurePath,
    Enum,
    range,
)
_MISSING = object()


def differing_fields(old: BaseModel, new: BaseModel) -> list[str]:
    """The fields of two schemas of one model whose values are not the same definition (in the
    model's field order); empty when ``new`` defines what ``old`` does."""
    if type(old) is not type(new):
        return ["schema type"]
    return [
        name for name in type(old).model_fields if not same(getattr(old, name), getattr(new, name))
    ]


def same(a: Any, b: Any, _seen: set[tuple[int, int]] | None = None) -> bool:
    """``a`` and ``b`` are the same definition (the module docstring's rule)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    seen = set() if _seen is None else _seen
    pair = (id(a), id(b))
    if pair in seen:  # a cycle (a source holding itself): equal so far
        return True
    seen.add(pair)
    if isinstance(a, _PLAIN):
        return bool(a == b)
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    if isinstance(a, BaseModel):
        return not differing_fields(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], seen) for k in a)
    if isinstance(a, (set, frozenset)):
        return bool(a == b)
    if isinstance(a, types.ModuleType):
        return a.__name__ == b.__name__ and a.__name__ != "__main__"
    if isinstance(a, types.MethodType):
        return same(a.__func__, b.__func__, seen) and same(a.__self__, b.__self__, seen)
    if isinstance(a, types.FunctionType):
        return _same_function(a, b, seen)
    if isinstance(a, functools.partial):
        return (
            same(a.func, b.func, seen)
            and same(a.args, b.args, seen)
            and same(a.keywords, b.keywords, seen)
        )
    if isinstance(a, type):
        return a.__qualname__ == b.__qualname__ and _function_source(a) == _function_source(b)
    if callable(a) and not hasattr(a, "__dict__") and not _slots(type(a)):
        return False  # a builtin or C callable that is not the same object
    if type(a).__eq__ is not object.__eq__:
        try:
            return bool(a == b)
        except Exception:  # noqa: BLE001  (an == that returns an array or refuses: undecided)
            return False
    return same(_state(a), _state(b), seen)


def _same_function(
    a: types.FunctionType, b: types.FunctionType, seen: set[tuple[int, int]]
) -> bool:
    if a.__qualname__ != b.__qualname__ or _function_source(a) != _function_source(b):
        return False
    if not (
        same(a.__defaults__, b.__defaults__, seen)
        and same(a.__kwdefaults__, b.__kwdefaults__, seen)
    ):
        return False
    cells = (_cells(a), _cells(b))
    if not same(cells[0], cells[1], seen):
        return False
    for name in _global_names(a.__code__):
        mine, theirs = a.__globals__.get(name, _MISSING), b.__globals__.get(name, _MISSING)
        if (mine is _MISSING) != (theirs is _MISSING) or (
            mine is not _MISSING and not same(mine, theirs, seen)
        ):
            return False
    return True


def _cells(fn: types.FunctionType) -> list[Any]:
    values = []
    for cell in fn.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # a cell not yet filled
            values.append(_MISSING)
    return values


def _global_names(code: types.CodeType) -> set[str]:
    """The names ``code`` (and the functions and classes defined in it) may look up as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _slots(cls: type) -> list[str]:
    found: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        found.extend([slots] if isinstance(slots, str) else slots)
    return [s for s in found if s not in ("__dict__", "__weakref__")]


def _state(obj: Any) -> dict[str, Any]:
    state = dict(getattr(obj, "__dict__", {}))
    for name in _slots(type(obj)):
        state[name] = getattr(obj, name, _MISSING)
    return state

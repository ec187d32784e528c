"""A sweep's variants as what the user wrote, expanded only when one is asked for.

A walker's strategies are a few items (a plain strategy name, or a grid of
one strategy's params); a grid of 10^6 combinations is a handful of value
lists. ``VariantSpace`` keeps the items and addresses each variant by its
index in walker order (items in their listed order, within a grid the first
key varying slowest), so the plan stored in Redis is the grid, not the
expanded list, and no process holds a million ``Variant`` objects.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

from .payloads import Variant


def variant_name(strategy_name: str, combo: dict[str, Any]) -> str:
    """``sma-cross[fast=5,slow=20]``: keys in grid order, values as JSON (strings bare)."""
    return f"{strategy_name}[{','.join(f'{k}={_text(v)}' for k, v in combo.items())}]"


def _text(value: Any) -> str:
    """A value as it is written in a variant's name: JSON, strings bare. A whole number or a
    finite float is written as json.dumps writes it (its repr) without calling it: a name is
    made for every result a sweep collects (~3 us a value)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


class VariantSpace(Sequence[Variant]):
    """Every variant of a walker, by index. ``items``: JSON-ready dicts, each
    ``{"base", "keys", "values", "declared", "module"}``; ``keys`` empty for a
    plain strategy (one variant, its registered params, named ``base``). A portfolio's
    item adds ``"kind": "portfolio"`` and ``"strategies"`` (its members' strategies);
    its variants' params are their combination alone (``PortfolioRun``'s params)."""

    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        self.items = [dict(item) for item in items]
        self._sizes: list[list[int]] = []
        self._starts: list[int] = []
        total = 0
        for item in self.items:
            sizes = [len(values) for values in item["values"]]
            self._sizes.append(sizes)
            self._starts.append(total)
            count = 1
            for size in sizes:
                count *= size
            total += count
        self._total = total

    def __len__(self) -> int:
        return self._total

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._total))]
        index = self._checked(index)
        item, combo = self._locate(index)
        base = item["base"]
        kind = item.get("kind", "strategy")
        if not item["keys"]:
            return Variant.model_construct(
                strategy_name=base,
                base=base,
                params=None,
                module=item.get("module"),
                index=index,
                kind=kind,
            )
        return Variant.model_construct(
            strategy_name=variant_name(base, combo),
            base=base,
            params={**(item.get("declared") or {}), **combo},
            module=item.get("module"),
            index=index,
            kind=kind,
        )

    def __iter__(self) -> Iterator[Variant]:
        return (self[i] for i in range(self._total))

    def named_params(self) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
        """(name, base, params) of every variant in walker order, as ``self[i]`` gives them,
        without a ``Variant`` or a search for each (a report lists them all)."""
        for item in self.items:
            base = item["base"]
            if not item["keys"]:
                yield base, base, None
                continue
            declared = item.get("declared") or {}
            for values in itertools.product(*item["values"]):  # the last key varies fastest
                combo = dict(zip(item["keys"], values, strict=True))
                yield variant_name(base, combo), base, {**declared, **combo}

    def name(self, index: int) -> str:
        item, combo = self._locate(self._checked(index))
        return variant_name(item["base"], combo) if item["keys"] else item["base"]

    def base(self, index: int) -> str:
        return self.items[self._item_at(self._checked(index))]["base"]

    def span(self, at: int) -> range:
        """The indices of item ``at``'s variants."""
        end = self._starts[at + 1] if at + 1 < len(self._starts) else self._total
        return range(self._starts[at], end)

    def bases(self) -> list[str]:
        """The registered strategies the variants run, each once, in walker order (a
        portfolio's: its members')."""
        return list(
            dict.fromkeys(
                name for item in self.items for name in item.get("strategies", [item["base"]])
            )
        )

    def _checked(self, index: int) -> int:
        """``index`` counted from the start (a negative one from the end)."""
        if index < 0:
            index += self._total
        if not 0 <= index < self._total:
            # protocol: a Sequence raises IndexError past its end (iteration and slicing rely on it)
            raise IndexError(f"variant {index} of a sweep of {self._total}")
        return index

    def _item_at(self, index: int) -> int:
        return bisect.bisect_right(self._starts, index) - 1

    def _locate(self, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        at = self._item_at(index)
        item, rest = self.items[at], index - self._starts[at]
        digits = []
        for size in reversed(self._sizes[at]):  # the last key varies fastest
            rest, digit = divmod(rest, size)
            digits.append(digit)
        digits.reverse()
        return item, {
            key: values[d]
            for key, values, d in zip(item["keys"], item["values"], digits, strict=True)
        }

    def to_json(self) -> str:
        return json.dumps(self.items, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> VariantSpace:
        return cls(json.loads(text))

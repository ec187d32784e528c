"""Which variants of a sweep still owe a result: one byte per variant, by index.

A set of a million variant names costs about 100 MB; this costs 1 MB, and
names are built only for the few an error message shows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Pending:
    """The variants still without a result; ``name_of(index)`` names one for messages."""

    def __init__(self, total: int, name_of: Callable[[int], str]) -> None:
        self.total = total
        self._owes = np.ones(total, dtype=bool)
        self._count = total
        self.name_of = name_of

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __contains__(self, index: object) -> bool:
        return bool(
            isinstance(index, int | np.integer)
            and 0 <= index < len(self._owes)
            and self._owes[index]
        )

    def discard(self, index: int) -> None:
        if self._owes[index]:
            self._owes[index] = False
            self._count -= 1

    def owed(self, indices: np.ndarray) -> np.ndarray:
        """For each of ``indices`` (any integers), whether it is pending."""
        indices = np.asarray(indices, dtype=np.int64)
        inside = (indices >= 0) & (indices < len(self._owes))
        out = np.zeros(len(indices), dtype=bool)
        out[inside] = self._owes[indices[inside]]
        return out

    def discard_many(self, indices: np.ndarray) -> None:
        """``discard`` each of ``indices`` (each once)."""
        self._count -= int(self._owes[indices].sum())
        self._owes[indices] = False

    def restore(self, indices) -> None:
        """Make ``indices`` pending again (a result that was not accepted after all)."""
        for index in indices:
            if not self._owes[index]:
                self._owes[index] = True
                self._count += 1

    def indices(self) -> np.ndarray:
        """The pending indices, ascending."""
        return np.flatnonzero(self._owes)

    def any_of(self, indices) -> bool:
        return (
            bool(self._owes[np.asarray(indices, dtype=np.int64)].any()) if len(indices) else False
        )

    def names(self, shown: int = 10) -> str:
        """The first ``shown`` pending variants by name, and how many more."""
        first = np.flatnonzero(self._owes)[:shown]
        more = f" and {self._count - len(first)} more" if self._count > len(first) else ""
        return ", ".join(self.name_of(int(i)) for i in first) + more

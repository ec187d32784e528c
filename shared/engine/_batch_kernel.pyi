"""Types of the compiled batch lane (_batch_kernel.c), for mypy: the functions batch_kernel.py calls.

Each takes its numbers and buffers positionally, as ``PyArg_ParseTuple`` reads them; the
Python wrappers in batch_kernel.py hold the argument lists and their meaning.
"""

from typing import Any

def settle(*args: Any) -> tuple[Any, ...]:
    """(next tick, last bucket, count, rejected), then with ``detail`` three bytes buffers."""

def plan_position(
    *args: Any,
) -> tuple[int, bytes, tuple[float, float, float, float], bytes, bytes, bytes, bytes]:
    """(ruled, trade, excursions, entries, partials, counts, order); the buffers as bytes."""

def crossings(a: Any, b: Any, shift: int, /) -> tuple[bytes, bytes]:
    """(rows as int64 bytes, sides as int8 bytes)."""

def sma_crossings(sums: Any, fast: int, slow: int, shift: int, /) -> tuple[bytes, bytes]:
    """(rows as int64 bytes, sides as int8 bytes)."""

"""Types of the compiled hook loop (_hook_loop.c), for mypy: the function position_hook.py calls.

It takes its numbers, buffers and objects positionally, as ``PyArg_ParseTuple`` reads them;
_hook_loop.c's head and PositionHook.walk_native hold the argument list and its meaning.
"""

from datetime import datetime
from typing import Any

def walk(*args: Any) -> tuple[int, int, float, float, float, float, float, int, datetime]:
    """(code, candle, close price, peak price, peak, fall price, fall, last ping's u, its when)."""

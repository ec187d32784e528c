"""Whether a compiled part of the engine runs in this process (batch_kernel.py, hook_loop.py).

Each C extension is optional (setup.py): where it is not built, or with
``BTFARM_NATIVE=0``, the same loop runs in Python, with the same results.
"""

from __future__ import annotations

from types import ModuleType

from ..settings import get_settings


def unavailable_reason(module: ModuleType | None, name: str) -> str | None:
    """Why this process runs the Python loop instead of the extension ``name`` (``module``, or
    None when it did not import), or None when the extension runs."""
    if not get_settings().native:
        return "BTFARM_NATIVE=0"
    if module is None:
        return (
            f"the C extension btfarm.shared.engine.{name} is not built (pip install needs a C "
            "compiler and the Python headers: apt-get install gcc python3-dev)"
        )
    return None

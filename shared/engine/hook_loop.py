"""An open position's hooked candles walked in C (``_hook_loop.c``): the event lane's hook at compiled speed.

A backtest whose strategy trails its stop in ``on_active_ping`` runs that hook on
every candle of every position. In Python (``PositionHook.walk``) each candle's
checks, peak and fall and the hook's bookkeeping cost about 1.5-1.8 us beyond
the user's own hook; the C loop does the same per candle and calls back into
Python only for the hook itself, and returns to Python for the rest of a candle
only when that rest has something to do (a commit applied, breakeven or a
level reached: ``PositionHook.after_ping``). The rules keep one copy each: the
checks and the peak and fall are written in both (held to each other by
tests/unit/test_hook_loop.py's twin runs), every commit and event stays in
Python.

Taken by ``position_walk.walk_position`` for a backtest (not Live, whose hook is
a journal) whose hook has no position plan and no ``on_partial_*`` callback (those
read the side's percent on every candle) while nobody listens to
``active_ping`` (its payload is built per candle). Without the extension, or with
``BTFARM_NATIVE=0``, the Python walk runs: the same results.
"""

from __future__ import annotations

from . import native

try:
    from . import _hook_loop
except ImportError:  # built by pip install where a C compiler exists; optional
    _hook_loop = None  # type: ignore[assignment]  # (callers check available() first)

# walk's first result: what ended the walk (_hook_loop.c's enum)
DONE, AFTER_PING, LISTENED = 0, 6, 7
CLOSE_REASONS = {
    1: "time_expired",  # past the frame's end
    2: "closed",  # a user's close, committed on the candle before
    3: "time_expired",  # the lifetime over
    4: "stop_loss",
    5: "take_profit",
}


def unavailable_reason() -> str | None:
    """Why this process walks hooked positions in Python, or None when the C loop is on."""
    return native.unavailable_reason(_hook_loop, "_hook_loop")


def available() -> bool:
    return unavailable_reason() is None

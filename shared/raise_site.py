"""Where a user's code raised: the file and line an error about it names (``get_signal raised
KeyError at my_strategy.py:41: 'fast'``), so a refused tick points at the line to fix."""

from __future__ import annotations

import os
from types import TracebackType


def raise_site(exc: BaseException) -> str:
    """``FILE:LINE`` of the innermost Python frame of ``exc``'s traceback below the frame that
    caught it (the caller's own frame is the first, and skipped); when that frame lies outside
    the file of the function called (a library raised), ``FILE:LINE (from FILE:LINE)`` adds the
    last line of that file on the way. Files under the working folder are shown relative to it.
    ``?`` when there is no frame below (a C function raised directly)."""
    frames = _frames(exc.__traceback__)[1:]
    if not frames:
        return "?"
    called_file = frames[0].tb_frame.f_code.co_filename
    innermost = frames[-1]
    where = _shown(innermost)
    if innermost.tb_frame.f_code.co_filename != called_file:
        own = [f for f in frames if f.tb_frame.f_code.co_filename == called_file][-1]
        where += f" (from {_shown(own)})"
    return where


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    found = []
    while tb is not None:
        found.append(tb)
        tb = tb.tb_next
    return found


def _shown(tb: TracebackType) -> str:
    path = tb.tb_frame.f_code.co_filename
    try:
        relative = os.path.relpath(path)
        path = relative if not relative.startswith("..") else path
    except ValueError:  # another drive (Windows)
        pass
    return f"{path}:{tb.tb_lineno}"

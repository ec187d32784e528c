"""The user's own script as the local pool sees it.

``python my_sweep.py`` registers its strategies in ``__main__``; the pool's
worker cannot import ``__main__``, so it imports the script by its path under
another name, as multiprocessing's spawn does with ``__mp_main__``. That is
safe only when the script starts its sweep under ``if __name__ ==
"__main__":`` — without the guard the worker would run the sweep again while
importing the file. ``check_main_guard`` refuses that case before anything
starts.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

GUARD = 'if __name__ == "__main__":'


def main_script() -> str | None:
    """The running script's absolute path, or None (interactive, ``-c``, a test runner)."""
    file = getattr(sys.modules.get("__main__"), "__file__", None)
    return str(Path(file).resolve()) if file else None


def check_main_guard(imports: Iterable[str], needed_by: str) -> None:
    """Stop with one line when the running script, which the pool will import,
    calls ``needed_by`` from unguarded top-level code."""
    script = main_script()
    if script is None or script not in set(imports):
        return
    frame = _main_module_frame()
    if frame is None:
        return  # called after the script's top level ran (a thread, an interactive call)
    statement = _top_level_statement(script, frame.f_lineno)
    if statement is None or _is_main_guard(statement):
        return
    raise SystemExit(
        f"error: {Path(script).name} line {frame.f_lineno} calls {needed_by} at the top level of "
        f"the script; the local workers import {Path(script).name} to find its strategies and "
        f"would start the sweep again. Put the call under `{GUARD}` (indent it below that line)"
    )


def _main_module_frame() -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            return frame
        frame = frame.f_back
    return None


def _top_level_statement(path: str, line: int) -> ast.stmt | None:
    try:
        tree = ast.parse(Path(path).read_text(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            return node
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1

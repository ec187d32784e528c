"""Every error a user can cause is in btfarm's tree (shared/errors.py), not a built-in.

The CLI shows a ``BtfarmError`` as one line; any other exception reaches a
user as a traceback. A built-in raise a protocol requires (a pydantic
validator's ValueError, json's TypeError hook, an abstract method) is marked
``# protocol:`` on its line or the line above.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

import btfarm.orchestrator as public
from btfarm.shared import errors

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "workers", "orchestrator")
BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
} - {"SystemExit"}


def builtin_raises() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Raise) or node.exc is None:
                    continue
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if not (isinstance(target, ast.Name) and target.id in BUILTIN_ERRORS):
                    continue  # a re-raise of a caught value, or one of btfarm's own
                # the raise's own lines and the one before it (a formatter may wrap the call
                # and leave its comment after the closing parenthesis)
                first, last = max(node.lineno - 2, 0), node.end_lineno or node.lineno
                here = "".join(lines[first:last])
                if "# protocol:" not in here:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: raise {target.id}")
    return found


def test_no_built_in_exception_is_raised_outside_the_tree():
    assert builtin_raises() == []


def test_the_tree_is_importable_from_the_public_surface():
    tree = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.BtfarmError)
    ]
    assert len(tree) >= 15
    for name in tree:
        assert getattr(public, name) is getattr(errors, name), name
        assert name in public.__all__, name
        assert name in errors.__doc__, f"{name} is missing from the tree drawn in errors.py"

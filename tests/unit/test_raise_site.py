"""raise_site names the file and line a user's code raised at (shared/raise_site.py)."""

from __future__ import annotations

import json
import os

import pytest

from btfarm.shared.raise_site import raise_site

pytestmark = pytest.mark.unit
HERE = os.path.relpath(__file__)


def strategy_code(kind: str):
    if kind == "own":
        raise KeyError("fast")  # the line named
    return json.loads("not json")  # the library raises; this line is the user's


def caught(kind: str) -> BaseException:
    try:
        strategy_code(kind)
    except Exception as exc:  # noqa: BLE001  (the catching frame, as lifecycle's _ask)
        return exc
    raise AssertionError("strategy_code did not raise")


def test_the_line_of_the_users_raise():
    line = strategy_code.__code__.co_firstlineno + 2
    assert raise_site(caught("own")) == f"{HERE}:{line}"


def test_a_raise_inside_a_library_names_it_and_the_users_line_that_called_it():
    line = strategy_code.__code__.co_firstlineno + 3
    where = raise_site(caught("library"))
    assert where.endswith(f" (from {HERE}:{line})"), where
    assert "json" in where.split(" (from ")[0]


def test_nothing_below_the_catching_frame_is_a_question_mark():
    try:
        raise ValueError("here")
    except ValueError as exc:
        assert raise_site(exc) == "?"

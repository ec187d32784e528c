"""Two modules may register one exchange or frame under one name when they define the same
thing (shared/same_definition.py); a different definition under that name stays an error
naming both modules. The modules are real files imported as a worker imports them."""

from __future__ import annotations

import functools
import textwrap

import numpy as np
import pytest

from btfarm.shared.errors import SchemaError
from btfarm.shared.importing import import_user_module
from btfarm.shared.registry import get_exchange, get_frame, registry
from btfarm.shared.same_definition import differing_fields, same

pytestmark = pytest.mark.unit

SHARED = """
from btfarm.shared.exchanges import csv_exchange, synthetic_exchange
from btfarm.shared.registry import add_exchange, add_frame

add_exchange(synthetic_exchange("shared-market", seed={seed}))
add_exchange(csv_exchange("shared-files", folder={folder!r}))
add_frame(frame_name="shared-week", interval="1m", start_date="2024-01-01", end_date="{end}")
"""


@pytest.fixture
def clean_registry(monkeypatch):
    """This test's registrations on an empty registry; the session's come back after it."""
    for table in ("_items", "_origins"):
        monkeypatch.setattr(registry, table, {kind: {} for kind in getattr(registry, table)})


def module(
    tmp_path, name: str, seed: int = 3, folder: str = "data", end: str = "2024-01-08"
) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(SHARED.format(seed=seed, folder=folder, end=end)))
    return str(path)


def test_two_modules_registering_the_same_exchange_and_frame_both_import(tmp_path, clean_registry):
    import_user_module(module(tmp_path, "strategies_one"))
    first = get_exchange("shared-market"), get_exchange("shared-files"), get_frame("shared-week")
    import_user_module(
        module(tmp_path, "strategies_two")
    )  # was: 'exchange "shared-market" is already registered'
    # the first registration stays, with its origin: nothing was replaced
    assert (
        get_exchange("shared-market"),
        get_exchange("shared-files"),
        get_frame("shared-week"),
    ) == first
    assert get_exchange("shared-market") is first[0]
    assert registry.origin("exchange", "shared-market").endswith("strategies_one.py")


@pytest.mark.parametrize(
    ("changed", "kind", "name", "field"),
    [
        ({"seed": 4}, "exchange", "shared-market", "get_candles, source"),
        ({"folder": "other"}, "exchange", "shared-files", "get_candles, source"),
        ({"end": "2024-01-09"}, "frame", "shared-week", "end_date"),
    ],
)
def test_a_different_definition_under_the_name_is_an_error_naming_both_modules(
    tmp_path, clean_registry, changed, kind, name, field
):
    import_user_module(module(tmp_path, "strategies_one"))
    second = module(tmp_path, "strategies_two", **changed)
    with pytest.raises(SchemaError) as caught:
        import_user_module(second)
    message = str(caught.value)
    assert f'add_{kind}: {kind} "{name}" is already registered; pass override=True' in message
    assert f"registered by module {tmp_path / 'strategies_one.py'}" in message
    assert f"module {second} registers a different definition ({field} differ" in message


def test_a_strategy_registered_twice_stays_an_error_even_when_identical(clean_registry):
    from btfarm.shared.demo import sma_cross_signal
    from btfarm.shared.registry import add_strategy

    add_strategy(strategy_name="twice", interval="5m", get_signal=sma_cross_signal)
    with pytest.raises(
        SchemaError, match=r'strategy "twice" is already registered; .* registers it again'
    ):
        add_strategy(strategy_name="twice", interval="5m", get_signal=sma_cross_signal)


def _reader(folder):
    def get_candles(symbol, interval, since, limit):
        return folder

    return get_candles


def test_functions_are_the_same_by_name_source_closure_and_the_globals_they_read():
    assert same(_reader("a"), _reader("a"))  # two objects, one definition
    assert not same(_reader("a"), _reader("b"))  # same source, another folder in its closure
    one = {"FOLDER": "a"}
    two = {"FOLDER": "b"}
    code = "def get_candles(symbol):\n    return FOLDER\n"
    exec(code, one)  # noqa: S102
    exec(code, two)  # noqa: S102
    assert not same(one["get_candles"], two["get_candles"])  # reads another global
    two["FOLDER"] = "a"
    assert same(
        one["get_candles"], two["get_candles"]
    )  # (no source to read: the bytecode is compared)
    assert same(functools.partial(_reader, "a"), functools.partial(_reader, "a"))
    assert not same(functools.partial(_reader, "a"), functools.partial(_reader, "b"))
    assert not same(len, abs)


def test_arrays_and_objects_compare_by_value_and_anything_undecided_differs():
    assert same(np.arange(3.0), np.arange(3.0)) and not same(np.arange(3.0), np.arange(3))

    class Source:
        def __init__(self, seed):
            self.seed, self._cache = seed, {}

    assert same(Source(1), Source(1)) and not same(Source(1), Source(2))
    warm = Source(1)
    warm._cache["BTCUSDT"] = np.zeros(2)  # a source already used is not taken for a fresh one
    assert not same(Source(1), warm)

    class Refuses:
        def __eq__(self, other):
            raise TypeError("no")

        __hash__ = object.__hash__

    assert not same(Refuses(), Refuses())


def test_differing_fields_lists_what_differs_in_field_order():
    from btfarm.shared.schemas import FrameSchema

    a = FrameSchema(frame_name="f", interval="1m", start_date="2024-01-01", end_date="2024-01-08")
    b = FrameSchema(frame_name="f", interval="5m", start_date="2024-01-01", end_date="2024-01-09")
    assert differing_fields(a, a.model_copy()) == []
    assert differing_fields(a, b) == ["interval", "end_date"]

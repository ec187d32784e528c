"""orchestrator/variants.py and the Sweep checks: variant names, params, refusals."""

import json

import pytest

from btfarm.orchestrator.sweeps.variants import expand, variant_name
from btfarm.shared.errors import NotRegisteredError, SchemaError
from btfarm.shared.registry import add_strategy, add_walker
from btfarm.shared.schemas import WalkerSchema, sweep
from tests import farm_strategies  # noqa: F401  (registers farm-sma, farm-pullback)

pytestmark = pytest.mark.unit


def walker(*strategies):
    return WalkerSchema(
        walker_name="w",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=list(strategies),
    )


def test_a_sweep_expands_in_grid_order_with_readable_names_and_full_params():
    variants = expand(walker("farm-pullback", sweep("farm-sma", fast=[5, 10], slow=[20, 50])))
    assert [v.strategy_name for v in variants] == [
        "farm-pullback",
        "farm-sma[fast=5,slow=20]",
        "farm-sma[fast=5,slow=50]",
        "farm-sma[fast=10,slow=20]",
        "farm-sma[fast=10,slow=50]",
    ]
    assert variants[0].params is None and variants[0].base == "farm-pullback"
    assert variants[1].params == {"fast": 5, "slow": 20} and variants[1].base == "farm-sma"
    # what a worker imports: the module that registered farm-sma, not btfarm.shared.demo,
    # which defines its get_signal but registers nothing on import
    assert variants[1].module == "tests.farm_strategies"


def test_a_sweep_of_one_param_keeps_the_others_registered_defaults():
    (v,) = expand(walker(sweep("farm-sma", fast=[7])))
    assert v.params == {"fast": 7, "slow": 30}


def test_variant_names_write_strings_bare_and_other_values_as_json():
    assert variant_name("s", {"mode": "fast", "on": True, "x": 0.5}) == "s[mode=fast,on=true,x=0.5]"


@pytest.mark.parametrize(
    "value",
    [
        0,
        -5,
        10**30,
        0.1,
        -0.0,
        1e-300,
        1e300,
        1.0,
        123456789.123,
        True,
        None,
        [1, 2.5],
        {"a": [True]},
    ],
)
def test_a_value_in_a_variant_name_is_its_json(value):
    assert variant_name("s", {"v": value}) == f"s[v={json.dumps(value, separators=(',', ':'))}]"


@pytest.mark.parametrize(
    "grid, message",
    [
        ({}, "grid is empty"),
        ({"fast": []}, "has no values"),
        ({"fast": [object()]}, "cannot be sent to workers as JSON"),
        ({"fast": [float("nan")]}, "cannot be sent to workers as JSON"),
        ({"fast": [5, 5]}, "repeats a value"),
    ],
)
def test_bad_grids_are_refused_at_registration(grid, message):
    with pytest.raises(SchemaError, match=message):  # one btfarm error, not a pydantic traceback
        sweep("farm-sma", **grid)
    with pytest.raises(Exception, match=message):
        add_walker(
            walker_name="bad",
            exchange_name="farm-market",
            frame_name="farm-2d",
            strategies=[{"strategy_name": "farm-sma", "grid": grid}],
        )


@pytest.mark.parametrize(
    "values, repeated",
    [
        ([5, 5], True),
        (["a", "a"], True),
        ([None, None], True),
        ([[1], [1]], True),
        ([2.5, 2.5], True),
        ([1, True], False),
        ([1, 1.0], False),
        ([1, "1"], False),
        ([0, False], False),
    ],
)
def test_a_repeated_value_is_one_that_travels_as_the_same_json(values, repeated):
    # 1 and True, or 1 and 1.0, are equal in Python but reach a worker as different params
    if repeated:
        with pytest.raises(SchemaError, match="repeats a value"):
            sweep("farm-sma", fast=values)
    else:
        assert sweep("farm-sma", fast=values).grid["fast"] == values


def test_an_unknown_strategy_or_param_is_refused_before_submit():
    with pytest.raises(NotRegisteredError, match="farm-nope"):
        expand(walker(sweep("farm-nope", fast=[1])))
    with pytest.raises(SchemaError, match=r"'fats'.*Did you mean \"fast\""):
        expand(walker(sweep("farm-sma", fats=[1])))


def test_a_variant_listed_twice_is_refused():
    with pytest.raises(SchemaError, match="twice"):
        expand(walker("farm-sma", "farm-sma"))
    with pytest.raises(SchemaError, match=r"'farm-sma\[fast=10,slow=20\]' twice"):
        expand(
            walker(
                sweep("farm-sma", fast=[5, 10], slow=[20]),
                sweep("farm-sma", fast=[10], slow=[20, 50]),
            )
        )
    # keys in another order name other variants: both are allowed, as before
    assert (
        len(
            expand(
                walker(
                    sweep("farm-sma", fast=[5], slow=[20]), sweep("farm-sma", slow=[20], fast=[5])
                )
            )
        )
        == 2
    )


def test_grids_too_big_to_name_one_by_one_are_compared_by_their_value_lists(monkeypatch):
    from btfarm.orchestrator.sweeps import variants

    monkeypatch.setattr(variants, "NAMES_CHECKED_AT_ONCE", 3)  # what a million-variant walker takes
    apart = [
        sweep("farm-sma", fast=[5, 10], slow=[20, 30]),
        sweep("farm-sma", fast=[5, 10], slow=[40]),
    ]
    assert len(expand(walker(*apart))) == 6
    with pytest.raises(SchemaError, match=r"'farm-sma\[fast=10,slow=30\]' twice"):
        expand(walker(*apart, sweep("farm-sma", fast=[10, 11], slow=[30, 31])))


def test_a_million_variant_grid_is_its_value_lists_until_a_variant_is_asked_for():
    from btfarm.shared.variant_space import VariantSpace

    space = expand(walker(sweep("farm-sma", fast=list(range(1000)), slow=list(range(1000)))))
    assert len(space) == 10**6 and len(space.to_json()) < 20_000  # what the plan stores
    last = space[999_999]
    assert (last.strategy_name, last.params, last.index) == (
        "farm-sma[fast=999,slow=999]",
        {"fast": 999, "slow": 999},
        999_999,
    )
    again = VariantSpace.from_json(space.to_json())
    assert again[123_456] == space[123_456] and again.name(123_456) == "farm-sma[fast=123,slow=456]"
    assert space.base(5) == "farm-sma" and space.bases() == ["farm-sma"]
    assert (
        space[-1].index == 999_999 and space[-1] == last
    )  # counted from the end, addressed from the start
    assert [len(space.span(0))] == [10**6]
    with pytest.raises(IndexError):
        space[10**6]


def test_named_params_lists_every_variant_as_indexing_gives_it():
    space = expand(
        walker(
            "farm-pullback",
            sweep("farm-sma", fast=[5, 10, 15], slow=[20, 30]),
            sweep("farm-sma", slow=[40]),
        )
    )
    assert list(space.named_params()) == [(v.strategy_name, v.base, v.params) for v in space]
    assert len(list(space.named_params())) == 1 + 6 + 1


def test_a_strategy_without_declared_params_accepts_any_grid_key():
    add_strategy(
        strategy_name="grid-free", interval="5m", get_signal=lambda s, w: None, override=True
    )
    (v,) = expand(walker(sweep("grid-free", anything=[1])))
    assert v.params == {"anything": 1}


def test_walker_run_refuses_an_unknown_walker_before_touching_redis():
    from btfarm.orchestrator import Walker

    with pytest.raises(NotRegisteredError, match="Walker.run"):
        next(Walker.run("BTCUSDT", "no-such-walker"))


@pytest.mark.parametrize("entry", ["t-risky", sweep("t-risky", fast=[5])])
def test_a_risk_list_naming_an_unknown_risk_is_refused_before_submit(entry):
    """risk_list is checked as risk_name is (registry.get_strategy_risks): a typo in it fails
    the walker here, naming the strategy and the field, not every variant on the workers."""
    from btfarm.shared.demo import sma_cross_signal
    from btfarm.shared.registry import add_risk

    add_risk(risk_name="t-grid-known", max_positions=1, override=True)
    add_strategy(
        strategy_name="t-risky",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        risk_name="t-grid-known",
        risk_list=["t-grid-unknwn"],
        override=True,
    )
    with pytest.raises(NotRegisteredError) as caught:
        expand(walker(entry))
    message = str(caught.value)
    assert 'risk "t-grid-unknwn" not found' in message
    assert 'risk_list of strategy "t-risky"' in message

"""A walker over portfolios (issue 32 §4): ``PortfolioSweep`` and its expansion into variants,
the flat member params ``PortfolioRun`` accepts, and a worker's run of one portfolio variant
(``workers/variant_run.run_portfolio_variant``, called here without Celery; the farm test,
tests/integration/test_portfolio_walker_farm.py, runs it on real workers)."""

from __future__ import annotations

import json

import pytest

from btfarm.orchestrator.sweeps.variants import expand
from btfarm.shared.engine.portfolio_run import PortfolioRun, apply_params
from btfarm.shared.errors import NotRegisteredError, SchemaError, UsageError
from btfarm.shared.payloads import Chunk
from btfarm.shared.registry import (
    add_portfolio,
    add_risk,
    add_strategy,
    add_walker,
    get_portfolio,
    registry,
)
from btfarm.shared.schemas import PortfolioSweep, WalkerSchema, portfolio_sweep, sweep
from btfarm.shared.variant_space import VariantSpace
from btfarm.workers.variant_run import run_variant
from tests import farm_strategies  # noqa: F401  (registers farm-market, farm-2d, farm-sma, farm-pullback)

pytestmark = pytest.mark.unit

SMA = "BTCUSDT:farm-sma"
DIP = "ETHUSDT:farm-pullback"


@pytest.fixture(autouse=True)
def duo():
    """Portfolio "pw-duo": farm-sma on BTCUSDT and farm-pullback on ETHUSDT under a one-position
    risk; "pw-free": the same members, no risk."""
    farm_strategies.register()
    add_risk(risk_name="pw-one", max_positions=1, override=True)
    members = [
        {"symbol": "BTCUSDT", "strategy_name": "farm-sma"},
        {"symbol": "ETHUSDT", "strategy_name": "farm-pullback"},
    ]
    for name, risk in (("pw-duo", "pw-one"), ("pw-free", None)):
        add_portfolio(
            portfolio_name=name,
            exchange_name="farm-market",
            frame_name="farm-2d",
            members=members,
            risk_name=risk,
            override=True,
        )


def walker(*strategies, frame_name="farm-2d"):
    return WalkerSchema(
        walker_name="pw",
        exchange_name="farm-market",
        frame_name=frame_name,
        strategies=list(strategies),
    )


# ---- the schema --------------------------------------------------------------


def test_a_portfolio_sweep_writes_its_members_params_flat_in_the_order_given():
    entry = portfolio_sweep("pw-duo", max_positions=[1, 2], members={SMA: {"fast": (5, 10)}})
    assert entry == PortfolioSweep(
        portfolio_name="pw-duo", grid={"max_positions": [1, 2], f"{SMA}.fast": [5, 10]}
    )
    # the dict form a walker's strategies take, flat or with "members"
    listed = walker(
        {"portfolio_name": "pw-duo"},
        {"portfolio_name": "pw-duo", "grid": {"members": {SMA: {"slow": [20, 40]}}}},
    ).strategies
    assert listed == [
        PortfolioSweep(portfolio_name="pw-duo"),
        PortfolioSweep(portfolio_name="pw-duo", grid={f"{SMA}.slow": [20, 40]}),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: portfolio_sweep("d", max_positions=2), "max_positions=2 is a int, not a list"),
        (
            lambda: portfolio_sweep("d", max_positon=[2]),
            "grid key 'max_positon' is not a portfolio's param. Did you mean \"max_positions\"?",
        ),
        (lambda: portfolio_sweep("d", capital=[]), "'capital' has no values"),
        (lambda: portfolio_sweep("d", capital=[100, 100]), "'capital' repeats a value"),
        (
            lambda: portfolio_sweep("d", members={SMA: {"fast": [{1, 2}]}}),
            "cannot be sent to workers as JSON",
        ),
        (
            lambda: PortfolioSweep(portfolio_name="d", grid={"members": {SMA: [5]}}),
            'grid["members"] must map "SYMBOL:strategy_name" to {param: [values]}',
        ),
        (
            lambda: PortfolioSweep(
                portfolio_name="d", grid={f"{SMA}.fast": [5], "members": {SMA: {"fast": [6]}}}
            ),
            'is in grid and in grid["members"]: give its values once',
        ),
    ],
)
def test_a_bad_portfolio_grid_is_refused_when_written(call, message):
    with pytest.raises((SchemaError, ValueError)) as caught:
        call()
    assert message in str(caught.value)


# ---- the expansion -----------------------------------------------------------


def test_portfolio_variants_are_named_by_their_combination_and_carry_it_as_their_params():
    space = expand(
        walker(
            "farm-pullback",
            {"portfolio_name": "pw-duo"},
            portfolio_sweep("pw-duo", max_positions=[1, 2], members={SMA: {"fast": [5, 10]}}),
        )
    )
    assert [v.strategy_name for v in space] == [
        "farm-pullback",
        "pw-duo",
        f"pw-duo[max_positions=1,{SMA}.fast=5]",
        f"pw-duo[max_positions=1,{SMA}.fast=10]",
        f"pw-duo[max_positions=2,{SMA}.fast=5]",
        f"pw-duo[max_positions=2,{SMA}.fast=10]",
    ]
    assert [v.kind for v in space] == ["strategy"] + ["portfolio"] * 5
    assert space[1].params is None and space[1].base == "pw-duo"
    # only the combination: PortfolioRun lays it over the registered portfolio
    assert space[3].params == {"max_positions": 1, f"{SMA}.fast": 10}
    # the strategies the variants run (what the plan checks the code of): the members'
    assert space.bases() == ["farm-pullback", "farm-sma"]
    assert space[2].module == registry.origin("portfolio", "pw-duo")
    # the plan stores the space as JSON; a worker reads it back whole
    again = VariantSpace.from_json(space.to_json())
    assert [v.model_dump() for v in again] == [v.model_dump() for v in space]
    assert list(again.named_params())[3] == (space[3].strategy_name, "pw-duo", space[3].params)


@pytest.mark.parametrize(
    ("entry", "error", "message"),
    [
        (
            {"portfolio_name": "pw-dou"},
            NotRegisteredError,
            'portfolio "pw-dou" not found (needed by Walker.run). Did you mean "pw-duo"',
        ),
        (
            portfolio_sweep("pw-duo", members={"BTCUSDT:farm-sam": {"fast": [5]}}),
            SchemaError,
            "grid key 'BTCUSDT:farm-sam.fast' is not the param of any member. Did you mean "
            f'"{SMA}.fast"',
        ),
        (
            portfolio_sweep("pw-duo", members={SMA: {"fats": [5]}}),
            SchemaError,
            f"sets 'fats', which is not one of the params of member {SMA} (fast, slow). Did you "
            'mean "fast"',
        ),
        (
            portfolio_sweep("pw-free", max_positions=[1, 2]),
            SchemaError,
            'portfolio "pw-free": params["max_positions"] sets the portfolio risk\'s max_positions, '
            "but the portfolio has no risk_name",
        ),
        (
            portfolio_sweep("pw-duo", max_positions=[1, 0]),
            SchemaError,
            'params["max_positions"] must be an integer >= 1, got 0',
        ),
        (
            portfolio_sweep("pw-duo", capital=[1000, -5]),
            SchemaError,
            "capital must be a finite number of dollars > 0, got -5",
        ),
        (
            "pw-duo",
            SchemaError,
            "walker 'pw' lists 'pw-duo', which is a portfolio, as a strategy: list it as "
            '{"portfolio_name": "pw-duo"}',
        ),
    ],
)
def test_what_a_portfolio_sweep_names_is_checked_before_anything_is_submitted(
    entry, error, message
):
    with pytest.raises(error) as caught:
        expand(walker(entry))
    assert message in str(caught.value)


def test_a_portfolio_on_another_frame_than_the_walker_is_refused_naming_both():
    with pytest.raises(SchemaError) as caught:
        expand(walker({"portfolio_name": "pw-duo"}, frame_name="farm-1d"))
    assert (
        "walker 'pw': portfolio 'pw-duo' runs on frame_name 'farm-2d', the walker on 'farm-1d'"
        in str(caught.value)
    )


def test_a_member_strategy_or_risk_missing_is_named_with_the_member():
    add_portfolio(
        portfolio_name="pw-ghost",
        exchange_name="farm-market",
        frame_name="farm-2d",
        members=[{"symbol": "BTCUSDT", "strategy_name": "pw-nobody"}],
        override=True,
    )
    with pytest.raises(NotRegisteredError, match="portfolio 'pw-ghost', member BTCUSDT:pw-nobody"):
        expand(walker({"portfolio_name": "pw-ghost"}))


def test_a_portfolio_listed_twice_with_the_same_combination_is_refused():
    with pytest.raises(SchemaError, match="twice"):
        expand(
            walker(
                portfolio_sweep("pw-duo", max_positions=[1, 2]),
                portfolio_sweep("pw-duo", max_positions=[2, 3]),
            )
        )


def test_a_walker_may_list_portfolios_beside_strategies_at_registration():
    schema = add_walker(
        walker_name="pw-mixed",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=[sweep("farm-sma", fast=[5]), {"portfolio_name": "pw-duo"}],
        override=True,
    )
    assert isinstance(schema.strategies[1], PortfolioSweep)


# ---- PortfolioRun's flat params ----------------------------------------------


def test_a_members_param_written_flat_is_the_same_as_under_members():
    portfolio = get_portfolio("pw-duo")
    flat = apply_params(portfolio, {f"{SMA}.fast": 5, "max_positions": 2})
    nested = apply_params(portfolio, {"members": {SMA: {"fast": 5}}, "max_positions": 2})
    assert flat == nested and flat[1] == {SMA: {"fast": 5}}


def test_flat_member_params_are_refused_when_unknown_or_given_twice():
    portfolio = get_portfolio("pw-duo")
    with pytest.raises(UsageError) as caught:
        apply_params(portfolio, {"BTCUSDT:farm-sam.fast": 5})
    assert "params has unknown key 'BTCUSDT:farm-sam.fast'" in str(caught.value)
    assert f"the members are {SMA}, {DIP}" in str(caught.value)
    with pytest.raises(UsageError, match="sets BTCUSDT:farm-sma's 'fast' twice"):
        apply_params(portfolio, {f"{SMA}.fast": 5, "members": {SMA: {"fast": 6}}})


# ---- a worker's run of a portfolio variant ----------------------------------


def chunk_of(space: VariantSpace) -> Chunk:
    return Chunk(
        run_id="pw-run",
        walker_name="pw",
        symbol="BTCUSDT",
        exchange_name="farm-market",
        frame_name="farm-2d",
        variants=list(space),
    )


def test_a_worker_runs_a_portfolio_variant_as_the_portfolio_runs_in_process():
    space = expand(
        walker(portfolio_sweep("pw-duo", max_positions=[2], members={SMA: {"fast": [5]}}))
    )
    (variant,) = space
    record = run_variant(chunk_of(space), variant, lambda: False, "w1")
    assert record["status"] == "done", record["error"]
    here = PortfolioRun(get_portfolio("pw-duo"), variant.params).run()
    assert record["stats"] == json.loads(json.dumps(here.statistics().model_dump(mode="json")))
    assert record["stats"]["total_signals"] > 0
    assert record["daily"] == here.daily_pnl() and record["lane"] == "portfolio"
    assert record["fingerprint"]["strategy_name"] == variant.strategy_name
    assert set(record["fingerprint"]["members"]) == {SMA, DIP}
    assert record["params"] == {"max_positions": 2, f"{SMA}.fast": 5}


def test_a_portfolio_variant_the_worker_does_not_know_fails_saying_what_to_import():
    space = expand(walker({"portfolio_name": "pw-duo"}))
    variant = space[0].model_copy(update={"base": "pw-elsewhere", "module": "my.portfolios"})
    record = run_variant(chunk_of(space), variant, lambda: False, "w1")
    assert record["status"] == "failed"
    assert 'portfolio "pw-elsewhere" not found' in record["error"]
    assert "btfarm worker --import my.portfolios" in record["error"]


def test_a_portfolio_variant_whose_member_raises_fails_alone_naming_the_strategy():
    def raises(symbol, when):
        raise ValueError("pw-raiser always raises")

    add_strategy(strategy_name="pw-raiser", interval="15m", get_signal=raises, override=True)
    add_portfolio(
        portfolio_name="pw-bad",
        exchange_name="farm-market",
        frame_name="farm-2d",
        members=[
            {"symbol": "BTCUSDT", "strategy_name": "farm-sma"},
            {"symbol": "ETHUSDT", "strategy_name": "pw-raiser"},
        ],
        override=True,
    )
    space = expand(walker({"portfolio_name": "pw-bad"}))
    record = run_variant(chunk_of(space), space[0], lambda: False, "w1")
    assert record["status"] == "failed"
    assert "StrategyError" in record["error"] and "pw-raiser always raises" in record["error"]


def test_a_portfolio_variant_stopped_while_it_runs_is_reported_stopped():
    space = expand(walker({"portfolio_name": "pw-duo"}))
    record = run_variant(chunk_of(space), space[0], lambda: True, "w1")
    assert record["status"] == "stopped" and record["stats"] is None


def test_a_worker_running_other_code_for_a_member_fails_the_portfolio_variant():
    space = expand(walker({"portfolio_name": "pw-duo"}))
    chunk = chunk_of(space).model_copy(update={"code": {"farm-pullback": "0" * 32}})
    record = run_variant(chunk, space[0], lambda: False, "w1")
    assert record["status"] == "failed"
    assert record["error"].startswith("code differs: worker w1 runs strategy farm-pullback at")


def test_a_flat_key_names_the_longest_member_it_starts_with():
    # a strategy name may hold dots: "S:a.b" and "S:a" are both members, "S:a.b.fast" is S:a.b's
    from btfarm.shared.engine.portfolio_run import member_param

    members = ["S:a", "S:a.b"]
    assert member_param("S:a.b.fast", members) == ("S:a.b", "fast")
    assert member_param("S:a.fast", members) == ("S:a", "fast")
    assert member_param("S:a.", members) is None and member_param("S:c.fast", members) is None


def test_the_local_workers_import_the_module_that_registered_a_listed_portfolio():
    """A portfolio registered in a module that is neither the walker's nor a member's: the
    embedded default's workers must import it too, or every portfolio variant fails."""
    from btfarm.orchestrator.sweeps.local_pool import pool_imports

    portfolio = get_portfolio("pw-duo", "test").model_copy(
        update={"portfolio_name": "pw-elsewhere"}
    )
    registry.add("portfolio", portfolio, True, {}, origin="my_portfolios")
    registry.add(
        "walker",
        walker({"portfolio_name": "pw-elsewhere"}).model_copy(update={"walker_name": "pw-far"}),
        True,
        {},
        origin="my_walkers",
    )
    imports = pool_imports("pw-far", "farm-market", "farm-2d", ["farm-sma", "farm-pullback"])
    assert "my_portfolios" in imports and "my_walkers" in imports

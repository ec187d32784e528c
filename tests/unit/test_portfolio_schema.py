"""Bad portfolios are refused with errors naming the portfolio, what is wrong and the fix: at
``add_portfolio`` (the schema), and when the run starts (names, symbols, params)."""

from __future__ import annotations

import math

import pytest

from btfarm.orchestrator import Portfolio
from btfarm.shared.engine.portfolio_run import PortfolioRun
from btfarm.shared.errors import CandleDataError, NotRegisteredError, SchemaError, UsageError
from btfarm.shared.registry import add_portfolio, add_risk, get_portfolio

from .portfolio_market import EXCHANGE, FRAME, START, Script, long_signal, member, register_market

pytestmark = pytest.mark.unit


@pytest.fixture
def market():
    register_market(("SA", "SB"))
    member("pf-sma", Script({START: long_signal()}))
    member("pf-dip-buyer", Script({}))
    add_risk(risk_name="pf-budget", max_positions=1, override=True)


def portfolio(**fields):
    values = {
        "portfolio_name": "pf-bad",
        "exchange_name": EXCHANGE,
        "frame_name": FRAME,
        "members": [
            {"symbol": "SA", "strategy_name": "pf-sma"},
            {"symbol": "SB", "strategy_name": "pf-dip-buyer"},
        ],
    }
    return add_portfolio(override=True, **{**values, **fields})


@pytest.mark.parametrize("capital", [0, -100, 0.0, math.nan, math.inf, True, "1000"])
def test_capital_must_be_a_positive_number_of_dollars(capital):
    with pytest.raises(SchemaError) as caught:
        portfolio(capital=capital)
    message = str(caught.value)
    assert message.startswith(
        'add_portfolio "pf-bad": capital: capital must be a finite number of dollars > 0, '
        f"got {capital!r}"
    )
    assert "leave it out (None) for no capital limit" in message


def test_a_strategy_twice_on_one_symbol_is_refused():
    with pytest.raises(SchemaError) as caught:
        portfolio(
            members=[
                {"symbol": "SA", "strategy_name": "pf-sma"},
                {"symbol": "SB", "strategy_name": "pf-sma"},
                {"symbol": "SA", "strategy_name": "pf-sma"},
            ]
        )
    assert (
        'members[0] and members[2] are both strategy "pf-sma" on SA: a strategy trades a symbol once in a '
        "portfolio; remove one, or register the strategy again under another name "
        '(add_strategy(..., strategy_name="pf-sma-2")) to run it twice'
    ) in str(caught.value)


def test_a_portfolio_needs_members_each_a_symbol_and_a_strategy():
    with pytest.raises(SchemaError, match="members is empty"):
        portfolio(members=[])
    with pytest.raises(SchemaError, match=r"members\.0\.strategy: unknown field"):
        portfolio(members=[{"symbol": "SA", "strategy": "pf-sma"}])
    with pytest.raises(SchemaError, match=r"members\.0\.symbol: symbol is empty"):
        portfolio(members=[{"symbol": " ", "strategy_name": "pf-sma"}])


def test_a_second_registration_needs_override():
    portfolio()
    with pytest.raises(
        SchemaError, match='portfolio "pf-bad" is already registered; pass override=True'
    ):
        add_portfolio(get_portfolio("pf-bad"))


@pytest.mark.parametrize(
    ("field", "value", "kind", "suggestion"),
    [
        ("exchange_name", "flat-y", "exchange", EXCHANGE),
        ("frame_name", "flat-g", "frame", FRAME),
        ("risk_name", "pf-budgets", "risk", "pf-budget"),
    ],
)
def test_unknown_names_are_refused_when_the_run_starts(market, field, value, kind, suggestion):
    schema = portfolio(**{field: value})
    with pytest.raises(NotRegisteredError) as caught:
        PortfolioRun(schema, needed_by="Portfolio.run")
    message = str(caught.value)
    assert message.startswith(
        f'{kind} "{value}" not found (needed by Portfolio.run: portfolio "pf-bad")'
    )
    assert f'Did you mean "{suggestion}"' in message and f"add_{kind}(...)" in message


def test_an_unknown_strategy_names_its_member(market):
    schema = portfolio(
        members=[
            {"symbol": "SA", "strategy_name": "pf-sma"},
            {"symbol": "SB", "strategy_name": "pf-dip-buyr"},
        ]
    )
    with pytest.raises(NotRegisteredError) as caught:
        PortfolioRun(schema, needed_by="Portfolio.run")
    assert str(caught.value).startswith(
        'strategy "pf-dip-buyr" not found (needed by Portfolio.run: portfolio "pf-bad", '
        'members[1] on SB). Did you mean "pf-dip-buyer"?'
    )


def test_a_member_whose_symbol_the_exchange_lacks_is_named_when_the_candles_load(market):
    schema = portfolio(
        members=[
            {"symbol": "SA", "strategy_name": "pf-sma"},
            {"symbol": "SZ", "strategy_name": "pf-dip-buyer"},
        ]
    )
    with pytest.raises(CandleDataError) as caught:
        PortfolioRun(schema, needed_by="Portfolio.run")
    message = str(caught.value)
    assert message.startswith(
        'Portfolio.run: portfolio "pf-bad", members[1] (SZ:pf-dip-buyer): exchange "flat-x" has no '
        "candles for SZ ("
    )
    assert message.endswith("list a symbol the exchange has, or remove the member")
    assert "it has SA, SB" in message  # (the exchange's own words, kept)


def test_an_unknown_portfolio_is_refused_before_anything_runs():
    with pytest.raises(
        NotRegisteredError, match=r'portfolio "pf-nowhere" not found \(needed by Portfolio.run\)'
    ):
        Portfolio.run("pf-nowhere")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"member": {}}, "params has unknown key 'member'. Did you mean \"members\"?"),
        (
            {"members": {"SA:pf-smaa": {"fast": 3}}},
            'params["members"] names \'SA:pf-smaa\', not a member. Did you mean "SA:pf-sma"?',
        ),
        (
            {"members": {"SA:pf-sma": 3}},
            'params["members"] must map "SYMBOL:strategy_name" to a dict',
        ),
        ({"max_positions": 2}, "the portfolio has no risk_name; give it one"),
        ({"capital": -1}, 'params["capital"]'),
    ],
)
def test_bad_params_are_refused_naming_the_key(market, params, expected):
    with pytest.raises(UsageError) as caught:
        PortfolioRun(portfolio(), params)
    assert expected in str(caught.value) and 'portfolio "pf-bad"' in str(caught.value)


def test_params_vary_the_registered_portfolio(market):
    """max_positions 1 over a portfolio risk of 2, and a member's params laid over its strategy's."""
    add_risk(risk_name="pf-two", max_positions=2, override=True)
    member("pf-b2", Script({START: long_signal()}))
    schema = portfolio(
        risk_name="pf-two",
        members=[
            {"symbol": "SA", "strategy_name": "pf-sma"},
            {"symbol": "SB", "strategy_name": "pf-b2"},
        ],
    )
    assert PortfolioRun(schema).run().walk.max_open == 2
    run = PortfolioRun(
        schema, {"max_positions": 1, "members": {"SB:pf-b2": {"tag": 7}}, "capital": 500}
    ).run()
    assert run.walk.max_open == 1 and run.walk.risk_events > 0
    assert run.members[1].core.params == {"tag": 7} and run.ledger.capital == 500
    assert run.record()["params"] == {
        "max_positions": 1,
        "members": {"SB:pf-b2": {"tag": 7}},
        "capital": 500,
    }

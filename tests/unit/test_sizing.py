"""shared/sizing.py and the sizing schema: backtest-kit's formulas and clamps with
numbers worked by hand, and every refusal (issue 32 sections 2 and 5)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from btfarm.orchestrator import PositionSize, add_sizing, listen_error
from btfarm.shared.errors import NotRegisteredError, SchemaError, UsageError
from btfarm.shared.registry import get_sizing, registry

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "sizing.md"


@pytest.fixture(autouse=True)
def _own_sizings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers into an empty sizing registry, restored afterwards."""
    monkeypatch.setitem(registry._items, "sizing", {})
    monkeypatch.setitem(registry._origins, "sizing", {})


def fixed(**clamps):
    add_sizing(
        sizing_name="fixed",
        method="fixed-percentage",
        risk_percentage=clamps.pop("risk", 2),
        override=True,
        **clamps,
    )
    return lambda price_stop_loss=49_000, balance=10_000, price_open=50_000: (
        PositionSize.fixed_percentage(
            "BTCUSDT", balance, price_open, price_stop_loss, sizing_name="fixed"
        )
    )


# ---- the formulas -----------------------------------------------------------


def test_fixed_percentage_risks_its_percent_over_the_stop_distance():
    size = fixed()
    # 10,000 x 2 % = 200 risked; |50,000 - 49,000| = 1,000 per unit: 0.2 units
    assert size() == pytest.approx(0.2, rel=1e-12)
    # a short's stop above the entry: the same distance, the same size
    assert size(price_stop_loss=51_000) == pytest.approx(0.2, rel=1e-12)
    # 200 / 250 = 0.8
    assert size(price_stop_loss=49_750) == pytest.approx(0.8, rel=1e-12)


def test_kelly_criterion_bets_its_multiplier_of_the_kelly_fraction():
    add_sizing(sizing_name="kelly", method="kelly-criterion")
    assert get_sizing("kelly").kelly_multiplier == 0.25  # backtest-kit's default
    # kelly = (0.55 x 1.5 - 0.45) / 1.5 = 0.25; x 0.25 = 0.0625; 10,000 x 0.0625 / 50,000 = 0.0125
    assert PositionSize.kelly_criterion(
        "BTCUSDT", 10_000, 50_000, 0.55, 1.5, sizing_name="kelly"
    ) == pytest.approx(0.0125, rel=1e-12)
    add_sizing(sizing_name="half", method="kelly-criterion", kelly_multiplier=0.5)
    # kelly = (0.6 x 2 - 0.4) / 2 = 0.4; x 0.5 = 0.2; 20,000 x 0.2 / 100 = 40
    assert PositionSize.kelly_criterion(
        "ETHUSDT", 20_000, 100, 0.6, 2, sizing_name="half"
    ) == pytest.approx(40, rel=1e-12)


def test_a_negative_kelly_edge_bets_nothing():
    add_sizing(sizing_name="kelly", method="kelly-criterion")
    # kelly = (0.4 x 1 - 0.6) / 1 = -0.2, floored at 0
    assert (
        PositionSize.kelly_criterion("BTCUSDT", 10_000, 50_000, 0.4, 1.0, sizing_name="kelly") == 0
    )


def test_kelly_multiplier_zero_bets_nothing_as_in_backtest_kit():
    add_sizing(sizing_name="kelly", method="kelly-criterion", kelly_multiplier=0)
    assert (
        PositionSize.kelly_criterion("BTCUSDT", 10_000, 50_000, 0.55, 1.5, sizing_name="kelly") == 0
    )


def test_atr_based_risks_its_percent_over_atr_times_the_multiplier():
    add_sizing(sizing_name="atr", method="atr-based", risk_percentage=2)
    assert get_sizing("atr").atr_multiplier == 2  # backtest-kit's default
    # 200 / (500 x 2) = 0.2
    assert PositionSize.atr_based(
        "BTCUSDT", 10_000, 50_000, 500, sizing_name="atr"
    ) == pytest.approx(0.2, rel=1e-12)
    add_sizing(sizing_name="atr-1.5", method="atr-based", risk_percentage=3, atr_multiplier=1.5)
    # 10,000 x 3 % = 300; 300 / (400 x 1.5) = 0.5
    assert PositionSize.atr_based(
        "BTCUSDT", 10_000, 50_000, 400, sizing_name="atr-1.5"
    ) == pytest.approx(0.5, rel=1e-12)


# ---- the clamps, each and in order -------------------------------------------


def test_min_position_size_lifts_a_small_size():
    # 10,000 x 0.01 % = 1 risked over 1,000: 0.001, lifted to 0.05
    assert fixed(risk=0.01, min_position_size=0.05)() == 0.05
    # a size above the floor is left alone
    assert fixed(risk=2, min_position_size=0.05)() == pytest.approx(0.2, rel=1e-12)


def test_max_position_percentage_caps_at_a_share_of_the_balance_at_the_entry_price():
    # 50 % risked: 5,000 / 1,000 = 5 units; 10 % of 10,000 at 50,000 = 0.02 units
    add_sizing(sizing_name="fixed", method="fixed-percentage", risk_percentage=50)
    assert (
        PositionSize.fixed_percentage("BTCUSDT", 10_000, 50_000, 49_000, sizing_name="fixed") == 5
    )
    assert fixed(risk=50, max_position_percentage=10)() == pytest.approx(0.02, rel=1e-12)


def test_max_position_size_caps_in_units():
    assert fixed(risk=50, max_position_size=0.01)() == 0.01


def test_the_caps_come_after_the_floor():
    # 0.001 lifted to 1 by the floor, then capped at 0.02 by 10 %: the cap has the last word
    # (the floor applied last would give 1)
    assert fixed(risk=0.01, min_position_size=1, max_position_percentage=10)() == pytest.approx(
        0.02, rel=1e-12
    )
    # the floor then the absolute cap: max(0.001, 0.5) = 0.5, min(0.5, 0.8) = 0.5
    assert fixed(risk=0.01, min_position_size=0.5, max_position_size=0.8)() == 0.5


def test_both_caps_the_smaller_wins():
    # 5 units; 10 % gives 0.02, then 0.015 absolute
    assert fixed(risk=50, max_position_percentage=10, max_position_size=0.015)() == 0.015
    # 5 units; 10 % gives 0.02, the absolute 0.03 leaves it
    assert fixed(risk=50, max_position_percentage=10, max_position_size=0.03)() == pytest.approx(
        0.02, rel=1e-12
    )


def test_the_floor_applies_to_a_kelly_bet_of_zero_as_in_backtest_kit():
    add_sizing(sizing_name="kelly", method="kelly-criterion", min_position_size=0.001)
    assert (
        PositionSize.kelly_criterion("BTCUSDT", 10_000, 50_000, 0.4, 1.0, sizing_name="kelly")
        == 0.001
    )


def test_on_calculate_sees_the_clamped_quantity_and_the_inputs():
    seen = []
    add_sizing(
        sizing_name="fixed",
        method="fixed-percentage",
        risk_percentage=50,
        max_position_size=0.01,
        callbacks={"on_calculate": lambda quantity, params: seen.append((quantity, params))},
    )
    PositionSize.fixed_percentage("BTCUSDT", 10_000, 50_000, 49_000, sizing_name="fixed")
    assert seen == [
        (
            0.01,
            {
                "method": "fixed-percentage",
                "symbol": "BTCUSDT",
                "balance": 10_000,
                "price_open": 50_000,
                "price_stop_loss": 49_000,
            },
        )
    ]


def test_an_on_calculate_that_raises_is_reported_and_the_size_still_returned():
    def broken(quantity, params):
        raise RuntimeError("boom")

    errors = []
    unsubscribe = listen_error(errors.append)
    try:
        add_sizing(
            sizing_name="fixed",
            method="fixed-percentage",
            risk_percentage=2,
            callbacks={"on_calculate": broken},
        )
        assert PositionSize.fixed_percentage(
            "BTCUSDT", 10_000, 50_000, 49_000, sizing_name="fixed"
        ) == pytest.approx(0.2, rel=1e-12)
    finally:
        unsubscribe()
    assert [e["sizing_name"] for e in errors] == ["fixed"]
    assert "on_calculate raised RuntimeError: boom" in errors[0]["message"]


# ---- bad input at the call ----------------------------------------------------


def test_a_zero_stop_distance_is_refused():
    with pytest.raises(
        UsageError,
        match=r'sizing "fixed".*stop distance .* is 0 .*price_stop_loss=50000.*'
        r"give a stop-loss price away from the entry",
    ):
        fixed()(price_stop_loss=50_000)


@pytest.mark.parametrize("win_rate", [0, 1, 55, -0.1])
def test_a_win_rate_outside_zero_one_is_refused(win_rate):
    add_sizing(sizing_name="kelly", method="kelly-criterion")
    with pytest.raises(
        UsageError, match=rf"win_rate={win_rate!r} is outside \(0, 1\).*e\.g\. 0\.55"
    ):
        PositionSize.kelly_criterion("BTCUSDT", 10_000, 50_000, win_rate, 1.5, sizing_name="kelly")


def test_a_win_loss_ratio_not_above_zero_is_refused():
    add_sizing(sizing_name="kelly", method="kelly-criterion")
    with pytest.raises(UsageError, match=r"win_loss_ratio=0 must be above 0"):
        PositionSize.kelly_criterion("BTCUSDT", 10_000, 50_000, 0.55, 0, sizing_name="kelly")


@pytest.mark.parametrize("atr", [0, -5.0])
def test_an_atr_not_above_zero_is_refused(atr):
    add_sizing(sizing_name="atr", method="atr-based", risk_percentage=2)
    with pytest.raises(
        UsageError, match=rf'PositionSize.atr_based.*sizing "atr".*atr={atr!r} must be above 0'
    ):
        PositionSize.atr_based("BTCUSDT", 10_000, 50_000, atr, sizing_name="atr")


@pytest.mark.parametrize("balance", [0, -100.0])
def test_a_balance_not_above_zero_is_refused(balance):
    with pytest.raises(
        UsageError, match=rf"balance={balance!r} must be above 0; give the account balance"
    ):
        fixed()(balance=balance)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("price_open", 0),
        ("price_open", math.nan),
        ("price_stop_loss", -1),
        ("price_stop_loss", "49000"),
    ],
)
def test_a_price_not_a_positive_number_is_refused(name, value):
    with pytest.raises(
        UsageError,
        match=rf"{name}={re.escape(repr(value))} (must be above 0|is not a finite number)",
    ):
        fixed()(**{name: value})


def test_the_method_that_does_not_match_the_schema_is_refused_naming_the_right_one():
    add_sizing(sizing_name="kelly", method="kelly-criterion")
    with pytest.raises(
        UsageError,
        match=r'PositionSize.fixed_percentage: sizing "kelly" is method '
        r'"kelly-criterion", not "fixed-percentage"; call '
        r"PositionSize.kelly_criterion",
    ):
        PositionSize.fixed_percentage("BTCUSDT", 10_000, 50_000, 49_000, sizing_name="kelly")
    with pytest.raises(UsageError, match=r'is method "kelly-criterion", not "atr-based"'):
        PositionSize.atr_based("BTCUSDT", 10_000, 50_000, 500, sizing_name="kelly")


def test_an_unknown_sizing_name_is_refused_with_did_you_mean():
    add_sizing(sizing_name="risk-2", method="fixed-percentage", risk_percentage=2)
    with pytest.raises(
        NotRegisteredError,
        match=r'sizing "risk2" not found \(needed by '
        r'PositionSize.fixed_percentage\). Did you mean "risk-2"\? '
        r"Register it with add_sizing",
    ):
        PositionSize.fixed_percentage("BTCUSDT", 10_000, 50_000, 49_000, sizing_name="risk2")


# ---- bad schemas at add_sizing ------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"method": "fixed-percentage"},
            r'method "fixed-percentage" needs risk_percentage: give it, e\.g\. risk_percentage=1',
        ),
        ({"method": "atr-based", "atr_multiplier": 3}, r'method "atr-based" needs risk_percentage'),
        (
            {},
            r'method is missing: give method="fixed-percentage" or "kelly-criterion" or "atr-based"',
        ),
        (
            {"method": "fixed_percentage", "risk_percentage": 1},
            r'Did you mean "fixed-percentage"\?',
        ),
        (
            {"method": "fixed-percentage", "risk_percentage": 1, "kelly_multiplier": 0.5},
            r'kelly_multiplier=0\.5 is not read by method "fixed-percentage" \(only by kelly-criterion\)',
        ),
        (
            {"method": "kelly-criterion", "risk_percentage": 1},
            r'risk_percentage=1\.0 is not read by method "kelly-criterion" \(only by fixed-percentage and atr-based\)',
        ),
        (
            {"method": "fixed-percentage", "risk_percentage": 0},
            r"risk_percentage=0\.0 is out of range: .* \(0, 100\]",
        ),
        (
            {"method": "fixed-percentage", "risk_percentage": 150},
            r"risk_percentage=150\.0 is out of range",
        ),
        (
            {"method": "kelly-criterion", "kelly_multiplier": 1.5},
            r"kelly_multiplier=1\.5 is out of range: .* \[0, 1\]",
        ),
        (
            {"method": "atr-based", "risk_percentage": 2, "atr_multiplier": 0},
            r"atr_multiplier=0\.0 is out of range: .* > 0",
        ),
        (
            {"method": "kelly-criterion", "max_position_percentage": math.inf},
            r"max_position_percentage=inf is out of range",
        ),
        (
            {"method": "kelly-criterion", "min_position_size": -1},
            r"min_position_size=-1\.0 is out of range: .* >= 0",
        ),
        (
            {"method": "kelly-criterion", "max_position_size": 0},
            r"max_position_size=0\.0 is out of range",
        ),
        (
            {"method": "kelly-criterion", "min_position_size": 2, "max_position_size": 1},
            r"min_position_size=2\.0 is above max_position_size=1\.0: .* lower the floor or raise the cap",
        ),
        (
            {"method": "kelly-criterion", "max_position_size": "1"},
            r"max_position_size: Input should be a valid number",
        ),
        (
            {"method": "kelly-criterion", "callbacks": {"on_calc": print}},
            r"callback 'on_calc' is unknown .* on_calculate",
        ),
        ({"method": "kelly-criterion", "kelly": 0.5}, r"kelly: unknown field"),
    ],
)
def test_a_bad_sizing_schema_is_refused_at_registration(fields, message):
    with pytest.raises(SchemaError, match=r'add_sizing "bad": .*' + message):
        add_sizing(sizing_name="bad", **fields)
    with pytest.raises(NotRegisteredError):
        get_sizing("bad")


def test_a_second_registration_needs_override():
    add_sizing(sizing_name="s", method="kelly-criterion")
    with pytest.raises(SchemaError, match=r'sizing "s" is already registered; pass override=True'):
        add_sizing(sizing_name="s", method="kelly-criterion", kelly_multiplier=0.5)
    add_sizing(sizing_name="s", method="kelly-criterion", kelly_multiplier=0.5, override=True)
    assert get_sizing("s").kelly_multiplier == 0.5


# ---- the doc page ---------------------------------------------------------------


def test_the_doc_page_blocks_run_in_order():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own examples

"""add_risk refuses a malformed risk with an error naming the risk, the field and the fix."""

from __future__ import annotations

import pytest

from btfarm.shared.errors import SchemaError
from btfarm.shared.registry import add_risk

pytestmark = pytest.mark.unit


def refused(**fields) -> str:
    with pytest.raises(SchemaError) as raised:
        add_risk(risk_name="t-risk-bad", override=True, **fields)
    message = str(raised.value)
    assert message.startswith('add_risk "t-risk-bad": ')
    return message


def test_a_validation_dict_without_its_function():
    message = refused(validations=[lambda p: None, {"note": "caps longs"}])
    assert (
        'validations[1]["validate"] is missing' in message
        and '{"validate": lambda p: None' in message
    )


def test_a_validation_dict_whose_function_is_not_one():
    assert "validations[0][\"validate\"] is 'cap', not a function" in refused(
        validations=[{"validate": "cap"}]
    )


def test_a_validation_dict_with_a_misspelt_key():
    message = refused(validations=[{"validte": lambda p: None}])
    assert (
        "validations[0] has unknown key 'validte'" in message
        and 'Did you mean "validate"?' in message
    )


def test_a_validation_that_is_neither_a_function_nor_a_dict():
    message = refused(validations=["max 2"])
    assert "validations[0] is str 'max 2': give a function of the payload" in message


def test_a_note_that_is_not_a_string():
    assert 'validations[0]["note"] is 3' in refused(
        validations=[{"validate": lambda p: None, "note": 3}]
    )


def test_an_unknown_callback_names_backtest_kits():
    message = refused(callbacks={"on_reject": lambda s, a: None})
    assert "unknown callback 'on_reject'" in message and 'Did you mean "on_rejected"?' in message
    assert "on_rejected, on_allowed" in message


@pytest.mark.parametrize(
    "value, words",
    [
        (0, "must be 1 or more"),
        (-1, "must be 1 or more"),
        ("2", "valid integer"),
        (1.5, "valid integer"),
    ],
)
def test_max_positions_is_a_whole_number_of_at_least_one(value, words):
    assert words in refused(max_positions=value)


def test_a_well_formed_risk_is_kept_as_given():
    def cap(payload):
        return None

    risk = add_risk(
        risk_name="t-risk-good",
        validations=[cap, {"validate": cap, "note": "documented"}],
        callbacks={"on_rejected": print, "on_allowed": print},
        max_positions=3,
        override=True,
    )
    assert risk.max_positions == 3 and risk.validations[1]["note"] == "documented"

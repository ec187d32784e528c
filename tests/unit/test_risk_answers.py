"""What a risk validation's answer means (SEMANTICS 1, shared/risk_check.py): None, False or ""
passes; a string, a ``{"id", "note"}`` dict or a raise rejects; any other answer is refused."""

from __future__ import annotations

import pytest

from btfarm.shared.errors import SchemaError
from btfarm.shared.schemas import RiskSchema

from .risk_market import START, Script, backtest, every_minute, long_signal, minute

pytestmark = pytest.mark.unit


def first_call_answers(answer):
    """A validation answering ``answer`` at the first call (minute START) and None after."""

    def validate(payload):
        if payload["timestamp"] == minute(START):
            if isinstance(answer, BaseException):
                raise answer
            return answer
        return None

    return validate


def outcome(answer):
    """(pending_at minutes of the trades, the risk events) when the first call gets ``answer``."""
    run, events = backtest(
        Script(every_minute()),
        risk=RiskSchema(risk_name="r", validations=[first_call_answers(answer)]),
    )
    return [(c["signal"]["pending_at"] - minute(0)) // 60_000 for c in run.closed], events.get(
        "risk", []
    )


@pytest.mark.parametrize("answer", [None, False, ""])
def test_none_false_and_the_empty_string_pass(answer):
    pending, rejections = outcome(answer)
    assert rejections == []
    assert pending[0] == START  # the first signal opened at the first call


@pytest.mark.parametrize(
    "answer, rejection_id, note",
    [
        ("closed for the day", None, "closed for the day"),
        ({"id": "cap-1", "note": "too many longs"}, "cap-1", "too many longs"),
        (
            {"id": "cap-2"},
            "cap-2",
            "Validation rejected the signal",
        ),  # backtest-kit's words for no note
        ({"note": "no id"}, None, "no id"),
        (ValueError("market closed"), None, "market closed"),
        (RuntimeError(), None, "RuntimeError"),  # a raise without a message still rejects
    ],
)
def test_a_string_a_dict_or_a_raise_rejects_with_its_note(answer, rejection_id, note):
    pending, rejections = outcome(answer)
    assert [(r["rejection_id"], r["rejection_note"]) for r in rejections] == [(rejection_id, note)]
    assert rejections[0]["timestamp"] == minute(START)
    assert pending[0] == START + 1  # not opened at START; asked again (and opened) one minute later


def test_a_string_rejects_where_the_old_reading_let_it_pass():
    """The old btfarm rejected only on False or a raise: a backtest-kit user's "closed for the
    day" opened every signal. Now no signal opens, and every call is a rejection."""
    script = Script(every_minute())
    run, events = backtest(
        script, risk=RiskSchema(risk_name="r", validations=[lambda p: "closed for the day"])
    )
    assert run.closed == []
    assert len(events["risk"]) == len(script.calls) == 30  # asked at every minute of the frame
    assert {r["rejection_note"] for r in events["risk"]} == {"closed for the day"}
    assert run.statistics().rejected_signals == 30


@pytest.mark.parametrize("answer", [True, 1, 0, 2.5, ["no"], ("no",), {"reason": "typo"}])
def test_an_answer_of_another_type_is_refused_naming_the_risk_the_validation_and_the_value(answer):
    def cap_longs(payload):
        return answer

    with pytest.raises(SchemaError) as raised:
        backtest(
            Script(every_minute()),
            risk=RiskSchema(risk_name="caps", validations=[lambda p: None, cap_longs]),
        )
    message = str(raised.value)
    assert 'risk "caps"' in message and "validations[1] (cap_longs)" in message
    assert repr(answer) in message
    assert 'strategy "s" on SYM at 2025-01-01 00:15' in message
    assert (
        'returns None, False or "" to let the signal pass' in message
        and '{"id": ..., "note": ...}' in message
    )


def test_the_dict_form_of_a_validation_and_the_first_rejection_wins():
    asked: list[str] = []

    def say(name, answer):
        def validate(payload):
            asked.append(name)
            return answer

        return validate

    risk = RiskSchema(
        risk_name="r",
        validations=[
            {"validate": say("a", None), "note": "passes"},
            {"validate": say("b", "b says no")},
            say("c", "c says no"),
        ],
    )
    run, events = backtest(Script({START: long_signal()}), risk=risk)
    assert asked == ["a", "b"]  # c is never asked: b's rejection wins
    assert [r["rejection_note"] for r in events["risk"]] == ["b says no"]
    assert "validations[1]" in events["risk"][0]["message"]
    assert run.closed == []


def test_the_event_carries_what_backtest_kit_emits_and_the_risk_name():
    risk = RiskSchema(risk_name="r", validations=[lambda p: {"id": 7, "note": "no"}])
    _, events = backtest(Script({START: long_signal(note="mine", id="sig-1")}), risk=risk)
    [event] = events["risk"]
    assert (
        event["symbol"] == "SYM" and event["strategy_name"] == "s" and event["exchange_name"] == "x"
    )
    assert event["frame_name"] == "f" and event["risk_name"] == "r" and event["backtest"] is True
    assert event["timestamp"] == minute(START) and event["current_price"] == 100.0
    assert event["active_position_count"] == 0
    assert (event["rejection_id"], event["rejection_note"]) == (7, "no")
    # the candidate as the risk saw it: a market entry's price_open is the current price
    assert (
        event["signal"]
        == event["current_signal"]
        == {
            "position": "long",
            "price_take_profit": 101.0,
            "price_stop_loss": 99.0,
            "price_open": 100.0,
            "minute_estimated_time": 5,
            "note": "mine",
            "id": "sig-1",
        }
    )
    assert (
        event["message"]
        == 'strategy "s" on SYM at 2025-01-01 00:15: rejected by risk "r" (validations[0]): no'
    )


def test_the_payload_names_everything_backtest_kit_passes():
    seen: list[dict] = []
    risk = RiskSchema(risk_name="r", validations=[lambda p: seen.append(p)])
    backtest(Script({START: long_signal(price_open=99.5)}), risk=risk)
    [payload] = seen
    assert set(payload) == {
        "symbol",
        "strategy_name",
        "exchange_name",
        "frame_name",
        "risk_name",
        "current_price",
        "timestamp",
        "current_signal",
        "signal",
        "active_position_count",
        "active_positions",
    }
    assert payload["current_signal"]["price_open"] == 99.5  # a limit entry keeps its own
    assert (payload["active_position_count"], payload["active_positions"]) == (0, [])

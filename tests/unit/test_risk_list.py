"""A strategy under several risks (``risk_name`` then ``risk_list``: all must pass, in order, the
first rejection wins), their callbacks on_allowed / on_rejected, and listen_risk on the bus."""

from __future__ import annotations

import pandas as pd
import pytest

from btfarm.orchestrator import (
    Backtest,
    add_exchange,
    add_frame,
    add_risk,
    add_strategy,
    listen_risk,
)
from btfarm.shared.errors import NotRegisteredError, SchemaError
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import RiskSchema

from .market import flat
from .risk_market import START, Script, backtest, every_minute, long_signal, minute, minutes_of

pytestmark = pytest.mark.unit


def recorder(log: list, name: str, answer=None):
    def validate(payload):
        log.append((name, payload["risk_name"]))
        return answer

    return validate


def calls_of(log: list) -> dict[str, list]:
    """Callback calls by name: (symbol, timestamp minute, risk_name) each."""
    return {
        name: [(s, minutes_of([a["timestamp"]])[0], a["risk_name"]) for n, s, a in log if n == name]
        for name in ("on_allowed", "on_rejected")
    }


def with_callbacks(name: str, log: list, **fields) -> RiskSchema:
    return RiskSchema(
        risk_name=name,
        callbacks={
            "on_allowed": lambda symbol, args: log.append(("on_allowed", symbol, args)),
            "on_rejected": lambda symbol, args: log.append(("on_rejected", symbol, args)),
        },
        **fields,
    )


def test_every_risk_must_pass_in_order_and_the_first_rejection_wins():
    asked: list = []
    add_risk(risk_name="t-risk-first", validations=[recorder(asked, "first")], override=True)
    add_risk(
        risk_name="t-risk-veto", validations=[recorder(asked, "veto", "vetoed")], override=True
    )
    add_risk(
        risk_name="t-risk-last", validations=[recorder(asked, "last", "never asked")], override=True
    )
    run, events_ = backtest(
        Script({START: long_signal()}),
        risk_name="t-risk-first",
        risk_list=["t-risk-veto", "t-risk-first", "t-risk-last"],
    )
    assert asked == [
        ("first", "t-risk-first"),
        ("veto", "t-risk-veto"),
    ]  # risk_name first; a repeat counts once
    assert [(r["risk_name"], r["rejection_note"]) for r in events_["risk"]] == [
        ("t-risk-veto", "vetoed")
    ]
    assert run.closed == []


def test_a_signal_every_risk_passes_opens():
    asked: list = []
    add_risk(risk_name="t-risk-a", validations=[recorder(asked, "a")], override=True)
    add_risk(risk_name="t-risk-b", validations=[recorder(asked, "b")], override=True)
    run, events_ = backtest(Script({START: long_signal()}), risk_list=["t-risk-a", "t-risk-b"])
    assert asked == [("a", "t-risk-a"), ("b", "t-risk-b")]
    assert "risk" not in events_ and len(run.closed) == 1


def test_a_risk_list_naming_an_unknown_risk_is_an_error_naming_the_strategy_and_the_field():
    add_risk(risk_name="t-risk-known", override=True)
    with pytest.raises(NotRegisteredError) as raised:
        backtest(Script({}), risk_list=["t-risk-known", "t-risk-unknwn"])
    message = str(raised.value)
    assert 'risk "t-risk-unknwn" not found' in message and 'risk_list of strategy "s"' in message
    assert "add_risk(" in message


def test_a_risk_list_entry_must_be_a_name():
    with pytest.raises(SchemaError, match="risk_list"):
        add_strategy(
            strategy_name="t-risk-bad-list",
            interval="1m",
            get_signal=lambda s, w: None,
            risk_list=["../etc"],
            override=True,
        )


def test_on_allowed_and_on_rejected_get_the_symbol_and_the_check_args():
    log: list = []
    gate = with_callbacks(
        "gate", log, validations=[lambda p: "not yet" if p["timestamp"] == minute(START) else None]
    )
    run, _ = backtest(Script(every_minute()), risk=gate, interval="15m")
    assert calls_of(log) == {
        "on_rejected": [("SYM", 15, "gate")],
        "on_allowed": [("SYM", 16, "gate"), ("SYM", 30, "gate")],
    }
    args = log[0][2]
    assert set(args) == {
        "symbol",
        "current_signal",
        "strategy_name",
        "exchange_name",
        "risk_name",
        "frame_name",
        "current_price",
        "timestamp",
    }  # backtest-kit's IRiskCheckArgs, without the book
    assert args["current_signal"]["price_open"] == 100.0


def test_with_several_risks_each_that_passes_says_so_before_one_rejects():
    """backtest-kit's MergeRisk: each risk checks in turn and calls its own callback."""
    log: list = []
    risks = [
        with_callbacks("yes", log),
        with_callbacks("no", log, validations=[lambda p: "no"]),
        with_callbacks("unasked", log),
    ]
    backtest(Script({START: long_signal()}), risk=risks)
    assert calls_of(log) == {"on_allowed": [("SYM", 15, "yes")], "on_rejected": [("SYM", 15, "no")]}


def test_a_callback_that_raises_is_reported_and_changes_nothing():
    def broken(symbol, args):
        raise RuntimeError("oops")

    run, events_ = backtest(
        Script({START: long_signal()}),
        risk=RiskSchema(risk_name="r", callbacks={"on_allowed": broken}),
    )
    assert len(run.closed) == 1
    [error] = events_["error"]
    assert (
        error["kind"] == "StrategyError"
        and 'risk "r": callback on_allowed raised RuntimeError: oops' in error["message"]
    )


def test_a_rejection_reaches_listen_risk_from_backtest_run():
    frame_rows = pd.DataFrame(flat(START + 32))
    add_exchange(dataframe_exchange("t-risk-x", {"SYM": frame_rows}), override=True)
    add_frame(
        frame_name="t-risk-f",
        interval="1m",
        start_date=minute(START),
        end_date=minute(START + 29),
        override=True,
    )
    add_risk(
        risk_name="t-risk-bus",
        validations=[lambda p: "closed" if p["timestamp"] == minute(START) else None],
        override=True,
    )
    add_strategy(
        strategy_name="t-risk-bus-s",
        interval="15m",
        get_signal=Script(every_minute()),
        risk_list=["t-risk-bus"],
        override=True,
    )
    heard: list = []
    stop = listen_risk(heard.append)
    try:
        closed = list(Backtest.run("SYM", "t-risk-bus-s", "t-risk-x", "t-risk-f"))
    finally:
        stop()
    assert [
        (e["risk_name"], e["strategy_name"], e["rejection_note"], e["timestamp"]) for e in heard
    ] == [("t-risk-bus", "t-risk-bus-s", "closed", minute(START))]
    assert [minutes_of([c.signal.pending_at])[0] for c in closed] == [16, 30]

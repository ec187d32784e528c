"""A risk's rejection gives the throttle bucket back (SEMANTICS 1 and 2), in every lane.

The strategy's interval is 15m; the frame runs minutes 15 .. 44 (buckets: 15-29, 30-44), a
long is offered at every minute and lives 5 minutes on the flat market. By hand:
- rejected by the risk at 15 only: asked again at 16 (the bucket was given back), opened,
  closed at 21; the walk resumes at 22, in the bucket of the call at 16, so the next call is
  30: opened, closed at 35; then nothing until the end. Calls 15, 16, 30; trades at 16, 30.
- refused by the signal rules at 15 instead (not the risk): the bucket is used, so the next
  call is 30. Calls 15, 30; one trade at 30.
"""

from __future__ import annotations

import pytest

from btfarm.shared.schemas import RiskSchema

from .risk_market import (
    START,
    Script,
    backtest,
    every_minute,
    long_signal,
    minute,
    minutes_of,
    offer_longs,
)

pytestmark = pytest.mark.unit


def closed_at_start(payload):
    return "closed at the open" if payload["timestamp"] == minute(START) else None


RISK = RiskSchema(risk_name="opening-bell", validations=[closed_at_start])


def trades(run) -> list[tuple[int, int]]:
    return [
        (minutes_of([c["signal"]["pending_at"]])[0], minutes_of([c["close_timestamp"]])[0])
        for c in run.closed
    ]


def test_after_a_rejection_the_strategy_is_asked_again_at_the_very_next_tick():
    script = Script(every_minute())
    run, events = backtest(script, risk=RISK, interval="15m")
    assert script.calls == [15, 16, 30]
    assert trades(run) == [(16, 21), (30, 35)]
    assert minutes_of(r["timestamp"] for r in events["risk"]) == [15]
    assert run.lane == "event"


def test_a_signal_refused_by_the_rules_still_uses_its_bucket():
    signals = every_minute()
    signals[START] = long_signal(price_stop_loss=100.5)  # SL above the entry: refused by the rules
    script = Script(signals)
    run, events = backtest(script, risk=RISK, interval="15m")
    assert script.calls == [15, 30]
    assert trades(run) == [(30, 35)]
    assert "risk" not in events and len(events["error"]) == 1


def test_the_vector_lane_gives_the_bucket_back_too():
    run, events = backtest(None, risk=RISK, interval="15m", get_signals=offer_longs(100))
    assert run.lane == "vector"  # a risk with a Python validation keeps the run off the batch lanes
    assert trades(run) == [(16, 21), (30, 35)]
    quiet, _ = backtest(None, risk=RISK, interval="15m", get_signals=offer_longs(100), listen=False)
    assert quiet.lane == "vector" and trades(quiet) == [(16, 21), (30, 35)]


def test_live_ticks_give_the_bucket_back():
    """The core as Live drives it: one tick a minute, only closed candles in sight."""
    from btfarm.shared.engine.lifecycle import StrategyCore
    from btfarm.shared.engine_config import EngineConfig
    from btfarm.shared.schemas import StrategySchema

    from .market import candles, flat

    script = Script(every_minute())
    core = StrategyCore(
        StrategySchema(strategy_name="s", interval="15m", get_signal=script),
        "SYM",
        "x",
        EngineConfig(),
        lambda kind, rec: None,
        mode="live",
        risk=RISK,
    )
    c = candles(flat(60))
    for t in range(START, 31):
        core.tick(minute(t), c, limit=t)
    # opened at 16, its 5 minutes end with candle 21, which has closed at the tick of 22
    assert script.calls == [15, 16, 30]


def test_a_risk_given_as_data_alone_keeps_the_batch_lane():
    """max_positions is data: for one strategy (flat whenever it is asked) it never bites, so the
    run takes the batch lane, with the trades of the same run without the risk."""
    capped = RiskSchema(risk_name="one-at-a-time", max_positions=1)
    run, _ = backtest(None, risk=capped, interval="15m", get_signals=offer_longs(100), listen=False)
    plain, _ = backtest(None, interval="15m", get_signals=offer_longs(100), listen=False)
    assert run.lane == plain.lane == "batch"
    assert trades(run) == trades(plain) == [(15, 20), (30, 35)]
    # the compiled loop where it is built (a sweep variant's run), else the Python batch walk
    stats_only, _ = backtest(
        None,
        risk=capped,
        interval="15m",
        get_signals=offer_longs(100),
        listen=False,
        stats_only=True,
    )
    assert stats_only.lane == "batch"
    assert minutes_of(stats_only.columns["pending_at"]) == [15, 30]


def test_a_risk_with_a_callback_takes_the_python_lane():
    allowed: list[int] = []
    risk = RiskSchema(
        risk_name="watched",
        max_positions=1,
        callbacks={"on_allowed": lambda symbol, args: allowed.append(args["timestamp"])},
    )
    run, _ = backtest(None, risk=risk, interval="15m", get_signals=offer_longs(100), listen=False)
    assert run.lane == "vector"
    assert minutes_of(allowed) == [15, 30]

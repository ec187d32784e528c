"""SEMANTICS.md section 2, rule by rule, on hand-made candles.

Flat candles at 100 with unit volume make every VWAP exact, so each rule can
be pinned to the minute and the price.
"""

import pytest

from btfarm.shared.engine.pnl import pnl_percentage
from btfarm.shared.errors import DataCoverageError

from .market import Script, flat, minute, run

pytestmark = pytest.mark.unit

LONG = {
    "position": "long",
    "price_take_profit": 101.0,
    "price_stop_loss": 99.0,
    "minute_estimated_time": 60,
}
SHORT = {
    "position": "short",
    "price_take_profit": 99.0,
    "price_stop_loss": 101.0,
    "minute_estimated_time": 60,
}


def set_candle(m, i, *, high=None, low=None, close=None, volume=None):
    for key, value in (("high", high), ("low", low), ("close", close), ("volume", volume)):
        if value is not None:
            m[key][i] = value


def only_closed(events):
    assert len(events.get("closed", [])) == 1, events
    return events["closed"][0]


def test_take_profit_is_a_vwap_cross_closed_at_exactly_tp():
    m = flat(60)
    for i in range(20, 60):
        set_candle(m, i, high=102, low=102, close=102)
    _, ev = run(m, Script({10: LONG}))
    c = only_closed(ev)
    # VWAP_20 = 100.4, VWAP_21 = 100.8, VWAP_22 = 101.2 >= 101
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "take_profit",
        minute(22),
        101.0,
    )
    assert c["signal"]["scheduled_at"] == c["signal"]["pending_at"] == minute(10)
    assert c["pnl"] == {
        "pnl_percentage": pytest.approx(0.597403, abs=1e-6),
        "price_open": 100.0,
        "price_close": 101.0,
        "pnl_entries": 100.0,  # (CC_POSITION_ENTRY_COST, SEMANTICS 9)
        "pnl_cost": pytest.approx(0.597403, abs=1e-6),
    }
    assert ev["opened"][0]["current_price"] == 100.0


def test_excursions_track_peak_and_keep_initial_fall():
    m = flat(60)
    for i in range(20, 60):
        set_candle(m, i, high=102, low=102, close=102)
    _, ev = run(m, Script({10: LONG}))
    c = only_closed(ev)
    assert (c["peak_price"], c["peak_pnl"]) == (101.0, pytest.approx(0.597403, abs=1e-6))
    assert c["fall_price"] == 100.0
    assert c["fall_pnl"] == pytest.approx(pnl_percentage("long", 100, 100, 0.1, 0.1))


def test_fall_follows_vwap_below_entry_and_close_replaces_it():
    m = flat(60)
    set_candle(m, 15, high=99.5, low=99.5, close=99.5)  # VWAP_15 = 99.9
    set_candle(m, 16, high=98.9, low=98.9, close=98.9)  # low touches the stop
    _, ev = run(m, Script({10: LONG}))
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "stop_loss",
        minute(16),
        99.0,
    )
    assert c["fall_price"] == 99.0  # the close is lower than VWAP_15's PnL
    assert c["peak_price"] == 100.0 and c["peak_pnl"] == 0.0


def test_stop_loss_is_a_touch_of_the_low_at_exactly_sl():
    m = flat(40)
    set_candle(m, 15, low=98.9)
    _, ev = run(m, Script({10: LONG}))
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "stop_loss",
        minute(15),
        99.0,
    )


def test_short_stop_loss_on_the_high_worked_example():
    m = flat(40)
    set_candle(m, 15, high=101.2)
    _, ev = run(m, Script({10: SHORT}))
    c = only_closed(ev)
    assert (c["close_reason"], c["current_price"]) == ("stop_loss", 101.0)
    assert c["pnl"]["pnl_percentage"] == pytest.approx(-1.403404, abs=1e-6)


def test_stop_loss_beats_take_profit_on_the_same_candle():
    m = flat(40)
    set_candle(m, 15, high=200, low=98, close=200, volume=100)
    _, ev = run(m, Script({10: LONG}))
    assert only_closed(ev)["close_reason"] == "stop_loss"


def test_expiry_beats_stop_loss_and_closes_at_vwap():
    m = flat(40)
    set_candle(m, 15, low=90, high=100, close=100)
    _, ev = run(m, Script({10: {**LONG, "minute_estimated_time": 5}}))
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"]) == ("time_expired", minute(15))
    assert c["current_price"] == pytest.approx((4 * 100 + (100 + 90 + 100) / 3) / 5)


def test_market_entry_is_checked_from_its_own_candle():
    m = flat(40)
    set_candle(m, 10, low=98.5)
    _, ev = run(m, Script({10: LONG}))
    assert (only_closed(ev)["close_timestamp"]) == minute(10)


def test_position_expires_on_the_first_candle_after_the_frame_end():
    _, ev = run(flat(40), Script({10: LONG}), end_minute=12)
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "time_expired",
        minute(13),
        100.0,
    )


def test_data_running_out_expires_at_the_last_candle():
    # the frame ends on the last candle; the minute after it, where the position would
    # expire, is not in the data: the last candle settles it
    _, ev = run(flat(20), Script({10: {**LONG, "minute_estimated_time": 600}}), end_minute=19)
    c = only_closed(ev)
    assert (c["close_reason"], c["close_timestamp"]) == ("time_expired", minute(19))


def test_a_frame_past_the_data_is_refused_not_walked():
    with pytest.raises(
        DataCoverageError,
        match=r"ends after the data: the candles it returned for that range run from "
        r"2025-01-01T00:00Z to 2025-01-01T00:19Z",
    ):
        run(flat(20), Script({10: {**LONG, "minute_estimated_time": 600}}), end_minute=25)


SCHEDULED = {**LONG, "price_open": 99.5, "price_stop_loss": 98.0}


def test_scheduled_entry_activates_and_skips_its_activation_candle():
    m = flat(40)
    set_candle(m, 14, high=110, low=99.4, close=110)  # VWAP_14 > TP, but not checked
    _, ev = run(m, Script({10: SCHEDULED}))
    assert ev["scheduled"][0]["timestamp"] == minute(10)
    opened = ev["opened"][0]
    assert (opened["timestamp"], opened["current_price"]) == (minute(14), 99.5)
    c = only_closed(ev)
    assert c["signal"]["scheduled_at"] == minute(10) and c["signal"]["pending_at"] == minute(14)
    assert (c["close_reason"], c["close_timestamp"], c["current_price"]) == (
        "take_profit",
        minute(15),
        101.0,
    )
    assert c["pnl"]["price_open"] == 99.5


def test_scheduled_expiry_counts_from_activation():
    m = flat(200)
    set_candle(m, 14, low=99.4)
    _, ev = run(m, Script({10: {**SCHEDULED, "minute_estimated_time": 30}}))
    assert only_closed(ev)["close_timestamp"] == minute(44)


def test_price_reject_wins_over_activation():
    m = flat(40)
    set_candle(m, 14, low=97.9)
    _, ev = run(m, Script({10: SCHEDULED}))
    assert "opened" not in ev and "closed" not in ev
    c = ev["cancelled"][0]
    assert (c["cancel_reason"], c["close_timestamp"]) == ("price_reject", minute(14))
    assert c["current_price"] == pytest.approx((4 * 100 + (100 + 97.9 + 100) / 3) / 5)


def test_scheduled_entry_times_out_after_120_minutes():
    _, ev = run(flat(200), Script({10: SCHEDULED}))
    c = ev["cancelled"][0]
    assert (c["cancel_reason"], c["close_timestamp"]) == ("timeout", minute(130))


def test_scheduled_entry_cancelled_at_frame_end():
    _, ev = run(flat(200), Script({10: SCHEDULED}), end_minute=50)
    assert ev["cancelled"][0]["close_timestamp"] == minute(51)


def test_scheduled_entry_opens_at_once_when_price_is_already_past():
    m = flat(40)
    set_candle(m, 10, low=98.5)
    signal = {**LONG, "price_open": 100.5, "price_take_profit": 102.0}
    _, ev = run(m, Script({10: signal}))
    assert "scheduled" not in ev
    assert ev["opened"][0]["current_price"] == 100.5
    c = only_closed(ev)
    assert c["signal"]["pending_at"] == minute(10) and c["close_reason"] == "stop_loss"


def test_throttle_calls_once_per_bucket_from_the_first_tick():
    script = Script({})
    run(flat(40), script, interval="5m", start_minute=2, end_minute=30)
    assert script.calls == [2, 5, 10, 15, 20, 25, 30]


def test_walk_resumes_the_minute_after_a_close_off_the_grid():
    m = flat(60)
    set_candle(m, 22, low=98.9)
    script = Script({5: LONG})
    run(m, script, interval="5m", start_minute=5, end_minute=40)
    assert script.calls == [5, 23, 25, 30, 35, 40]


def test_close_in_the_same_bucket_waits_for_the_next_bucket():
    m = flat(60)
    set_candle(m, 6, low=98.9)
    script = Script({5: LONG})
    run(m, script, interval="5m", start_minute=5, end_minute=20)
    assert script.calls == [5, 10, 15, 20]


def test_one_signal_at_a_time():
    m = flat(60)
    script = Script({5: LONG, 6: LONG, 7: LONG})
    _, ev = run(m, script, end_minute=30)
    assert len(ev["opened"]) == 1 and script.calls[:2] == [1, 2]
    assert 6 not in script.calls  # never asked while the position is open

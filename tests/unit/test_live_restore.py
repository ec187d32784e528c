"""Crash-only Live, at the core: a StrategyCore restored from the snapshot taken inside any
persisted event's emit continues exactly as the one that never stopped.

``Live`` persists ``core.snapshot()`` from inside the engine's emit, so the
snapshot must already hold the transition the event announces (SEMANTICS 6:
persisted before the event leaves). Driven tick by tick with only closed
candles visible, as ``Live`` does.
"""

import pytest

from btfarm.shared.engine.lifecycle import StrategyCore
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.schemas import StrategySchema
from btfarm.shared.store.live_state import LOGGED_ACTIONS
from tests.unit.market import Script, candles, flat, minute

pytestmark = pytest.mark.unit

N = 220  # minutes of candles


def market():
    cols = flat(N)
    cols["low"][20] = 99.4  # activates the scheduled entry at 99.5
    for k in range(40, 60):  # a rise: the VWAP crosses the take profit
        for name in ("open", "high", "low", "close"):
            cols[name][k] = 101.5
    return candles(cols)


SIGNALS = {
    10: {
        "position": "long",
        "price_open": 99.5,
        "price_take_profit": 101.0,
        "price_stop_loss": 98.0,
        "minute_estimated_time": 90,
    },
    70: {
        "position": "long",
        "price_open": 95.0,
        "price_take_profit": 97.0,
        "price_stop_loss": 94.0,
    },
    200: {
        "position": "short",
        "price_take_profit": 99.0,
        "price_stop_loss": 101.0,
        "minute_estimated_time": 5,
    },
}


def new_core(log):
    strategy = StrategySchema(strategy_name="s", interval="1m", get_signal=Script(SIGNALS))
    core = StrategyCore(strategy, "SYM", "x", EngineConfig(), None, mode="live")
    core.emit = lambda kind, record: log.append((kind, record, core.snapshot(), tick[0]))
    return core


tick = [0]  # the minute being ticked, for the recorder


def drive(core, c, first: int, last: int) -> None:
    for i in range(first, last):
        tick[0] = i
        core.tick(minute(i) + 7, c, i)  # a few ms after the minute; candles [0, i) have closed


def test_every_persisted_event_carries_its_transition_and_restores_the_rest_of_the_run():
    c = market()
    log = []
    drive(new_core(log), c, 0, N)
    kinds = [k for k, *_ in log]
    assert kinds == [
        "scheduled",
        "opened",
        "closed",
        "scheduled",
        "cancelled",
        "opened",
        "closed",
    ], kinds
    expected_phase = {
        "scheduled": "scheduled",
        "opened": "active",
        "closed": "idle",
        "cancelled": "idle",
    }
    for index, (kind, record, snapshot, at) in enumerate(log):
        assert snapshot["phase"] == expected_phase[kind]
        if kind in ("scheduled", "opened"):
            assert snapshot["signal"]["id"] == record["signal"]["id"]
        assert kind in LOGGED_ACTIONS
        # "the process died right after persisting this event": a new core from the snapshot
        rest = []
        restored = new_core(rest)
        restored.restore(snapshot)
        drive(restored, c, at + 1, N)
        assert [(k, r) for k, r, *_ in rest] == [(k, r) for k, r, *_ in log[index + 1 :]], (
            f"after {kind}"
        )


def test_refused_signals_are_counted_in_the_snapshot_and_restored_without_repeating_a_reason():
    from btfarm.shared.errors import PersistenceError

    bad = {
        m: {"position": "long", "price_take_profit": 90.0, "price_stop_loss": 80.0}
        for m in (5, 6, 7)
    }
    strategy = StrategySchema(strategy_name="s", interval="1m", get_signal=Script(bad))
    log = []
    core = StrategyCore(
        strategy, "SYM", "x", EngineConfig(), lambda kind, record: log.append(kind), mode="live"
    )
    c = market()
    drive(core, c, 1, 7)  # two refusals of one reason (minutes 5 and 6)
    state = core.snapshot()
    assert (state["rejected"], len(state["rejections"])) == (2, 1) and log.count("error") == 2
    again = StrategyCore(
        strategy, "SYM", "x", EngineConfig(), lambda kind, record: None, mode="live"
    )
    again.restore(state)
    drive(again, c, 7, 8)  # a third refusal, the same reason: counted, not listed twice
    assert (again.rejected, again.rejections) == (3, state["rejections"])
    for wrong in ({"rejected": -1}, {"rejected": "2"}, {"rejections": "x"}):
        with pytest.raises(PersistenceError, match="rejected must be a count"):
            StrategyCore(strategy, "SYM", "x", EngineConfig(), None, mode="live").restore(
                {**state, **wrong}
            )
    older = {
        k: v for k, v in state.items() if k not in ("rejected", "rejections")
    }  # written before
    fresh = StrategyCore(strategy, "SYM", "x", EngineConfig(), None, mode="live")
    fresh.restore(older)
    assert (fresh.rejected, fresh.rejections) == (0, [])

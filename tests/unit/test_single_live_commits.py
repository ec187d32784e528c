"""Live's commit counts (issue 31 §3): ``Live.get_data`` carries the commits applied and refused
per kind, as ``Backtest.get_data`` does, kept with the live state so a restarted run and
another process count them all.

A live core (only closed candles visible, state persisted at every checkpoint) runs a
position plan over the reference candles; its counts survive the JSON round trip of the
persisted state (a core restored halfway goes on counting from them and ends where the
uninterrupted one did), and ``Live.get_data`` reads them from the store when this process runs
no session. A malformed persisted count is a PersistenceError.
"""

from __future__ import annotations

import json

import pytest

from btfarm.orchestrator import Live
from btfarm.orchestrator.live import open_state
from btfarm.shared import events
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.engine.lifecycle import StrategyCore
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.errors import PersistenceError
from btfarm.shared.schemas import StrategySchema
from btfarm.shared.store.live_state import new_document

from .sim_data import load_sim

pytestmark = pytest.mark.unit

CFG = EngineConfig()
PLAN = {
    "trailing_stop": [(0.2, -0.5), (0.4, -0.8)],
    "partial_profit": [(30, 50)],
    "partial_loss": [(40, 50)],
    "breakeven": True,  # asked again on later candles until applied: refusals too
    "average_buy": {"step": 0.3, "max_entries": 3},
}
FIRST, LAST = 40, 40 + 12 * 60  # the reference file's minutes ticked


@pytest.fixture(scope="module")
def sim():
    return load_sim("sim-live-commits")[2]


@pytest.fixture(autouse=True)
def _no_listeners():
    events.clear()
    yield
    events.clear()


def _core(persisted: list[str] | None = None) -> StrategyCore:
    schema = StrategySchema(
        strategy_name="live-commits",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        position_plan=PLAN,
    )
    core = StrategyCore(schema, "SIMUSDT", "sim", CFG, lambda kind, record: None, mode="live")
    if persisted is not None:  # Live's store: every state it persists, as JSON
        core.hooks.checkpoint = lambda: persisted.append(json.dumps(core.snapshot()))
    return core


def _tick(core: StrategyCore, candles, minutes: range) -> None:
    """Tick a minute after each candle opened, as Live does: only closed candles are visible."""
    for i in minutes:
        core.tick(int(candles.timestamp[i]) + 7, candles, i)


def test_live_counts_survive_the_persisted_state(sim):
    persisted: list[str] = []
    whole = _core(persisted)
    _tick(whole, sim, range(FIRST, LAST))
    counts = whole.commit_counts
    assert counts.get("breakeven", [0, 0])[1] > 0 and sum(a for a, _ in counts.values()) > 10

    # a process that died halfway: restored from its last persisted state, it goes on counting
    half = _core(persisted := [])
    _tick(half, sim, range(FIRST, (FIRST + LAST) // 2))
    assert persisted
    state = json.loads(json.dumps(half.snapshot()))
    assert state["commits"] == half.commit_counts
    again = _core()
    again.restore(state)
    assert again.commit_counts == half.commit_counts
    _tick(again, sim, range((FIRST + LAST) // 2, LAST))
    assert again.commit_counts == counts

    # a state persisted before counts were kept restores with none
    older = _core()
    older.restore({k: v for k, v in state.items() if k != "commits"})
    assert older.commit_counts == {}


@pytest.mark.parametrize(
    "wrong",
    [[], {"breakeven": [1]}, {"breakeven": [1, -1]}, {"breakeven": [True, 0]}, {3: [1, 1]}],
)
def test_a_malformed_count_is_refused(sim, wrong):
    core = _core()
    state = core.snapshot()
    state["commits"] = wrong
    with pytest.raises(PersistenceError, match="commits must map a commit kind"):
        core.restore(state)


def test_get_data_reads_the_counts_from_the_store(sim, monkeypatch):
    core = _core()
    _tick(core, sim, range(FIRST, LAST))
    store = open_state("SIMUSDT", "live-commits")
    store.load()
    store.save(new_document("SIMUSDT", "live-commits", "sim", core.snapshot(), [], 0))
    monkeypatch.setattr(Live, "_instances", {})  # no session in this process: read the store
    data = Live.get_data("SIMUSDT", "live-commits")
    assert data.commits == {
        kind: {"applied": applied, "refused": refused}
        for kind, (applied, refused) in core.commit_counts.items()
    }
    assert data.commits["breakeven"]["refused"] > 0

"""Live on candles with a two-day hole: no signal from an old price, said once, and a stop that ends.

The loop runs on a manual clock over the sim data with 2025-01-05 and
2025-01-06 cut out (an exchange that stopped sending candles); the state goes
to files under the embedded default.
"""

from __future__ import annotations

import csv

import pytest

from btfarm.orchestrator import Live, add_exchange
from btfarm.orchestrator.live import open_state
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared import events
from btfarm.shared.errors import SettingsError
from btfarm.shared.exchanges.replay import replay_exchange
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.schemas import to_ms, to_utc
from btfarm.shared.settings import get_settings
from tests.support import live_replay
from tests.support.live_replay import StopAt

pytestmark = pytest.mark.integration

SYMBOL = live_replay.SYMBOL
HOLE_FROM = to_ms(to_utc("2025-01-05T00:00:00Z"))  # the first missing candle
HOLE_TO = to_ms(to_utc("2025-01-07T00:00:00Z"))  # the first candle after the hole
EXCHANGE = "holey"


def ms(text: str) -> int:
    return to_ms(to_utc(text))


@pytest.fixture
def holey(tmp_path, monkeypatch):
    """Registers the replay with the hole on a clock: ``holey(clock)``; collects listen_error."""
    path = tmp_path / "holey.csv"
    with open(live_replay.SIM_CSV) as source, open(path, "w", newline="") as target:
        rows = csv.reader(source)
        out = csv.writer(target)
        out.writerow(next(rows))
        out.writerows(r for r in rows if not HOLE_FROM <= int(r[0]) < HOLE_TO)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BTFARM_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    reset_state()
    events.clear()
    errors: list[str] = []

    def register(clock) -> list[str]:
        live_replay.register(clock)  # the strategies
        add_exchange(replay_exchange(EXCHANGE, clock, files={SYMBOL: path}), override=True)
        return errors

    unsubscribe = events.listen_error(lambda payload: errors.append(payload["message"]))
    yield register
    unsubscribe()
    events.clear()
    reset_state()
    get_settings.cache_clear()


def stale_messages(errors: list[str]) -> list[str]:
    return [m for m in errors if "stale candles" in m]


def test_a_tick_inside_the_hole_opens_nothing_says_so_once_and_the_report_shows_it(holey):
    clock = StopAt(
        ms("2025-01-05T07:00:00Z"), ms("2025-01-07T03:00:00Z"), "hold"
    )  # 7 h into the hole
    errors = holey(clock)
    results = list(Live.run(SYMBOL, "hold", EXCHANGE, clock=clock))
    opened = [r for r in results if r.action == "opened"]
    assert opened, "nothing opened once candles came back"
    assert all(r.timestamp >= HOLE_TO for r in opened), [(r.signal.id, r.timestamp) for r in opened]
    stale = stale_messages(errors)
    assert len(stale) == 1, stale  # one stretch, said once, not once per tick (2,000 of them)
    assert (
        "the newest closed 1m candle opened at 2025-01-04T23:59Z and closed 7h 00m ago" in stale[0]
    )
    assert "BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS=180" in stale[0] and "no new signals" in stale[0]
    data = Live.get_data(SYMBOL, "hold")
    assert len(data.stale) == 1
    assert data.stale[0].startswith("2025-01-05T07:00Z .. 2025-01-07T00:01Z, 1d 17h 01m, ")
    assert "newest closed candle opened at 2025-01-04T23:59Z" in data.stale[0]
    report = Live.get_report(SYMBOL, "hold")
    assert "## Stale candles" in report and data.stale[0] in report


def test_a_stop_while_the_open_signal_has_no_fresh_candles_ends_at_once_and_the_signal_is_kept(
    holey,
):
    stop_ms = ms("2025-01-05T01:00:00Z")
    clock = StopAt(
        ms("2025-01-04T23:45:00Z"), stop_ms, "hold"
    )  # opens 23:45, expires 00:05: in the hole
    errors = holey(clock)
    results = list(Live.run(SYMBOL, "hold", EXCHANGE, clock=clock))
    assert clock.now_ms() <= stop_ms + 2 * MINUTE_MS, "the stop waited for the candles to come back"
    assert [r.action for r in results] == ["opened"]
    victim = results[0].signal.id
    stale = stale_messages(errors)
    assert len(stale) == 1 and f"signal {victim} stays active" in stale[0]
    assert (
        "2025-01-05T00:04Z" in stale[0]
    )  # the first tick with more than 180 s since the newest close
    data = Live.get_data(SYMBOL, "hold")
    assert data.phase == "active" and data.signal.id == victim and data.stopped
    assert f"stopped with signal {victim} still open" in data.stale[0]
    saved = open_state(SYMBOL, "hold").load()
    assert saved["core"]["phase"] == "active" and saved["core"]["signal"]["id"] == victim

    # the next start, once the candles are back, restores the signal and closes it (never re-opens it)
    reset_state()
    later = StopAt(ms("2025-01-07T00:30:00Z"), ms("2025-01-07T00:31:00Z"), "hold")
    holey(later)
    after = list(Live.run(SYMBOL, "hold", EXCHANGE, clock=later))
    assert (after[0].action, after[0].signal.id) == ("closed", victim)
    assert after[0].close_reason == "time_expired" and after[0].close_timestamp == HOLE_TO
    assert ("opened", victim) not in [(r.action, r.signal.id) for r in after]


def test_a_max_age_of_0_never_refuses_and_a_negative_one_is_named(holey, monkeypatch):
    monkeypatch.setenv("BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS", "0")
    get_settings.cache_clear()
    clock = StopAt(ms("2025-01-05T07:00:00Z"), ms("2025-01-05T07:30:00Z"), "hold")
    errors = holey(clock)
    results = list(Live.run(SYMBOL, "hold", EXCHANGE, clock=clock))
    assert [r.action for r in results][:1] == ["opened"] and results[
        0
    ].timestamp < HOLE_TO  # the old way
    assert not stale_messages(errors)

    monkeypatch.setenv("BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS", "-60")
    get_settings.cache_clear()
    with pytest.raises(
        SettingsError, match=r"BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS=-60\.0: give seconds >= 0"
    ):
        next(Live.run(SYMBOL, "hold", EXCHANGE, clock=clock))

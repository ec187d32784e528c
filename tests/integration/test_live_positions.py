"""Managed positions live (issue 31 §2 Live; SEMANTICS 6 and 9): one semantics with a
backtest, and a kill between a commit and the next tick loses nothing and repeats nothing.

- In process, on a ``ManualClock`` over the replay of the sim data: Live and a Backtest of the
  same hooks (trailing ladder, average buys, a user's close, partials from the availability
  listeners, breakeven) take the same trades, and the hooks read the same prices and times.
- In process, both stores (files, Redis): the run dies (an exception standing for SIGKILL)
  right after a commit returned True; the restarted run ends the trade exactly as an
  uninterrupted backtest does.
- Real ``btfarm live`` processes (tests/support/live_replay.py's managed strategies): the
  strategy blocks right after the commit returned True; the test SIGKILLs it there, starts
  it again and reads the persisted state, the event log and the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from btfarm.orchestrator import (
    Backtest,
    Live,
    add_exchange,
    add_frame,
    add_strategy,
    commit_breakeven,
    commit_partial_loss,
    commit_partial_profit,
    csv_exchange,
    get_average_price,
    get_candles,
    get_date,
)
from btfarm.orchestrator.live import open_state
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared import events
from btfarm.shared.clock import ManualClock
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.schemas import to_ms, to_utc
from btfarm.shared.settings import get_settings
from btfarm.shared.store.live_state import event_key
from tests.support import live_replay
from tests.support import position_reference as ref
from tests.support.live_replay import StopAt

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = live_replay.SYMBOL
START_MS = to_ms(to_utc("2025-01-03T00:00:00Z"))
HOURS = 30  # of the semantics run


@pytest.fixture
def clean(monkeypatch):
    get_settings.cache_clear()
    reset_state()
    events.clear()
    # no Live instance (and its session) left by an earlier test: a read must come from the store
    monkeypatch.setattr(Live, "_instances", {})
    yield
    events.clear()
    live_replay.after_commit = live_replay.mark_and_block
    reset_state()


@pytest.fixture(params=["file", "redis"])
def backend(request, monkeypatch, redis_server, clean):
    """The embedded default (state in files) or a Redis URL (state in Redis keys)."""
    if request.param == "redis":
        request.getfixturevalue("redis_client")  # emptied before and after
        monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    return request.param


def backtest(strategy: str, start_ms: int, hours: int) -> list:
    add_exchange(csv_exchange("sim-csv", files={SYMBOL: live_replay.SIM_CSV}), override=True)
    frame = f"from-{start_ms}-{hours}h"
    add_frame(
        frame_name=frame,
        interval="1m",
        start_date=start_ms,
        end_date=start_ms + hours * 60 * MINUTE_MS - MINUTE_MS,
        override=True,
    )
    return list(Backtest.run(SYMBOL, strategy, "sim-csv", frame))


def trade(closed) -> dict:
    """A closed result as a managed trade, without its id (which hashes the exchange name)."""
    s = closed.signal
    return {
        "position": s.position,
        "pending_at": s.pending_at,
        "price_open": s.price_open,
        "stop_loss": s.price_stop_loss,
        "take_profit": s.price_take_profit,
        "originals": (
            s.original_price_open,
            s.original_price_stop_loss,
            s.original_price_take_profit,
        ),
        "entries": [e.model_dump() for e in s.entries],
        "partials": [q.model_dump() for q in s.partials],
        "close": (closed.close_reason, closed.close_timestamp, s.close_id, closed.current_price),
        "pnl": (closed.pnl.pnl_percentage, closed.pnl.pnl_entries, closed.pnl.pnl_cost),
        "excursions": (closed.peak_price, closed.peak_pnl, closed.fall_price, closed.fall_pnl),
    }


# ---- one semantics -------------------------------------------------------------------


class Manager:
    """The issue's scenarios at once: a trailing ladder, average buys and a user's close in
    the ping, breakeven retried until applied, half closed when level 50 is available. What
    every hook read (its time, current price, the lagged price, the candles it saw) is kept."""

    def __init__(self) -> None:
        self.trailing, self.averaging, self.closing = (
            ref.Trailing(),
            ref.Averaging(),
            ref.UserClose(),
        )
        self.breaking = ref.Breakeven()
        self.seen: list[tuple] = []

    def see(self, what, symbol, when):
        last = get_candles(symbol, "1m", 1)
        self.seen.append(
            (
                what,
                int(when.timestamp() * 1000),
                int(get_date().timestamp() * 1000),
                get_average_price(symbol),
                int(last.timestamp[-1]),
            )
        )

    def ping(self, symbol, signal, price, when, backtest):
        self.see("ping", symbol, when)
        self.seen.append(("price", price))
        api = ref_api()
        ms = int(when.timestamp() * 1000)
        for scenario in (self.breaking, self.trailing, self.averaging, self.closing):
            scenario.ping(api, symbol, dict(signal), price, ms)

    def breakeven(self, symbol, signal, price, when, backtest):
        self.see("breakeven", symbol, when)
        self.breaking.breakeven(
            ref_api(), symbol, dict(signal), price, int(when.timestamp() * 1000)
        )

    @staticmethod
    def level(event):
        if event["level"] == 50 and not event["signal"]["partials"]:
            kind = (
                commit_partial_profit
                if event["signal"]["price_open"] < event["current_price"]
                else commit_partial_loss
            )
            kind(event["symbol"], 50)


def ref_api():
    from btfarm.orchestrator import (
        commit_average_buy,
        commit_close_pending,
        commit_trailing_stop,
        commit_trailing_take,
    )

    class Api:
        pass

    api = Api()
    api.commit_trailing_stop, api.commit_trailing_take = commit_trailing_stop, commit_trailing_take
    api.commit_average_buy, api.commit_close_pending, api.commit_breakeven = (
        commit_average_buy,
        commit_close_pending,
        commit_breakeven,
    )
    return api


def register_manager(name: str) -> Manager:
    manager = Manager()

    def get_signal(symbol, when):
        return ref.cross_entry(
            get_candles(symbol, "1m", 35).close.tolist(), get_average_price(symbol), 120
        )

    add_strategy(
        strategy_name=name,
        interval="5m",
        get_signal=get_signal,
        callbacks={"on_active_ping": manager.ping, "on_breakeven": manager.breakeven},
        override=True,
    )
    return manager


def test_live_manages_a_position_as_a_backtest_does(backend):
    events.listen_partial_profit_available(Manager.level)
    events.listen_partial_loss_available(Manager.level)
    end_ms = START_MS + HOURS * 60 * MINUTE_MS
    clock = StopAt(START_MS, end_ms, "managed-semantics")
    live_replay.register(clock)
    in_live = register_manager("managed-semantics")
    live = [
        r
        for r in Live.run(SYMBOL, "managed-semantics", live_replay.EXCHANGE, clock=clock)
        if r.action == "closed"
    ]

    in_backtest = register_manager("managed-semantics")
    tested = backtest("managed-semantics", START_MS, HOURS)
    inside = [
        c for c in tested if c.close_timestamp < end_ms
    ]  # the frame's end expires the last one
    assert len(inside) >= 12 and len(tested) - len(inside) <= 1, len(inside)
    assert [trade(c) for c in live[: len(inside)]] == [trade(c) for c in inside]
    # the hooks ran on the same candles and read the same: when = u, current_price = VWAP_u, the
    # lagged price (get_average_price) and the candles before u; in live, a minute after u closed
    assert in_live.seen[: len(in_backtest.seen)] == in_backtest.seen[: len(in_live.seen)]
    assert len(in_live.seen) > 500
    kinds = {(q.type) for c in live for q in c.signal.partials}
    assert kinds == {"profit", "loss"}
    assert any(len(c.signal.entries) > 1 for c in live) and any(
        c.close_reason == "closed" for c in live
    )
    assert any(c.signal.price_stop_loss != c.signal.original_price_stop_loss for c in live)
    # what get_data and the report show, read back from the persisted log
    data = Live.get_data(SYMBOL, "managed-semantics")
    logged = [
        e for e in open_state(SYMBOL, "managed-semantics").events() if e["action"] == "closed"
    ]
    assert [e["signal"]["partials"] for e in logged] == [
        [q.model_dump() for q in c.signal.partials] for c in live
    ]
    assert [trade(e) for e in data.events if e.action == "closed"] == [trade(c) for c in live]
    report = Live.get_report(SYMBOL, "managed-semantics")
    assert "| Entries | Partial closes | Level moves |" in report
    assert "loss 50% at" in report and "SL " in report and " -> " in report
    # the equity picture marks the partial closes, as the backtest's does
    picture = Live.dump(SYMBOL, "managed-semantics").with_suffix(".equity.svg").read_text()
    assert "partial close" in picture


# ---- a crash right after a commit, in process ---------------------------------------------


class Crash(BaseException):
    """Stands for SIGKILL right after a commit returned True."""


@pytest.mark.parametrize("strategy", live_replay.MANAGED)
def test_a_crash_after_a_commit_loses_nothing_and_repeats_nothing(backend, strategy):
    commits = []

    def crash_once(name, kind, applied, when, signal_id):
        commits.append((name, kind, applied, int(when.timestamp() * 1000), signal_id))
        if applied and len(commits) == 1:
            raise Crash(f"killed right after {kind}")

    live_replay.after_commit = crash_once
    unlisten = live_replay.listen_levels()
    clock = ManualClock(START_MS)
    live_replay.register(clock)
    with pytest.raises(Crash):
        for _ in Live.run(SYMBOL, strategy, live_replay.EXCHANGE, clock=clock):
            pass
    ((name, kind, _, committed_at, _),) = commits
    saved = open_state(SYMBOL, strategy)
    state = saved.load()["core"]
    victim = state["signal"]["id"]
    cut = state["position"].get("hook_todo")
    assert (
        cut is not None
        and cut["u"] == committed_at
        and [r["action"] for r in cut["queue"]] == [kind]
    )
    assert "on_active_ping" not in [step[0] for step in cut["todo"]]

    clock2 = StopAt(
        clock.now_ms() + 7 * MINUTE_MS, clock.now_ms() + 8 * MINUTE_MS, strategy
    )  # back 7 minutes later
    live_replay.register(clock2)
    heard = []
    events.listen_strategy_commit(heard.append)
    closed = [
        r
        for r in Live.run(SYMBOL, strategy, live_replay.EXCHANGE, clock=clock2)
        if r.action == "closed"
    ]
    assert [c for c in commits if c[4] == victim] == commits[:1], (
        f"the hook committed again after the restart: {commits}"
    )
    assert [(e["action"], e["timestamp"]) for e in heard if e["signal_id"] == victim] == [
        (kind, committed_at)
    ]
    logged = [event_key(e) for e in open_state(SYMBOL, strategy).events()]
    assert logged.count(("opened", victim)) == 1 and logged.count(("closed", victim)) == 1

    unlisten()
    live_replay.after_commit = None
    if strategy == "managed-level":
        live_replay.listen_levels()
    (uninterrupted, *_) = backtest(strategy, closed[0].signal.scheduled_at, 3)
    assert trade(closed[0]) == trade(uninterrupted)
    done = trade(closed[0])
    if kind.startswith("partial"):
        assert [(q["type"], q["percent"], q["timestamp"]) for q in done["partials"]] == [
            (kind.removeprefix("partial_"), 50, committed_at)
        ]
    elif kind == "trailing_stop":
        distance = abs(done["price_open"] - done["stop_loss"]) / done["price_open"] * 100
        assert distance == pytest.approx(
            live_replay.HOLD_BAND_PERCENT - 0.5
        )  # moved once, not twice
    else:
        assert done["close"][:3] == ("closed", committed_at + MINUTE_MS, "bye")


# ---- the real process, SIGKILLed right after the commit ---------------------------------

SPEED = 600  # clock seconds per real second
DEADLINE_SECONDS = 30.0


class LiveProcess:
    def __init__(self, tmp_path: Path, strategy: str) -> None:
        self.tmp_path, self.strategy = tmp_path, strategy
        self.spec = f"accelerated:start=2025-01-03T00:00:00Z,speed={SPEED},anchor={time.time():.6f}"
        self.markers = tmp_path / "markers"
        self.markers.mkdir()
        folder = tmp_path / "state" / "live" / SYMBOL
        self.state_file = folder / f"{strategy}.json"
        self.log_file = folder / f"{strategy}.events.jsonl"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            live_replay.CLOCK_VARIABLE: self.spec,
            live_replay.MARKERS_VARIABLE: str(self.markers),
            "BTFARM_STATE_DIR": str(self.tmp_path / "state"),
        }
        env.pop("BTFARM_REDIS_URL", None)
        n = len(self.procs)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "btfarm.orchestrator.cli",
                "live",
                "tests.support.live_replay",
                "--symbol",
                SYMBOL,
                "--strategy",
                self.strategy,
                "--exchange",
                live_replay.EXCHANGE,
                "--clock",
                self.spec,
            ],
            cwd=self.tmp_path,
            env=env,
            stdout=open(self.tmp_path / f"out{n}.txt", "w"),
            stderr=open(self.tmp_path / f"err{n}.txt", "w"),
        )
        self.procs.append(proc)
        return proc

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())  # replaced by rename: never half-written

    def logged(self) -> list[dict]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().split("\n")[:-1]]

    def commits(self) -> list[dict]:
        path = self.markers / "commits.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if self.procs and self.procs[-1].returncode != 0:
            # the embedded Redis of a killed process waits for a next client to notice it died:
            # join and leave, which stops it
            from btfarm.shared.store.embedded_redis import EmbeddedServer

            EmbeddedServer(self.tmp_path / "state").start().close()


def wait_for(predicate, what: str, proc: subprocess.Popen, timeout: float = DEADLINE_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.02)  # polling a condition with a deadline, not a fixed wait
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.parametrize("strategy", live_replay.MANAGED)
def test_btfarm_live_killed_right_after_a_commit_applies_it_exactly_once(tmp_path, clean, strategy):
    lp = LiveProcess(tmp_path, strategy)
    try:
        first = lp.start()
        wait_for(
            lambda: (lp.markers / "blocked").exists(),
            "the commit and the strategy blocked after it",
            first,
        )
        os.kill(
            first.pid, signal.SIGKILL
        )  # the process is held inside the hook, right after the commit
        assert first.wait(10) == -signal.SIGKILL
        (commit,) = lp.commits()
        assert commit["applied"] and commit["pid"] == first.pid
        committed_at = to_ms(to_utc(commit["when"]))
        state = lp.state()["core"]
        victim, kind = state["signal"]["id"], commit["kind"]
        cut = state["position"].get(
            "hook_todo"
        )  # what the dead process left: the commit, not yet emitted
        assert (
            cut is not None
            and cut["u"] == committed_at
            and [r["action"] for r in cut["queue"]] == [kind]
        )
        if kind.startswith("partial"):
            assert [q["timestamp"] for q in state["signal"]["partials"]] == [committed_at]
        elif kind == "close_pending":
            assert state["position"]["pending"]["id"] == "bye"
        # another process (this one) reads the open signal as persisted: what was done to it shows
        held = Live.get_data(SYMBOL, strategy)
        assert (held.phase, held.signal.id) == ("active", victim)
        if kind.startswith("partial"):
            assert [(q.type, q.percent, q.timestamp) for q in held.signal.partials] == [
                (kind.removeprefix("partial_"), 50, committed_at)
            ]
        elif kind == "trailing_stop":
            assert held.signal.price_stop_loss > held.signal.original_price_stop_loss

        second = lp.start()
        wait_for(
            lambda: any(
                e["action"] == "closed" and e["signal"]["id"] == victim for e in lp.logged()
            ),
            f"the restored signal {victim} to close",
            second,
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(DEADLINE_SECONDS) == 0, (tmp_path / "err1.txt").read_text()[-2000:]
    finally:
        lp.stop_all()
    # the hook never committed again for that position
    assert [c["applied"] for c in lp.commits() if c["signal_id"] == victim] == [True], lp.commits()
    logged = lp.logged()
    keys = [(e["action"], e["signal"]["id"]) for e in logged]
    assert keys.count(("opened", victim)) == 1 and keys.count(("closed", victim)) == 1
    assert len(keys) == len(set(keys)), keys
    from btfarm.shared.results import to_model

    (closed,) = [
        to_model(e) for e in logged if e["action"] == "closed" and e["signal"]["id"] == victim
    ]
    assert [e for e in Live.get_data(SYMBOL, strategy).events if e.action == "closed"][0] == closed

    # the trade an uninterrupted run takes: a backtest from the same minute, the same hooks
    live_replay.register(ManualClock(START_MS))
    live_replay.after_commit = None
    if strategy == "managed-level":
        live_replay.listen_levels()
    (uninterrupted, *_) = backtest(strategy, closed.signal.scheduled_at, 3)
    assert trade(closed) == trade(uninterrupted)
    done = trade(closed)
    if kind.startswith("partial"):
        assert [(q["type"], q["timestamp"]) for q in done["partials"]] == [
            (kind.removeprefix("partial_"), committed_at)
        ]
    elif kind == "trailing_stop":
        distance = abs(done["price_open"] - done["stop_loss"]) / done["price_open"] * 100
        assert distance == pytest.approx(live_replay.HOLD_BAND_PERCENT - 0.5)
    else:
        assert done["close"][:3] == ("closed", committed_at + MINUTE_MS, "bye")
    report = (tmp_path / "dump" / "live" / f"{strategy}.md").read_text()
    assert victim in report
    if kind.startswith("partial"):
        assert f"{kind.removeprefix('partial_')} 50% at" in report

"""``btfarm live`` as a real process: SIGKILL and restart, graceful SIGTERM, a corrupt state.

The process replays the sim data on an accelerated clock (600x: a tick every
0.1 s), with state in files under the embedded default. Every wait polls the
persisted files against a deadline; every process started here is stopped by
its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support import live_replay

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = "2025-01-03T00:00:00Z"
SPEED = 600  # clock seconds per real second: a 20-minute "hold" lasts 2 s
DEADLINE_SECONDS = 25.0  # for any one thing to happen


class LiveProcess:
    """``btfarm live`` for "hold" on the replay, sharing one clock timeline across restarts."""

    def __init__(self, tmp_path: Path, anchor: float | None, strategy: str = "hold") -> None:
        self.tmp_path = tmp_path
        self.strategy = strategy
        self.spec = f"accelerated:start={START},speed={SPEED}" + (
            f",anchor={anchor:.6f}" if anchor is not None else ""
        )  # no anchor: each start restarts time
        folder = tmp_path / "state" / "live" / live_replay.SYMBOL
        self.state_file = folder / f"{strategy}.json"
        self.log_file = folder / f"{strategy}.events.jsonl"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            live_replay.CLOCK_VARIABLE: self.spec,
            "BTFARM_STATE_DIR": str(self.tmp_path / "state"),
        }
        n = len(self.procs)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "btfarm.orchestrator.cli",
                "live",
                "tests.support.live_replay",
                "--symbol",
                live_replay.SYMBOL,
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

    def output(self, n: int) -> tuple[str, str]:
        return (self.tmp_path / f"out{n}.txt").read_text(), (
            self.tmp_path / f"err{n}.txt"
        ).read_text()

    def state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())  # replaced by rename: never half-written
        except FileNotFoundError:
            return None

    def logged(self) -> list[tuple[str, str]]:
        if not self.log_file.exists():
            return []
        lines = self.log_file.read_text().split("\n")[
            :-1
        ]  # a line still being written is not whole
        return [(e["action"], e["signal"]["id"]) for e in map(json.loads, lines)]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)


def wait_for(
    predicate, what: str, proc: subprocess.Popen | None = None, timeout: float = DEADLINE_SECONDS
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.02)  # polling a condition with a deadline, not a fixed wait
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def live_process(tmp_path):
    lp = LiveProcess(tmp_path, anchor=time.time())
    yield lp
    lp.stop_all()


def active_signal(lp: LiveProcess) -> str | None:
    state = lp.state()
    if (
        state
        and state["core"]["phase"] == "active"
        and ("opened", state["core"]["signal"]["id"]) in lp.logged()
    ):
        return state["core"]["signal"]["id"]
    return None


def test_sigkill_then_restart_restores_the_signal_and_closes_it_once(live_process):
    lp = live_process
    first = lp.start()
    victim = wait_for(lambda: active_signal(lp), "a signal opened and persisted", first)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert lp.state()["core"]["signal"]["id"] == victim  # what the dead process left behind

    second = lp.start()
    wait_for(
        lambda: ("closed", victim) in lp.logged(), f"the restored signal {victim} to close", second
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(DEADLINE_SECONDS) == 0
    logged = lp.logged()
    assert Counter(logged)[("opened", victim)] == 1
    assert Counter(logged)[("closed", victim)] == 1
    assert len(logged) == len(set(logged)), f"an event was logged twice: {logged}"
    out, err = lp.output(1)
    assert f"restored active signal {victim}" in err
    assert f"opened {victim}" not in out and f"closed {victim}" in out
    report = (lp.tmp_path / "dump" / "live" / "hold.md").read_text()
    assert victim in report
    assert (
        "![Equity so far](hold.equity.svg)" in report
    )  # the picture, beside it and in the HTML twin
    assert (lp.tmp_path / "dump" / "live" / "hold.equity.svg").read_text().count("<path") > 5
    assert "data:image/svg+xml;base64," in (lp.tmp_path / "dump" / "live" / "hold.html").read_text()


def test_sigterm_with_an_open_signal_waits_for_its_close_then_exits_0(live_process):
    lp = live_process
    proc = lp.start()
    victim = wait_for(lambda: active_signal(lp), "a signal opened and persisted", proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(DEADLINE_SECONDS) == 0
    logged = lp.logged()
    assert logged[-1] == ("closed", victim)  # it ran to its close, and nothing opened after
    assert [a for a, _ in logged].count("opened") == [a for a, _ in logged].count("closed")
    assert lp.state()["core"]["phase"] == "idle"
    out, err = lp.output(0)
    assert f"closed {victim} time_expired" in out and "stopped; report:" in out
    assert "stopping" in err


def test_a_corrupt_state_file_is_named_and_left_untouched(live_process):
    lp = live_process
    lp.state_file.parent.mkdir(parents=True)
    garbage = b'{"version": 1, "symbol": "SIMUSDT", "strategy_name": "hold", "core": {"pha'
    lp.state_file.write_bytes(garbage)
    proc = lp.start()
    assert proc.wait(DEADLINE_SECONDS) == 2
    out, err = lp.output(0)
    assert str(lp.state_file) in "".join(err.split())  # the console wraps long lines
    assert "corrupt or truncated" in err
    assert lp.state_file.read_bytes() == garbage


def test_a_clock_earlier_than_the_saved_events_is_refused_with_both_times(tmp_path):
    lp = LiveProcess(tmp_path, anchor=None)  # each process's clock starts again at START
    try:
        first = lp.start()
        victim = wait_for(lambda: active_signal(lp), "a signal opened and persisted", first)
        wait_for(
            lambda: lp.state()["saved_at"] > live_replay_start_ms() + 60_000, "time to pass", first
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        saved, logged = lp.state_file.read_bytes(), lp.logged()
        second = lp.start()
        assert second.wait(DEADLINE_SECONDS) == 2
        _, err = lp.output(1)
        flat = " ".join(err.split())
        assert (
            "earlier than the last saved live event" in flat and "time would run backwards" in flat
        )
        assert "2025-01-03T00:0" in flat  # the clock's time and the saved one, both shown
        assert lp.state_file.read_bytes() == saved and lp.logged() == logged  # nothing touched
        assert ("opened", victim) in logged and logged.count(("opened", victim)) == 1
    finally:
        lp.stop_all()
        # the killed process's embedded Redis waits for a next client to notice it died
        # (the refused start never joined it): join and leave, which stops it
        from btfarm.shared.store.embedded_redis import EmbeddedServer

        EmbeddedServer(tmp_path / "state").start().close()


def live_replay_start_ms() -> int:
    from btfarm.shared.schemas import to_ms, to_utc

    return to_ms(to_utc(START))


def test_rejected_signals_show_in_the_output_and_the_report(tmp_path):
    lp = LiveProcess(tmp_path, anchor=time.time(), strategy="rejecter")
    try:
        proc = lp.start()
        wait_for(
            lambda: " ".join(lp.output(0)[1].split()).count("signal rejected: long") >= 2,
            "two rejections printed",
            proc,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE_SECONDS) == 0
        out, err = lp.output(0)
        flat = " ".join(err.split())
        assert "signal rejected: long needs take profit > open > stop loss" in flat
        assert "signals rejected or get_signal raised; first reasons:" in flat
        report = (tmp_path / "dump" / "live" / "rejecter.md").read_text()
        assert "## Rejected signals and strategy errors" in report
        assert "long needs take profit" in report
        import re

        printed = int(re.search(r"(\d+) signals rejected or get_signal raised", flat).group(1))
        # another process (this one, on the same state folder) reads the run's persisted state:
        # the refusals are counted there too
        from btfarm.orchestrator import Live

        elsewhere = Live.get_data(live_replay.SYMBOL, "rejecter")
        assert elsewhere.stats.rejected_signals == printed >= 2
        assert elsewhere.rejections and "long needs take profit" in elsewhere.rejections[0]
    finally:
        lp.stop_all()


def test_a_replay_clock_outside_its_file_is_refused_at_start(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BTFARM_STATE_DIR": str(tmp_path / "state"),
        live_replay.CLOCK_VARIABLE: "accelerated:start=2025-03-01T00:00Z,speed=600",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "live",
            "tests.support.live_replay",
            "--symbol",
            live_replay.SYMBOL,
            "--strategy",
            "hold",
            "--exchange",
            live_replay.EXCHANGE,
            "--clock",
            env[live_replay.CLOCK_VARIABLE],
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    flat = " ".join(done.stderr.split())
    assert "outside the file's candles (2025-01-01T00:00Z .. 2025-01-30T23:59Z)" in flat

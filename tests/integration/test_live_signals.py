"""``btfarm live`` as a real process under SIGINT/SIGTERM at various moments: nothing is left behind.

The embedded redis-server is daemonized (nobody's child), so it is found by
its command line, which names the state folder under ``tmp_path``; the
process's own children are taken from psutil while it runs. Each moment is
reached by a round trip (a file the process wrote, a line it printed), never
by a sleep.
"""

from __future__ import annotations

import contextlib
import signal
import time

import psutil
import pytest

from tests.integration.test_cli_live import DEADLINE_SECONDS, LiveProcess, active_signal, wait_for
from tests.support.processes import farm_processes_under

pytestmark = pytest.mark.integration

INT, TERM = signal.SIGINT, signal.SIGTERM


def store_up(lp: LiveProcess) -> bool:
    """The process's embedded redis-server has written its pidfile."""
    return (lp.tmp_path / "state" / "redis" / "redis.pid").exists()


def stopping_printed(lp: LiveProcess) -> bool:
    return "stopping" in lp.output(0)[1]


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def live_process(tmp_path):
    lp = LiveProcess(tmp_path, anchor=time.time())
    yield lp
    lp.stop_all()
    for leftover in farm_processes_under(tmp_path):  # a failed test's server, by PID
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()


# (when the first signal goes, the signals, whether the later ones wait for the "stopping" line, exit codes)
CASES = {
    "int-int-after-stopping": ("open", (INT, INT), True, {130}),  # the case: 0.3 s apart
    "term-term-after-stopping": ("open", (TERM, TERM), True, {130}),
    "int-then-term-at-once": ("open", (INT, TERM), False, {130}),
    "term-int-int-at-once": ("open", (TERM, INT, INT), False, {130}),
    "int-int-while-the-store-starts": (
        "store",
        (INT, INT),
        False,
        {0, 130},
    ),  # two SIGINTs may merge into one
    "term-while-the-store-starts": (
        "store",
        (TERM,),
        False,
        {0},
    ),  # the stop must survive the run's start
    "int-int-at-spawn": (
        "spawn",
        (INT, INT),
        False,
        None,
    ),  # before any handler: whatever Python does
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_process_outlives_btfarm_live_whatever_signals_arrive_and_when(live_process, case):
    moment, signals, after_stopping, codes = CASES[case]
    lp = live_process
    proc = lp.start()
    if moment == "store":
        wait_for(lambda: store_up(lp), "the embedded redis-server to start", proc)
    elif moment == "open":
        wait_for(lambda: active_signal(lp), "a signal opened and persisted", proc)
    mine = psutil.Process(proc.pid).children(recursive=True) + farm_processes_under(lp.tmp_path)
    proc.send_signal(signals[0])
    for number in signals[1:]:
        if after_stopping:
            wait_for(lambda: stopping_printed(lp), "the graceful stop to begin", proc)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(number)
    code = proc.wait(DEADLINE_SECONDS)
    out, err = lp.output(0)
    if (
        codes is not None
    ):  # at spawn, Python itself may die of the signal or print a KeyboardInterrupt
        assert code in codes, f"exit {code}\n{out}\n{err}"
        assert "Traceback" not in err, err
    if code == 0:
        assert "stopped; report:" in out  # a stop asked while the run started was not lost
    left = [p for p in mine if not gone(p)] + farm_processes_under(lp.tmp_path)
    assert not left, (
        f"left running after exit {code}: {[(p.pid, p.cmdline()) for p in left]}\n{err}"
    )
    assert not (
        lp.tmp_path / "state" / "redis" / "redis.pid"
    ).exists()  # stopped by its last member
    if code == 130:  # left at once: the open signal stays persisted for the next start
        state = lp.state()
        assert state is None or state["core"]["phase"] in ("idle", "active")

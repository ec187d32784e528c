"""A full or read-only disk under reports and live state: one clear error naming the file, the
old file whole, and ``btfarm live`` giving up at once instead of restarting.

The disks are real: a 64 KiB tmpfs mounted on the folder (``tests/support/small_disk.py``),
filled to the last byte or remounted read-only; skipped, with the reason, where mounting is
not allowed.
"""

from __future__ import annotations

import signal
import time

import pytest

from btfarm.orchestrator.reports.dump import dump_report
from btfarm.shared.errors import ConfigError
from tests.integration.test_cli_live import DEADLINE_SECONDS, LiveProcess, active_signal, wait_for
from tests.support.processes import farm_processes_under
from tests.support.small_disk import small_disk

pytestmark = pytest.mark.integration

REASONS = {"full": "the disk is full", "read-only": "the file system is read-only"}


def break_disk(disk, fault: str) -> None:
    disk.fill() if fault == "full" else disk.read_only()


def flat(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


def nowhere(text: str) -> str:
    return "".join(text.split())  # a wrapped path, whole again


@pytest.mark.parametrize("fault", list(REASONS))
def test_a_report_on_a_full_or_read_only_disk_is_one_error_naming_it_and_the_old_one_stays(
    tmp_path, fault
):
    with small_disk(tmp_path / "dump") as disk:
        old = dump_report("old report\n", "backtest", "n", dump_dir=disk.path)
        break_disk(disk, fault)
        with pytest.raises(ConfigError) as info:
            dump_report("new report\n" * 2000, "backtest", "n", dump_dir=disk.path)
        message = str(info.value)
        assert f"cannot write report {old}: {REASONS[fault]}" in message
        assert "BTFARM_DUMP_DIR" in message
        assert old.read_text() == "old report\n"
        assert [p.name for p in old.parent.iterdir()] == ["n.md"]  # no scratch file left


@pytest.mark.parametrize("fault", list(REASONS))
def test_btfarm_live_with_its_report_folder_on_a_broken_disk_says_which_file_and_exits_2(
    tmp_path, fault
):
    lp = LiveProcess(tmp_path, anchor=time.time())
    with small_disk(tmp_path / "dump") as disk:
        old = disk.path / "live" / "hold.md"
        old.parent.mkdir()
        old.write_text("old report\n")
        break_disk(disk, fault)
        try:
            proc = lp.start()
            wait_for(
                lambda: (tmp_path / "state" / "redis" / "redis.pid").exists(),
                "the store to start",
                proc,
            )
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(DEADLINE_SECONDS) == 2
            _, err = lp.output(0)
            assert "error: cannot write report" in flat(err) and REASONS[fault] in flat(err)
            assert str(disk.path / "live") in nowhere(err) and "BTFARM_DUMP_DIR" in err
            assert "Traceback" not in err
            assert old.read_text() == "old report\n"
            assert not farm_processes_under(tmp_path)
        finally:
            lp.stop_all()


def test_live_state_on_a_disk_that_fills_mid_run_stops_at_once_naming_the_file(tmp_path):
    lp = LiveProcess(tmp_path, anchor=time.time())
    with small_disk(tmp_path / "state" / "live") as disk:
        try:
            proc = lp.start()
            victim = wait_for(lambda: active_signal(lp), "a signal opened and persisted", proc)
            saved = lp.state_file.read_bytes()
            disk.fill()  # the close, 20 clock minutes (2 s) on, cannot be written
            assert proc.wait(DEADLINE_SECONDS) == 2
            _, err = lp.output(0)
            assert f"cannotwritelivestate{lp.state_file}" in nowhere(err)
            assert REASONS["full"] in flat(err) and "BTFARM_STATE_DIR" in err
            assert "restart" not in err and "Traceback" not in err  # given up at once
            assert (
                lp.state_file.read_bytes() == saved
            )  # the last state whole: the next start restores it
            assert victim in saved.decode()
            assert not farm_processes_under(tmp_path)
        finally:
            lp.stop_all()


def test_live_state_on_a_read_only_disk_is_refused_at_start(tmp_path):
    lp = LiveProcess(tmp_path, anchor=time.time())
    with small_disk(tmp_path / "state" / "live") as disk:
        disk.read_only()  # (remounting under a running live is refused: it holds its lock file open)
        try:
            proc = lp.start()
            assert proc.wait(DEADLINE_SECONDS) == 2
            _, err = lp.output(0)
            assert "error: cannot write live state" in flat(err) and REASONS["read-only"] in flat(
                err
            )
            assert str(lp.state_file.parent) in nowhere(err)
            assert "restart" not in err and "Traceback" not in err
            assert not farm_processes_under(tmp_path)
        finally:
            lp.stop_all()

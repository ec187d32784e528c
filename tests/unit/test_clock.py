"""shared/clock.py: clocks tests drive, and the spec ``btfarm live --clock`` reads."""

import threading
import time

import pytest

from btfarm.shared.clock import AcceleratedClock, ManualClock, SystemClock, clock_from_spec

pytestmark = pytest.mark.unit

START_MS = 1_735_862_400_000  # 2025-01-03T00:00Z


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(START_MS)
    assert clock.now_ms() == START_MS
    clock.sleep(60.001)
    assert clock.now_ms() == START_MS + 60_001
    clock.advance(0.5)
    assert clock.now_ms() == START_MS + 60_501


def test_manual_clock_does_not_move_when_woken():
    clock, wake = ManualClock(START_MS), threading.Event()
    wake.set()
    clock.sleep(60, wake)
    assert clock.now_ms() == START_MS


def test_accelerated_clock_runs_speed_times_faster_from_its_anchor():
    anchor = time.time() - 2.0  # two real seconds ago
    clock = AcceleratedClock(START_MS, speed=600, anchor=anchor)
    assert clock.now_ms() - START_MS >= 1_200_000  # at least 20 clock-minutes have passed
    started = time.monotonic()
    clock.sleep(60)  # one clock-minute = 0.1 s real
    assert time.monotonic() - started < 1.0


def test_two_processes_with_one_spec_share_the_timeline():
    spec = f"accelerated:start=2025-01-03T00:00:00Z,speed=600,anchor={time.time():.3f}"
    a, b = clock_from_spec(spec), clock_from_spec(spec)
    assert a.start_ms == START_MS and abs(a.now_ms() - b.now_ms()) < 5_000


def test_system_clock_is_the_default():
    assert isinstance(clock_from_spec(None), SystemClock)
    assert isinstance(clock_from_spec("system"), SystemClock)
    assert abs(SystemClock().now_ms() - time.time() * 1000) < 1000


@pytest.mark.parametrize(
    "spec, words",
    [
        ("sundial", "unknown clock"),
        ("accelerated:speed=10", "needs start= and speed="),
        ("accelerated:start=2025-01-03,pace=3", "bad part 'pace=3'"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(spec, words):
    with pytest.raises(ValueError, match=words):
        clock_from_spec(spec)


def test_speed_must_be_positive():
    with pytest.raises(ValueError, match="speed must be > 0"):
        AcceleratedClock(START_MS, 0)

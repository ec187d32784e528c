"""Walk-forward windows: how a frame is cut, and the window frames every process resolves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from btfarm.shared.errors import ConfigError, NotRegisteredError, SchemaError
from btfarm.shared.registry import add_frame, get_frame
from btfarm.shared.walk_forward import WalkForward

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 10, 23, 59, tzinfo=UTC)  # ten days, the last minute included
MINUTE = timedelta(minutes=1)


def day(n: int) -> datetime:
    return START + timedelta(days=n)


def test_rolling_windows_tile_the_frame_with_their_tests():
    cuts = WalkForward(train="4d", test="2d").windows(START, END)
    assert cuts == [
        (day(0), day(4) - MINUTE, day(4), day(6) - MINUTE),
        (day(2), day(6) - MINUTE, day(6), day(8) - MINUTE),
        (day(4), day(8) - MINUTE, day(8), day(10) - MINUTE),
    ]


def test_anchored_windows_all_train_from_the_start_and_a_step_can_differ_from_the_test():
    cuts = WalkForward(train="4d", test="2d", step="3d", anchored=True).windows(START, END)
    assert [(a, d) for a, _, _, d in cuts] == [(day(0), day(6) - MINUTE), (day(0), day(9) - MINUTE)]
    assert [c for _, _, c, _ in cuts] == [day(4), day(7)]


def test_no_window_fits_a_short_frame_and_a_bad_duration_is_refused():
    assert WalkForward(train="9d", test="2d").windows(START, END) == []
    for bad in ("20", "0d", "3y", "-2d"):
        with pytest.raises(ValueError, match="is not a positive number and a unit"):
            WalkForward(train=bad, test="1d")


def test_a_window_of_a_registered_frame_is_a_frame_everywhere_and_never_outside_it():
    add_frame(frame_name="wf-base", interval="1m", start_date=START, end_date=END, override=True)
    window = get_frame("wf-base[2024-03-02T00:00,2024-03-05T23:59]")
    assert (window.start_date, window.end_date, window.interval) == (day(1), day(5) - MINUTE, "1m")
    with pytest.raises(ConfigError, match="is not a window of frame 'wf-base'"):
        get_frame("wf-base[2024-02-20T00:00,2024-03-05T23:59]")
    with pytest.raises(NotRegisteredError):
        get_frame("no-such-frame[2024-03-02T00:00,2024-03-05T23:59]")


def test_a_walker_refuses_walk_forward_it_cannot_read():
    from btfarm.shared.registry import add_walker

    with pytest.raises(SchemaError, match="walk_forward"):
        add_walker(
            walker_name="wf-bad",
            exchange_name="x",
            frame_name="f",
            strategies=["s"],
            walk_forward={"train": "4d"},
            override=True,
        )


def test_naming_the_windows_registers_nothing_and_registering_them_does():
    from btfarm.orchestrator.walk_forward.run import register_windows, window_walkers
    from btfarm.shared.registry import add_walker, get_walker

    add_frame(frame_name="wf-base", interval="1m", start_date=START, end_date=END, override=True)
    walker = add_walker(
        walker_name="wf-named",
        exchange_name="x",
        frame_name="wf-base",
        strategies=["s"],
        walk_forward={"train": "4d", "test": "2d"},
        override=True,
    )
    windows = window_walkers(walker)  # what Walker.stop asks, in any process
    assert [n for n, _, _ in windows] == ["wf-named.wf0", "wf-named.wf1", "wf-named.wf2"]
    with pytest.raises(NotRegisteredError):
        get_walker("wf-named.wf0")
    register_windows(walker, windows)
    assert get_walker("wf-named.wf1").frame_name == "wf-base[2024-03-03T00:00,2024-03-06T23:59]"

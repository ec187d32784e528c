"""shared/events.py: delivery, unsubscribe, once, failing listeners, threads."""

import logging
import threading

import pytest

from btfarm.shared import events

pytestmark = pytest.mark.unit

LISTEN_FUNCTIONS = [
    "listen_signal",
    "listen_signal_backtest",
    "listen_signal_live",
    "listen_done",
    "listen_done_backtest",
    "listen_done_live",
    "listen_done_walker",
    "listen_progress",
    "listen_walker",
    "listen_walker_complete",
    "listen_error",
    "listen_exit",
    "listen_risk",
]


@pytest.fixture(autouse=True)
def _no_listeners():
    events.clear()
    yield
    events.clear()


def test_every_listen_function_and_its_once_form_exist():
    for name in LISTEN_FUNCTIONS:
        assert getattr(events, name).__name__ == name
        assert getattr(events, name + "_once").__name__ == name + "_once"


def test_listener_receives_payloads_until_unsubscribed():
    got = []
    unsubscribe = events.listen_progress(got.append)
    events.emit("progress", 1)
    unsubscribe()
    unsubscribe()  # twice is harmless
    events.emit("progress", 2)
    assert got == [1]


def test_parent_topic_hears_every_mode_and_leaf_hears_only_its_own():
    every, backtest, live = [], [], []
    events.listen_signal(every.append)
    events.listen_signal_backtest(backtest.append)
    events.listen_signal_live(live.append)
    events.emit("signal.backtest", "b")
    events.emit("signal.live", "l")
    assert every == ["b", "l"]
    assert backtest == ["b"]
    assert live == ["l"]


def test_done_per_mode():
    every, walker = [], []
    events.listen_done(every.append)
    events.listen_done_walker(walker.append)
    events.emit("done.backtest", "b")
    events.emit("done.walker", "w")
    assert every == ["b", "w"]
    assert walker == ["w"]


def test_walker_progress_and_walker_complete_are_separate():
    progress, complete = [], []
    events.listen_walker(progress.append)
    events.listen_walker_complete(complete.append)
    events.emit("walker", "p")
    events.emit("walker_complete", "c")
    assert (progress, complete) == (["p"], ["c"])


def test_a_listener_that_raises_is_logged_and_the_others_still_run(caplog):
    got = []

    def broken(payload):
        raise RuntimeError("user bug")

    events.listen_error(broken)
    events.listen_error(got.append)
    with caplog.at_level(logging.ERROR, logger="btfarm.events"):
        events.emit("error", "e")
    assert got == ["e"]
    assert "user bug" in caplog.text


def test_same_function_twice_is_two_subscriptions():
    got = []
    first = events.listen_risk(got.append)
    events.listen_risk(got.append)
    events.emit("risk", 1)
    first()
    events.emit("risk", 2)
    assert got == [1, 1, 2]


def test_once_fires_for_the_first_accepted_payload_only():
    got = []
    events.listen_signal_once(lambda p: p > 1, got.append)
    for value in [0, 1, 2, 3]:
        events.emit("signal.live", value)
    assert got == [2]
    assert not events.has_listeners("signal")


def test_once_can_be_cancelled_before_it_fires():
    got = []
    cancel = events.listen_exit_once(lambda p: True, got.append)
    cancel()
    events.emit("exit", "x")
    assert got == []


def test_once_with_a_raising_filter_treats_it_as_false(caplog):
    got = []

    def picky(payload):
        if payload == "bad":
            raise ValueError("no")
        return True

    events.listen_done_once(picky, got.append)
    with caplog.at_level(logging.ERROR, logger="btfarm.events"):
        events.emit("done.live", "bad")
        events.emit("done.live", "good")
    assert got == ["good"]


def test_has_listeners_follows_subscriptions_and_parents():
    assert not events.has_listeners("signal.backtest")
    unsubscribe = events.listen_signal(print)
    assert events.has_listeners("signal.backtest")
    assert events.has_listeners("signal.live")
    assert not events.has_listeners("progress")
    unsubscribe()
    assert not events.has_listeners("signal.backtest")


def test_unknown_topics_are_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="known:.*progress"):
        events.emit("progres", 1)
    with pytest.raises(ValueError):
        events.emit("signal", 1)  # the engine emits on leaf topics only
    with pytest.raises(ValueError):
        events.has_listeners("nope")


def test_a_listener_may_unsubscribe_itself_while_being_called():
    got = []

    def listener(payload):
        got.append(payload)
        unsubscribe()

    unsubscribe = events.listen_progress(listener)
    events.emit("progress", 1)
    events.emit("progress", 2)
    assert got == [1]


def test_once_fires_exactly_once_under_concurrent_emitters():
    got = []
    lock = threading.Lock()

    def record(payload):
        with lock:
            got.append(payload)

    events.listen_walker_once(lambda p: True, record)
    start = threading.Barrier(8)

    def emitter(n):
        start.wait()
        for i in range(200):
            events.emit("walker", (n, i))

    threads = [threading.Thread(target=emitter, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 1


def test_subscribing_from_threads_while_emitting_loses_no_subscription():
    counts = [0] * 8
    start = threading.Barrier(9)

    def subscriber(n):
        start.wait()
        for _ in range(100):
            events.listen_progress(lambda p, n=n: counts.__setitem__(n, counts[n] + 1))

    def emitter():
        start.wait()
        for i in range(500):
            events.emit("progress", i)

    threads = [threading.Thread(target=subscriber, args=(n,)) for n in range(8)]
    threads.append(threading.Thread(target=emitter))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    before = list(counts)
    events.emit("progress", "last")
    assert [after - b for after, b in zip(counts, before, strict=True)] == [100] * 8

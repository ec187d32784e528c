"""The in-process event bus behind ``listen_*`` (SEMANTICS 8).

The engine calls ``emit(topic, payload)``; user code subscribes with the
``listen_*`` functions, each returning an unsubscribe function, or their
``_once`` forms, which fire for the first payload a filter accepts.

Why it is built this way:

- A listener that raises is logged on ``btfarm.events`` and skipped: a bug in
  a user's print statement must never break a backtest.
- Listeners may be added or removed from any thread while another emits, so
  the listener lists are copy-on-write tuples swapped under a lock; ``emit``
  calls a snapshot and never holds the lock while user code runs (a listener
  may unsubscribe itself, or subscribe another).
- Topics form a two-level tree: ``listen_signal`` hears both
  ``signal.backtest`` and ``signal.live``. The engine emits on the leaf topics
  only, so no listener misses an event.
- ``has_listeners(topic)`` lets the engine skip building payload models
  nobody will read (a sweep of thousands of variants emits a lot).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .errors import UsageError

log = logging.getLogger("btfarm.events")

Listener = Callable[[Any], object]
Filter = Callable[[Any], bool]
Unsubscribe = Callable[[], None]

# What the engine emits; a parent topic (before the dot) hears all its leaves.
EMIT_TOPICS = frozenset(
    {
        "signal.backtest",  # every tick result of a backtest
        "signal.live",  # every tick result of a live run
        "done.backtest",  # a backtest finished
        "done.live",  # a live run finished
        "done.walker",  # a walker finished
        "progress",  # backtest progress
        "walker",  # walker progress, after each strategy
        "walker_complete",  # a walker's final result
        "walker_start",  # a sweep's plan is stored: its run id and total, before any result
        "error",  # recoverable: a rejected signal, a retried fetch
        "exit",  # fatal: a background run died
        "risk",  # a signal rejected by a risk (SEMANTICS 1; lifecycle.StrategyCore._risk_allows)
        # managing an open position (SEMANTICS 9); emitted by the engine inside the candle's hook,
        # so a listener may commit (btfarm.shared.context.commit_*)
        "active_ping",  # every candle an open position stays open
        "partial_profit_available",  # a profit level (10 .. 100 % of the way to TP) first reached
        "partial_loss_available",  # a loss level (10 .. 100 % of the way to SL) first reached
        "breakeven_available",  # the breakeven threshold first reached
        "strategy_commit",  # a commit applied (trailing, partial, breakeven, average buy, close ...)
    }
)
LISTEN_TOPICS = EMIT_TOPICS | {t.partition(".")[0] for t in EMIT_TOPICS}

_lock = threading.Lock()
_listeners: dict[str, tuple[tuple[object, Listener], ...]] = {}
_listened: frozenset[str] = (
    frozenset()
)  # the topics with a listener: read without the lock (any_listened)


def _check(topic: str, known: frozenset[str]) -> None:
    if topic not in known:
        raise UsageError(f"unknown event topic {topic!r}; known: {', '.join(sorted(known))}")


def subscribe(topic: str, fn: Listener) -> Unsubscribe:
    """Call ``fn(payload)`` for every event on ``topic``; returns the unsubscribe.

    Unsubscribing twice is harmless; subscribing the same function twice
    makes two subscriptions, each with its own unsubscribe.
    """
    _check(topic, LISTEN_TOPICS)
    token = object()
    global _listened
    with _lock:
        _listeners[topic] = (*_listeners.get(topic, ()), (token, fn))
        _listened = frozenset(_listeners)

    def unsubscribe() -> None:
        global _listened
        with _lock:
            kept = tuple(entry for entry in _listeners.get(topic, ()) if entry[0] is not token)
            if kept:
                _listeners[topic] = kept
            else:
                _listeners.pop(topic, None)
            _listened = frozenset(_listeners)

    return unsubscribe


def subscribe_once(topic: str, filter_fn: Filter, fn: Listener) -> Unsubscribe:
    """Call ``fn(payload)`` for the first event on ``topic`` where
    ``filter_fn(payload)`` is true, then unsubscribe. Fires at most once even
    when several threads emit at the same moment. A filter that raises counts
    as false (and is logged)."""
    fired = threading.Lock()  # taken by the one delivery, or by cancel
    subscription: list[Unsubscribe] = []

    def once(payload: Any) -> None:
        try:
            accepted = filter_fn(payload)
        except Exception:
            log.exception("event filter %r on %r raised; treated as false", filter_fn, topic)
            return
        if not accepted or not fired.acquire(blocking=False):
            return
        if subscription:
            subscription[0]()
        fn(payload)

    unsubscribe = subscribe(topic, once)
    subscription.append(unsubscribe)
    if fired.locked():  # an emit in another thread fired before the append
        unsubscribe()

    def cancel() -> None:
        fired.acquire(blocking=False)  # an emit already in flight will not fire either
        unsubscribe()

    return cancel


def emit(topic: str, payload: Any) -> None:
    """Deliver ``payload`` to the listeners of ``topic`` and of its parent.

    Listeners run in the emitting thread, in subscription order (leaf topic
    first); one that raises is logged and the rest still run.
    """
    _check(topic, EMIT_TOPICS)
    parent = topic.partition(".")[0]
    with _lock:
        targets = _listeners.get(topic, ())
        if parent != topic:
            targets += _listeners.get(parent, ())
    for _token, fn in targets:
        try:
            fn(payload)
        except Exception:
            log.exception("listener %r on %r raised; ignored", fn, topic)


def has_listeners(topic: str) -> bool:
    """True when an ``emit(topic, ...)`` would reach at least one listener."""
    _check(topic, LISTEN_TOPICS)
    parent = topic.partition(".")[0]
    with _lock:
        return bool(_listeners.get(topic)) or bool(_listeners.get(parent))


def listened() -> frozenset[str]:
    """The topics that have a listener now (leaf topics; a parent's listener is under the
    parent's name): a lock-free read, for the engine's per-candle checks."""
    return _listened


def any_listened(topics: frozenset[str]) -> bool:
    """True when one of ``topics`` (leaf topics without a parent) has a listener; a lock-free
    read, for the engine to ask once per trade."""
    return not _listened.isdisjoint(topics)


def clear(topic: str | None = None) -> None:
    """Drop every listener (of one topic, or all): for tests and shutdown."""
    global _listened
    with _lock:
        if topic is None:
            _listeners.clear()
        else:
            _check(topic, LISTEN_TOPICS)
            _listeners.pop(topic, None)
        _listened = frozenset(_listeners)


def _pair(topic: str, what: str) -> tuple[Callable[..., Unsubscribe], Callable[..., Unsubscribe]]:
    """The ``listen_*`` function for ``topic`` and its ``_once`` form."""
    name = "listen_" + topic.replace(".", "_")

    def listen(fn: Listener) -> Unsubscribe:
        return subscribe(topic, fn)

    def listen_once(filter_fn: Filter, fn: Listener) -> Unsubscribe:
        return subscribe_once(topic, filter_fn, fn)

    listen.__name__ = listen.__qualname__ = name
    listen.__doc__ = f"Call ``fn(payload)`` for {what}; returns the unsubscribe function."
    listen_once.__name__ = listen_once.__qualname__ = name + "_once"
    listen_once.__doc__ = (
        f"Call ``fn(payload)`` once, for the first of {what} that ``filter_fn`` "
        "accepts; returns a function that cancels it before then."
    )
    return listen, listen_once


listen_signal, listen_signal_once = _pair("signal", "every tick result (backtest and live)")
listen_signal_backtest, listen_signal_backtest_once = _pair(
    "signal.backtest", "every tick result of a backtest"
)
listen_signal_live, listen_signal_live_once = _pair(
    "signal.live", "every tick result of a live run"
)
listen_done, listen_done_once = _pair("done", "every finished run (any mode)")
listen_done_backtest, listen_done_backtest_once = _pair("done.backtest", "every finished backtest")
listen_done_live, listen_done_live_once = _pair("done.live", "every finished live run")
listen_done_walker, listen_done_walker_once = _pair("done.walker", "every finished walker")
listen_progress, listen_progress_once = _pair("progress", "every backtest progress update")
listen_walker, listen_walker_once = _pair("walker", "every walker progress update")
listen_walker_complete, listen_walker_complete_once = _pair(
    "walker_complete", "every walker's final result"
)
listen_walker_start, listen_walker_start_once = _pair(
    "walker_start", "every sweep as it starts (run id, total, results read back)"
)
listen_error, listen_error_once = _pair("error", "every recoverable error")
listen_exit, listen_exit_once = _pair("exit", "every fatal error of a background run")
listen_risk, listen_risk_once = _pair(
    "risk",
    "every signal rejected by a risk (a dict: symbol, strategy_name, exchange_name, frame_name, "
    "risk_name, backtest, timestamp, current_price, signal (= current_signal, the candidate), "
    "active_position_count, rejection_id, rejection_note, message)",
)
listen_active_ping, listen_active_ping_once = _pair(
    "active_ping",
    "every candle an open position stays open (a dict: symbol, strategy_name, "
    "exchange_name, frame_name, signal, current_price, timestamp, backtest); commits may be called in it",
)
listen_partial_profit_available, listen_partial_profit_available_once = _pair(
    "partial_profit_available",
    "every profit level (10, 20 .. 100 % of the way from the effective "
    "entry to TP) an open position reaches first (a dict with level, current_price, timestamp, signal)",
)
listen_partial_loss_available, listen_partial_loss_available_once = _pair(
    "partial_loss_available",
    "every loss level (10, 20 .. 100 % of the way from the effective "
    "entry to SL) an open position reaches first (a dict with level, current_price, timestamp, signal)",
)
listen_breakeven_available, listen_breakeven_available_once = _pair(
    "breakeven_available", "every open position that first reaches its breakeven threshold"
)
listen_strategy_commit, listen_strategy_commit_once = _pair(
    "strategy_commit", "every commit applied to a position (a dict with action and timestamp)"
)

# the topics whose listeners make the engine walk an open position candle by candle
POSITION_TOPICS = frozenset(
    {
        "active_ping",
        "partial_profit_available",
        "partial_loss_available",
        "breakeven_available",
        "strategy_commit",
    }
)

"""Walking a frame's ticks for one strategy (the backtest side of the lifecycle).

Only the ticks where the strategy is actually asked cost Python work: a
throttled stretch is skipped with one ``searchsorted`` to the next bucket,
and an open position is settled by ``StrategyCore.monitor`` in one numpy
scan, after which the walk resumes at the first tick after the close.

The common case (minute-aligned ticks one step apart, candles without gaps,
nobody listening to idle ticks) takes ``_walk_idle``: the idle ask of
``StrategyCore.tick`` inlined, so a ``get_signal`` that returns None costs
the engine well under a microsecond (the call, the ``when`` datetime, the
context set and reset); any signal goes through the core as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np

from ..candles import Candles
from ..context import _current
from ..intervals import MINUTE_MS
from .lifecycle import IDLE, StrategyCore

PROGRESS_EVERY = 2048  # ticks between progress yields when nothing settles


def walk_events(
    core: StrategyCore,
    candles: Candles,
    ticks: np.ndarray,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """Run ``core`` over ``ticks``; yields the tick index after each settle and now and then.

    ``should_stop`` is asked whenever the strategy is idle (the only state a
    backtest may stop in); True ends the walk.
    """
    n = len(ticks)
    step = int(ticks[1] - ticks[0]) if n > 1 else 1
    uniform = n < 2 or bool((np.diff(ticks) == step).all())
    first = int(ticks[0]) if n else 0
    if (
        n
        and uniform
        and step > 0
        and first % MINUTE_MS == 0
        and step % MINUTE_MS == 0
        and candles.contiguous
        and len(candles)
        and core.phase == IDLE
        and not core.stopping
        and not core.emit_idle
        and "on_idle" not in core.callbacks
        and core.strategy.get_signal is not None
    ):
        return _walk_idle(core, candles, ticks, step, should_stop)
    return _walk(core, candles, ticks, step, uniform, should_stop)


def _walk(
    core: StrategyCore,
    candles: Candles,
    ticks: np.ndarray,
    step: int,
    uniform: bool,
    should_stop: Callable[[], bool] | None,
) -> Iterator[int]:
    """The general walk: every tick through ``StrategyCore.tick``."""
    n = len(ticks)
    throttle = core.throttle_ms
    first = int(ticks[0]) if n else 0
    i = 0
    last_yield = 0
    while i < n:
        t = int(ticks[i])
        if core.last_bucket is not None and t // throttle == core.last_bucket:
            # throttled: jump straight to the first tick of the next bucket
            target = (core.last_bucket + 1) * throttle
            i = (
                -(-(target - first) // step)
                if uniform
                else int(np.searchsorted(ticks, target, "left"))
            )
            continue
        if should_stop is not None and should_stop():  # (before each tick run, not each jump)
            return
        settled_before = core.settled_ms
        core.tick(t, candles)
        if core.phase != IDLE:
            core.force_settle(candles)  # history ended while the signal was still open
        settled = core.settled_ms
        if settled is not None and settled != settled_before:
            i = (
                (settled - first) // step + 1
                if uniform
                else int(np.searchsorted(ticks, settled, "right"))
            )
            last_yield = i
            yield i
            continue
        i += 1
        if i - last_yield >= PROGRESS_EVERY:
            last_yield = i
            yield i


def _walk_idle(
    core: StrategyCore,
    candles: Candles,
    ticks: np.ndarray,
    step: int,
    should_stop: Callable[[], bool] | None,
) -> Iterator[int]:
    """``_walk`` for uniform minute-aligned ticks over gapless candles, the idle ask inlined.

    What it does per ask is what ``StrategyCore.tick`` and ``_ask`` do for an idle core
    (the same bucket, cursor, context and ``when``); a signal, an exception or a
    rejection is handed to the core's own methods.
    """
    n = len(ticks)
    first = int(ticks[0])
    throttle = core.throttle_ms
    ctx = core.use_candles(candles)
    symbol, get_signal = core.symbol, cast(Callable[..., Any], core.strategy.get_signal)
    vwap = candles.vwap(core.cfg.CC_AVG_PRICE_CANDLES_COUNT)
    count = len(candles)
    base = int(
        candles.timestamp[0]
    )  # candles.index_at(t), for gapless candles: ceil((t - base) / 1m)
    fromtimestamp, set_ctx, reset_ctx = datetime.fromtimestamp, _current.set, _current.reset
    # ``when`` is the previous ask's plus the gap between them (usually the throttle): ~30 ns
    # where fromtimestamp costs ~200; exact, as both count whole milliseconds
    asked_t: int | None = None
    asked_when, gap, gap_td = datetime.fromtimestamp(0, UTC), 0, timedelta(0)
    i = 0
    last_yield = 0
    last = core.last_bucket
    if last is not None and first // throttle == last:
        i = -(-((last + 1) * throttle - first) // step)
    while i < n:
        t = first + i * step
        if should_stop is not None and should_stop():
            return
        bucket = t // throttle
        core.last_bucket = bucket
        cursor = -(-(t - base) // MINUTE_MS)
        if cursor > 0:
            if cursor > count:
                cursor = count
            ctx.when_ms = t
            ctx.cursor = cursor
            token = set_ctx(ctx)
            try:
                if asked_t is None:
                    when = fromtimestamp(t / 1000, UTC)
                else:
                    if t - asked_t != gap:
                        gap = t - asked_t
                        gap_td = timedelta(milliseconds=gap)
                    when = asked_when + gap_td
                asked_t, asked_when = t, when
                raw = get_signal(symbol, when)
            except Exception as exc:  # user code: report, count the tick as idle, go on
                reset_ctx(token)
                core.get_signal_raised(exc, t)
                raw = None
            else:
                reset_ctx(token)
            if raw is not None:
                settled_before = core.settled_ms
                core.consider(raw, t, float(vwap[cursor - 1]))
                if core.phase != IDLE:
                    core.monitor(candles, count)
                    if core.phase != IDLE:
                        core.force_settle(candles)  # history ended while the signal was still open
                ctx = core.use_candles(candles)  # (the same context, unless a hook changed it)
                settled = core.settled_ms
                if settled is not None and settled != settled_before:
                    i = (settled - first) // step + 1
                    last_yield = i
                    yield i
                    if (
                        i < n
                        and core.last_bucket is not None
                        and (first + i * step) // throttle == core.last_bucket
                    ):
                        i = -(-((core.last_bucket + 1) * throttle - first) // step)
                    continue
                if (
                    core.last_bucket is None
                ):  # a risk gave the bucket back: asked again at the next tick
                    i += 1
                    if i - last_yield >= PROGRESS_EVERY:
                        last_yield = i
                        yield i
                    continue
        # the next tick of another bucket
        nxt = -(-((bucket + 1) * throttle - first) // step)
        if nxt - last_yield >= PROGRESS_EVERY:
            last_yield = nxt if nxt < n else n
            if nxt < n:
                yield nxt
        i = nxt

"""The per-candle hook of an open position and the commits made inside it (SEMANTICS.md 9).

``PositionHook.walk`` runs a block of candles of an open position: each
candle's checks, then its hook, in the order SEMANTICS gives:
the peak/fall update; ``listen_active_ping`` listeners, then the strategy's
``on_active_ping``; then, on the profit side of the effective entry, the
breakeven availability (listeners, then ``on_breakeven``) and the profit
levels (``listen_partial_profit_available`` per new level, then
``on_partial_profit`` with the raw percent), or on the loss side the loss
levels. The commits applied meanwhile are emitted on
``listen_strategy_commit`` last, still inside the hook (a listener may
commit too).

While it runs, the run context (context.py) has ``hook`` set to it, so the
``commit_*`` functions reach ``commit`` here; ``when`` is the candle u and
``get_average_price`` the VWAP of the candles before u, which is the price
partials, breakeven and average buys are taken at: one candle behind the
hook's ``current_price``.

Live (``run_live``) runs the same hook in the same order, as a journal of
steps a crash can resume: each candle's hook is persisted when it ends, and
within it the state is persisted (``HookRun.checkpoint``) after every applied
commit, before the commit returns True, and after availability is marked,
before its events are emitted. The state then carries the steps not yet
started and the commits not yet emitted (``Position.hook_todo``), and the
next start finishes them before it checks another candle. So a commit is
never lost once it returned True and never applied twice: the step that made
it (one listener call, one callback) is not called again, and whatever it
would have done after the commit is not done (doing it again would repeat
the commit). A step cut short before anything was persisted runs again; so
does a position plan's step cut short anywhere, since its commits are
persisted together when it ends (the plan is deterministic: run again from
the same state it makes the same commits).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import events
from ..errors import SignalError
from ..intervals import MINUTE_MS
from ..schemas import StrategySchema
from . import hook_loop
from .hook_loop import _hook_loop
from .position import LEVELS, breakeven_threshold, progress_percent
from .position_plan_hooks import PlanHooks, plan_for

if TYPE_CHECKING:  # (lifecycle imports this module)
    from .lifecycle import StrategyCore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MINUTE = timedelta(minutes=1)
_EVENTS = vars(
    events
)  # (the C loop reads events._listened from it: a listener added counts next candle)


def _when_at(u: int) -> datetime:
    """A millisecond time as the callbacks' ``when``: datetime.fromtimestamp(u / 1000, UTC),
    exactly, in half its time."""
    return _EPOCH + timedelta(0, 0, 0, u)


HOOK_CALLBACKS = ("on_active_ping", "on_partial_profit", "on_partial_loss", "on_breakeven")

# commit kind -> the phase it acts on
ACTIVE_COMMITS = (
    "trailing_stop",
    "trailing_take",
    "partial_profit",
    "partial_loss",
    "breakeven",
    "average_buy",
    "close_pending",
)
SCHEDULED_COMMITS = ("cancel_scheduled", "activate_scheduled")
# a side ("profit" | "loss") -> the event of its new levels, the callback of its progress
_LEVEL_TOPICS = {"profit": "partial_profit_available", "loss": "partial_loss_available"}
_SIDE_CALLBACKS = {"profit": "on_partial_profit", "loss": "on_partial_loss"}

# Live's journal of one candle's hook (run_live): the steps of walk's hook, in its order; "side" decides
# the side after the ping and puts the breakeven and levels steps that follow in front of "flush"
LIVE_STEPS = (("active_ping",), ("on_active_ping",), ("plan_ping",), ("side",), ("flush",))


class HookRun:
    """What a StrategyCore keeps for position hooks over a run: whether it runs any (a
    callback, or a position plan), its plan (position_plan_hooks.PlanHooks), its hook (one per
    candle set) and the commits counted per kind."""

    __slots__ = (
        "callbacks",
        "hooked",
        "plan",
        "hook",
        "counts",
        "entry_cost",
        "checkpoint",
        "plan_arrays",
    )

    def __init__(
        self,
        callbacks: dict[str, Any],
        entry_cost: float,
        strategy: StrategySchema | None = None,
        params: dict[str, Any] | None = None,
        name: str = "",
    ) -> None:
        plan = self.plan = (
            None if strategy is None else plan_for(strategy, params, name or strategy.strategy_name)
        )
        self.hooked = any(name in callbacks for name in HOOK_CALLBACKS)  # a callback of section 9
        self.callbacks = plan is not None or self.hooked
        self.entry_cost = entry_cost  # CC_POSITION_ENTRY_COST: dollars of the first entry
        self.hook: PositionHook | None = None
        self.counts: dict[str, list[int]] = {}  # kind -> [applied, refused]
        # Live: persists the core's state (the signal, its position, where the walk is); None in a
        # backtest. Set, it makes the walk run each candle's hook as a journal (PositionHook.run_live)
        self.checkpoint: Callable[[], None] | None = None
        # (candles, the plan and those candles as the compiled loop reads them:
        # batch_kernel.plan_arrays), made on first use
        self.plan_arrays: tuple[Any, tuple[np.ndarray, ...]] | None = None


def _real(value: Any) -> float | None:
    """``value`` as a float when it is a real number (bools are not), else None."""
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        return None
    return float(value)


def _bad_input(kind: str, args: dict[str, Any], cfg) -> str | None:
    """What is wrong with a commit's arguments (None: nothing)."""
    if kind in ("trailing_stop", "trailing_take"):
        shift, price = _real(args["percent_shift"]), _real(args["current_price"])
        if shift is None or not math.isfinite(shift) or not -100 <= shift <= 100 or shift == 0:
            return (
                f"percent_shift must be a number in -100..100 other than 0 (percent points added to the "
                f"original distance; negative tightens), got {args['percent_shift']!r}"
            )
        if price is None or not math.isfinite(price) or price <= 0:
            return f"current_price must be a finite price > 0 (the hook's current_price), got {args['current_price']!r}"
    elif kind in ("partial_profit", "partial_loss"):
        percent = _real(args["percent"])
        if percent is None or not math.isfinite(percent) or not 0 < percent <= 100:
            return (
                f"percent must be a number with 0 < percent <= 100 (the share of what remains to close), "
                f"got {args['percent']!r}"
            )
    elif kind == "average_buy":
        cost = args["cost"]
        if cost is not None and ((c := _real(cost)) is None or not math.isfinite(c) or c <= 0):
            return (
                f"cost must be a finite number of dollars > 0, or None for CC_POSITION_ENTRY_COST "
                f"({getattr(cfg, 'CC_POSITION_ENTRY_COST', 100.0)}), got {cost!r}"
            )
    elif kind in ("close_pending",) + SCHEDULED_COMMITS:
        for key in ("id", "note"):
            if args[key] is not None and not isinstance(args[key], str):
                return f"{key} must be a string or None, got {args[key]!r}"
    return None


def _plan_moves_it(kind: str, plan: PlanHooks) -> str | None:
    """Why a hook's commit may not move what the strategy's position plan moves (None: it may)."""
    if (kind in ("trailing_stop", "breakeven") and plan.moves_stop) or (
        kind == "trailing_take" and plan.moves_take
    ):
        what = "stop loss" if kind != "trailing_take" else "take profit"
        return (
            f"the strategy's position_plan moves the {what}, and a hook and a plan may not both move it "
            f"(which wins would depend on the order they run in); drop the commit or the plan's rule"
        )
    return None


def _shown(kind: str, symbol: Any, args: dict[str, Any]) -> str:
    inner = ", ".join([repr(symbol)] + [f"{k}={v!r}" for k, v in args.items()])
    return f"commit_{kind}({inner})"


class PositionHook:
    """One StrategyCore's hook: runs a candle's callbacks and applies the commits made in them."""

    __slots__ = (
        "core",
        "candles",
        "vwap",
        "i",
        "u",
        "price",
        "queue",
        "by_plan",
        "_public",
        "_when",
        "listened",
        "backtest",
        "breakeven_percent",
        "_ping",
        "_plan",
        "_sided",
        "_s",
        "_fee",
        "_last_u",
        "_last_when",
        "_native",
    )

    def __init__(self, core: StrategyCore, candles, vwap: np.ndarray) -> None:
        self.core = core
        self.candles = candles
        self.vwap = vwap
        self.i = 0  # the candle the hook runs on (its index), its open time and VWAP
        self.u = 0
        self.price = math.nan
        self.queue: list[dict[str, Any]] = []  # applied commits not yet emitted
        self.by_plan = False  # the commit being made is the position plan's (commit_by_plan)
        # the signal as hooks see it: one copy per walk, remade after each applied commit (only a
        # commit changes the signal while it is walked), so a candle whose hook commits nothing
        # copies nothing
        self._public: dict[str, Any] | None = None
        self._when: datetime | None = None  # u as the callbacks' datetime, made on first use
        self.listened: frozenset[str] = (
            frozenset()
        )  # run_live: the topics listened to when the candle began
        self.backtest = core.mode == "backtest"
        self.breakeven_percent = breakeven_threshold(core.cfg)  # (Position.breakeven_reached's)
        # what walk reads on every candle, fixed for the run: the strategy's ping, its plan, whether
        # a side's percent is read on every candle, the costs of pnl_percentage
        self._ping = core.callbacks.get("on_active_ping")
        self._plan = core.hooks.plan
        self._sided = self._plan is not None or any(
            name in core.callbacks for name in _SIDE_CALLBACKS.values()
        )
        self._s = core.cfg.CC_PERCENT_SLIPPAGE / 100
        self._fee = core.cfg.CC_PERCENT_FEE
        self._last_u = -1  # the last ping's candle and when
        self._last_when = _EPOCH
        self._native = self.backtest and hook_loop.available()

    # ---- what hooks receive ----------------------------------------------

    def signal(self) -> dict[str, Any]:
        """The signal as hooks see it now (a copy, remade after each applied commit)."""
        if self._public is None:
            self._public = dict(self.core.signal)
        return self._public

    def forget(self) -> None:
        """Drop the signal's copy: a walk begins (the signal may have changed since the last)."""
        self._public = None

    def when(self) -> datetime:
        """The candle's time u as the callbacks' ``when`` (made once per candle, on first use)."""
        if self._when is None:
            self._when = _when_at(self.u)
        return self._when

    def _payload(self, **extra: Any) -> dict[str, Any]:
        core = self.core
        return {
            "symbol": core.symbol,
            "strategy_name": core.name,
            "exchange_name": core.exchange_name,
            "frame_name": core.frame_name,
            "backtest": core.mode == "backtest",
            "timestamp": self.u,
            "current_price": self.price,
            "signal": self.signal(),
            **extra,
        }

    def _callback(self, name: str, *args: Any) -> None:
        core = self.core
        core._guarded(
            name, core.symbol, self.signal(), self.price, *args, self.when(), self.backtest
        )

    # ---- one candle --------------------------------------------------------

    def at(self, i: int, u: int, price: float) -> None:
        """Point the hook (and the run context) at candle ``i`` opening at ``u``, VWAP ``price``."""
        self.i, self.u, self.price = i, u, price
        self._when = None
        ctx = self.core._context
        ctx.when_ms, ctx.cursor = u, i

    def walk(
        self,
        first: int,
        ts: list[int],
        extreme: list[float],
        prices: list[float],
        frame_end: float,
        expires: float,
        live: bool,
    ) -> tuple[int, str, float] | None:
        """Candles ``first``, ``first + 1`` ... of an open position (open times ``ts``, each one's
        low for a long or high for a short, VWAPs ``prices``): each candle's checks
        (position_walk.py's order), then, when it stays open, its hook (in Live ``run_live``).
        Returns (candle, close reason, close price) of the candle that closes it, else None.

        A backtest's hook is written out here, in the loop's frame (a hook on every candle of
        every position pays for each call and copy), with what nobody reads left unbuilt: the
        signal's copy is made once per walk and after each applied commit, ``when`` only when
        a callback is given it, and a side's levels are worked out only when one is due or a
        callback or the plan reads the percent (``after_ping``, the rest of the hook after the
        ping). Commits work only inside the hook: the context's ``hook`` is this one while the
        candles' hooks run, never while the close is made. ``walk_native`` walks the same in C
        where it may (hook_loop.py)."""
        core = self.core
        ctx = core._context
        sig, pos = core.signal, core.position
        long = pos.long
        ping, s, fee = self._ping, self._s, self._fee
        symbol, backtest, listened_now = core.symbol, self.backtest, events.listened
        last_u, last_when = self._last_u, self._last_when  # (written back when the block ends)
        if not live:
            ctx.hook = self
        try:
            for k, u in enumerate(ts):
                price = prices[k]
                # the candle's checks (SEMANTICS 2 and 9)
                if u > frame_end:
                    return first + k, "time_expired", price
                pending = pos.pending
                if pending is not None and pending["action"] == "close":
                    sig["close_id"] = pending["id"]
                    return first + k, "closed", price
                if u >= expires:
                    return first + k, "time_expired", price
                sl, tp = sig["price_stop_loss"], sig["price_take_profit"]
                if long:
                    if extreme[k] <= sl:
                        return first + k, "stop_loss", sl
                    if price >= tp:
                        return first + k, "take_profit", tp
                else:
                    if extreme[k] >= sl:
                        return first + k, "stop_loss", sl
                    if price <= tp:
                        return first + k, "take_profit", tp
                i = first + k
                if live:
                    self.run_live(i, u, price)
                    continue
                # the hook (Live's run_live takes the same steps as a journal)
                self.i, self.u, self.price = i, u, price
                self._when = None
                ctx.when_ms, ctx.cursor = u, i
                entry = sig["price_open"]
                # the peak and fall (_excursions, StrategyCore._pnl's pnl_percentage written out)
                if long:
                    if price > entry and price > core.peak[0]:
                        opened, closed = entry * (1 + s), price * (1 - s)
                        gain = (closed - opened) / opened * 100 - fee * (1 + closed / opened)
                        if gain > 0:
                            core.peak = (price, gain)
                    elif price < entry and price < core.fall[0]:
                        opened, closed = entry * (1 + s), price * (1 - s)
                        core.fall = (
                            price,
                            (closed - opened) / opened * 100 - fee * (1 + closed / opened),
                        )
                elif price < entry and price < core.peak[0]:
                    opened, closed = entry * (1 - s), price * (1 + s)
                    gain = (opened - closed) / opened * 100 - fee * (1 + closed / opened)
                    if gain > 0:
                        core.peak = (price, gain)
                elif price > entry and price > core.fall[0]:
                    opened, closed = entry * (1 - s), price * (1 + s)
                    core.fall = (
                        price,
                        (opened - closed) / opened * 100 - fee * (1 + closed / opened),
                    )
                listened = listened_now()  # (lock-free; a listener added in a hook counts next)
                if "active_ping" in listened:
                    events.emit("active_ping", self._payload())
                if ping is not None:
                    public = self._public
                    if public is None:
                        public = self._public = dict(sig)
                    # when: the last ping's plus a minute (a walk over minutes) or made
                    if u - last_u == MINUTE_MS:
                        when = last_when + _ONE_MINUTE
                    else:
                        when = _when_at(u)
                    self._when = last_when = when
                    last_u = u
                    try:
                        ping(symbol, public, price, when, backtest)
                    except Exception as exc:  # (StrategyCore._guarded's rule, inlined)
                        core.callback_raised("on_active_ping", exc)
                self.after_ping(price, listened)
            return None
        finally:
            ctx.hook = None
            self._last_u, self._last_when = last_u, last_when

    def after_ping(self, price: float, listened: frozenset[str]) -> None:
        """The rest of a candle's hook after the ping (``walk``'s order): the plan, then on the
        profit side breakeven and the profit levels, on the loss side the loss levels, then the
        commits' events. ``listened``: the topics listened to when the candle began."""
        core = self.core
        sig, pos, plan = core.signal, core.position, self._plan
        long = pos.long
        if plan is not None:
            plan.ping(self)
        entry = sig["price_open"]  # (an average buy in the ping moved it)
        if (price > entry) if long else (price < entry):
            if not pos.breakeven_seen:
                thr = self.breakeven_percent  # (Position.breakeven_reached)
                if (
                    (price >= entry * (1 + thr / 100))
                    if long
                    else (price <= entry * (1 - thr / 100))
                ):
                    pos.breakeven_seen = True
                    if "breakeven_available" in listened:
                        events.emit("breakeven_available", self._payload())
                    if "on_breakeven" in core.callbacks:
                        self._callback("on_breakeven")
                    if plan is not None:
                        plan.breakeven(self)
            # (_side's level test, when nothing else there reads the percent)
            fired = pos.profit_levels
            if self._sided or (
                len(fired) < len(LEVELS)
                and (
                    (total := (sig["price_take_profit"] - entry) * (1 if long else -1)) <= 0
                    or abs(price - entry) / total * 100 >= LEVELS[len(fired)]
                )
            ):
                self._side("profit", price, entry, listened, core.callbacks, plan)
        elif (price < entry) if long else (price > entry):
            fired = pos.loss_levels
            if self._sided or (
                len(fired) < len(LEVELS)
                and (
                    (total := (entry - sig["price_stop_loss"]) * (1 if long else -1)) <= 0
                    or abs(price - entry) / total * 100 >= LEVELS[len(fired)]
                )
            ):
                self._side("loss", price, entry, listened, core.callbacks, plan)
        if self.queue:
            self.flush()

    def native(self) -> bool:
        """True when ``walk_native`` may walk this hook's positions: the C loop is built and the
        hook reads no side's percent on every candle (no position plan, no ``on_partial_*``)."""
        return self._native and self._plan is None and not self._sided

    def walk_native(
        self,
        start: int,
        limit: int,
        ts: np.ndarray,
        extreme: np.ndarray,
        vwap: np.ndarray,
        frame_end: float,
        expires: float,
    ) -> tuple[int, tuple[int, str, float] | None]:
        """``walk`` of a backtest's candles ``start`` .. ``limit - 1`` in the C loop (hook_loop.py;
        ``extreme``: the lows for a long, the highs for a short). Returns (the candle to go on from,
        the close as ``walk`` returns it or None): it goes on from a candle before ``limit`` only
        when someone listens to ``active_ping`` from there on, which ``walk`` then walks."""
        core = self.core
        ctx = core._context
        sig, pos = core.signal, core.position
        long = pos.long
        last_u, last_when = self._last_u, self._last_when
        raised = functools.partial(core.callback_raised, "on_active_ping")
        callbacks = core.callbacks
        ctx.hook = self
        k = start
        try:
            while k < limit:
                listened = events.listened()
                if "active_ping" in listened:  # (its payload is built on every candle)
                    return k, None
                pending = pos.pending
                public = self._public
                if public is None:
                    public = self._public = dict(sig)
                peak_price, peak, fall_price, fall = core.peak + core.fall
                code, k, price, peak_price, peak, fall_price, fall, last_u, last_when = (
                    _hook_loop.walk(
                        ts,
                        extreme,
                        vwap,
                        k,
                        limit,
                        long,
                        frame_end,
                        expires,
                        pending is not None and pending["action"] == "close",
                        sig["price_open"],
                        sig["price_stop_loss"],
                        sig["price_take_profit"],
                        self._s,
                        self._fee,
                        peak_price,
                        peak,
                        fall_price,
                        fall,
                        pos.breakeven_seen,
                        self.breakeven_percent,
                        pos,
                        pos.profit_levels,
                        pos.loss_levels,
                        "breakeven_available" not in listened and "on_breakeven" not in callbacks,
                        "partial_profit_available" not in listened,
                        "partial_loss_available" not in listened,
                        self._ping,
                        core.symbol,
                        public,
                        self.backtest,
                        last_u,
                        last_when,
                        _ONE_MINUTE,
                        _when_at,
                        ctx,
                        self,
                        self.queue,
                        _EVENTS,
                        listened,
                        raised,
                    )
                )
                core.peak, core.fall = (peak_price, peak), (fall_price, fall)
                if code == hook_loop.AFTER_PING:
                    self._when = last_when if last_u == self.u else None
                    self.after_ping(self.price, listened)
                    k += 1
                elif code == hook_loop.DONE:
                    return k, None
                elif code != hook_loop.LISTENED:
                    reason = hook_loop.CLOSE_REASONS[code]
                    if reason == "closed":
                        sig["close_id"] = pos.pending["id"]
                    return k, (k, reason, price)
            return k, None
        finally:
            ctx.hook = None
            self._last_u, self._last_when = last_u, last_when

    def _excursions(self, price: float) -> None:
        """Peak and fall (SEMANTICS 2, Excursions), against the effective entry."""
        core = self.core
        long, entry = core.position.long, core.signal["price_open"]
        if (
            (price > entry and price > core.peak[0])
            if long
            else (price < entry and price < core.peak[0])
        ):
            gain = core._pnl(price)
            if gain > 0:
                core.peak = (price, gain)
        if (
            (price < entry and price < core.fall[0])
            if long
            else (price > entry and price > core.fall[0])
        ):
            core.fall = (price, core._pnl(price))

    def _levels(self, kind: str, price: float, entry: float) -> tuple[float, list[int]]:
        """The progress ``percent`` of ``kind`` ("profit" | "loss") at ``price`` and the levels it
        reaches for the first time (marked fired)."""
        sig, pos = self.core.signal, self.core.position
        long = pos.long
        if kind == "profit":
            tp = sig["price_take_profit"]
            percent = progress_percent(abs(price - entry), (tp - entry) if long else (entry - tp))
            fired = pos.profit_levels
        else:
            sl = sig["price_stop_loss"]
            percent = progress_percent(abs(entry - price), (entry - sl) if long else (sl - entry))
            fired = pos.loss_levels
        # levels fire in ascending order, so the fired ones are always the first len(fired)
        if len(fired) < len(LEVELS) and percent >= LEVELS[len(fired)]:
            return percent, pos.new_levels(kind, percent)
        return percent, []

    def _side(
        self, kind: str, price: float, entry: float, listened: Any, callbacks: Any, plan: Any
    ) -> None:
        """The hook's profit or loss side (walk): the new levels' events, the user's callback, the plan
        (``_levels`` written out: this runs on every candle of a hooked position)."""
        sig, pos = self.core.signal, self.core.position
        long = pos.long
        if kind == "profit":
            tp = sig["price_take_profit"]
            total = (tp - entry) if long else (entry - tp)
            fired = pos.profit_levels
        else:
            sl = sig["price_stop_loss"]
            total = (entry - sl) if long else (sl - entry)
            fired = pos.loss_levels
        if total <= 0:  # (progress_percent)
            percent = 100.0
        else:
            percent = abs(price - entry) / total * 100
            if percent < 0.0:
                percent = 0.0
            elif percent > 100.0:
                percent = 100.0
        # levels fire in ascending order, so the fired ones are always the first len(fired)
        if len(fired) < len(LEVELS) and percent >= LEVELS[len(fired)]:
            topic = _LEVEL_TOPICS[kind]
            for level in pos.new_levels(kind, percent):
                if topic in listened:
                    events.emit(topic, self._payload(level=level))
        callback = _SIDE_CALLBACKS[kind]
        if callback in callbacks:
            self._callback(callback, percent)
        if plan is not None:
            (plan.profit if kind == "profit" else plan.loss)(self, percent)

    # ---- Live: the hook as a journal a crash can resume -------------------

    def run_live(self, i: int, u: int, price: float) -> None:
        """A candle's hook for Live (``walk`` calls it): the same steps in the same order, persisted as they go (see the
        module's docstring); the state is persisted again when the candle's hook ends."""
        core = self.core
        core.next_ms = (
            u + MINUTE_MS
        )  # the candle's checks are done: a resumed run goes on after them
        self.at(i, u, price)
        self._excursions(price)  # as walk: plain state, persisted with the rest
        self.queue = []
        core.position.hook_todo = {
            "u": u,
            "price": price,
            "entry": None,
            "todo": [list(s) for s in LIVE_STEPS],
            "queue": self.queue,
        }
        self._journal()

    def resume(self, i: int) -> None:
        """Finish the hook of candle ``i`` a crash cut short (``Position.hook_todo``, restored)."""
        cut = self.core.position.hook_todo
        self.at(i, cut["u"], cut["price"])
        self.queue = cut["queue"]
        self._journal()

    def _journal(self) -> None:
        core = self.core
        pos = core.position
        cut = pos.hook_todo
        todo = cut["todo"]
        self.listened = (
            events.listened()
        )  # (as walk: a listener added in a hook counts next candle)
        ctx = core._context
        ctx.hook = self
        try:
            while todo:
                self._step(todo.pop(0), cut, todo)
        finally:
            ctx.hook = None
        pos.hook_todo = None
        self._persist()  # the candle's hook is over: a restart goes on with the next candle

    def _persist(self) -> None:
        checkpoint = self.core.hooks.checkpoint
        if checkpoint is not None:  # (None: a backtest, or a core driven without Live)
            checkpoint()

    def _plan_step(self, rules: Callable[..., None], *args: Any) -> None:
        """A position plan's rules at one place, persisted once they are all applied: the plan
        is deterministic, so a crash inside it runs the whole step again from the state before
        it (a user's callback instead is never called twice: its commits persist one by one)."""
        made = len(self.queue)
        rules(self, *args)
        if len(self.queue) > made:
            self._persist()

    def _step(self, step: list, cut: dict[str, Any], todo: list[list]) -> None:
        """One step of the hook's order (walk); "side" and "levels" mark what they fire, put its steps in
        front and persist before any of them runs."""
        core = self.core
        sig, callbacks, pos, plan, listened = (
            core.signal,
            core.callbacks,
            core.position,
            core.hooks.plan,
            self.listened,
        )
        name = step[0]
        if name == "active_ping":
            if "active_ping" in listened:
                events.emit("active_ping", self._payload())
        elif name in ("on_active_ping", "on_breakeven"):
            if name in callbacks:
                self._callback(name)
        elif name == "plan_ping":
            if plan is not None:
                self._plan_step(plan.ping)
        elif name == "side":
            price, long = self.price, pos.long
            entry = cut["entry"] = sig["price_open"]  # (an average buy in the ping moved it)
            if (price > entry) if long else (price < entry):
                ahead = [["levels", "profit"]]
                if not pos.breakeven_seen and pos.breakeven_reached(price):
                    ahead[:0] = [["breakeven_available"], ["on_breakeven"], ["plan_breakeven"]]
                    todo[:0] = ahead
                    self._persist()
                else:
                    todo[:0] = ahead
            elif (price < entry) if long else (price > entry):
                todo.insert(0, ["levels", "loss"])
        elif name == "breakeven_available":
            if "breakeven_available" in listened:
                events.emit("breakeven_available", self._payload())
        elif name == "plan_breakeven":
            if plan is not None:
                self._plan_step(plan.breakeven)
        elif name == "levels":
            kind = step[1]
            percent, new = self._levels(kind, self.price, cut["entry"])
            ahead = [["on_partial_" + kind, percent], ["plan_" + kind, percent]]
            todo[:0] = [["level", kind, level] for level in new] + ahead
            if new:
                self._persist()
        elif name == "level":
            topic = f"partial_{step[1]}_available"
            if topic in listened:
                events.emit(topic, self._payload(level=step[2]))
        elif name in ("on_partial_profit", "on_partial_loss"):
            if name in callbacks:
                self._callback(name, step[1])
        elif name in ("plan_profit", "plan_loss"):
            if plan is not None:
                self._plan_step(plan.profit if name == "plan_profit" else plan.loss, step[1])
        elif name == "flush":
            self.flush()
        else:  # protocol: only the steps above are ever written
            raise ValueError(f"unknown hook step {step!r}")

    def flush(self) -> None:
        """Emit the commits applied so far on ``listen_strategy_commit`` (and those its
        listeners make)."""
        while self.queue:
            record = self.queue.pop(0)
            if "strategy_commit" in events.listened():
                events.emit("strategy_commit", record)

    # ---- commits -----------------------------------------------------------

    def commit(self, kind: str, symbol: Any, **args: Any) -> bool:
        """Apply one commit (context.commit_*): True when applied, False when refused. Bad
        arguments are refused too, with the reason on ``listen_error``."""
        core = self.core
        problem = _bad_input(kind, args, core.cfg)
        if problem is None and symbol != core.symbol:
            problem = f"this hook runs for {core.symbol!r}, not {symbol!r}"
        if problem is None and not self.by_plan and core.hooks.plan is not None:
            problem = _plan_moves_it(kind, core.hooks.plan)
        if problem is not None:
            core.count_commit(kind, False)
            error = SignalError(
                f"{core._where(self.u)}: {_shown(kind, symbol, args)} refused: {problem}; "
                f"the position is left as it was"
            )
            core._error(error, self.u, signal=dict(core.signal) if core.signal else None)
            return False
        applied, price = self._apply(kind, args)
        core.count_commit(kind, applied)
        if applied:
            self._public = None
            self.queue.append(
                self._payload(
                    action=kind,
                    signal_id=core.signal["id"],
                    commit_price=price,
                    **{k: v for k, v in args.items() if k != "current_price"},
                )
            )
            if not self.by_plan:  # (a plan's commits are persisted when its step ends: _plan_step)
                self._persist()  # Live: durable before the strategy hears True
        return applied

    def commit_by_plan(self, kind: str, symbol: Any, **args: Any) -> bool:
        """``commit`` for the position plan (which may move what it moves)."""
        self.by_plan = True
        try:
            return self.commit(kind, symbol, **args)
        finally:
            self.by_plan = False

    def _apply(self, kind: str, args: dict[str, Any]) -> tuple[bool, float | None]:
        """(applied, the price the commit was taken at)."""
        core = self.core
        pos = core.position
        if (
            pos is None
            or (kind in ACTIVE_COMMITS) != (core.phase == "active")
            or pos.pending is not None
        ):
            return False, None  # nothing of that kind open, or it is ending at the next candle
        if kind in ("trailing_stop", "trailing_take"):
            shift, price = float(args["percent_shift"]), float(args["current_price"])
            rule = pos.trailing_stop if kind == "trailing_stop" else pos.trailing_take
            return rule(shift, price), price
        if kind in ("close_pending", "cancel_scheduled", "activate_scheduled"):
            action = {
                "close_pending": "close",
                "cancel_scheduled": "cancel",
                "activate_scheduled": "activate",
            }[kind]
            return pos.defer(action, args["id"], args["note"], self.u), None
        if self.i == 0:
            return False, None  # no candle has closed before this one: no price to take
        price = float(self.vwap[self.i - 1])  # get_average_price inside the hook: one candle behind
        if kind == "breakeven":
            return pos.breakeven(price), price
        if kind == "average_buy":
            cost = args["cost"]
            cost = float(
                getattr(core.cfg, "CC_POSITION_ENTRY_COST", 100.0) if cost is None else cost
            )
            return pos.average_buy(price, cost, self.u), price
        return pos.partial(
            "profit" if kind == "partial_profit" else "loss", float(args["percent"]), price, self.u
        ), price

"""Several members (one ``StrategyCore`` each) walked over one frame together: a portfolio's run.

**Lockstep.** The walk visits the frame's ticks in time order. At tick t it
first applies what the candles before t decided for every member (a close, a
cancel, a limit entry's activation: the outcome of candle u counts from
u + 1 minute; at one minute the openings before the closings, so a position
counts as open through its closing candle), then asks the members whose turn
it is at t, in the order the portfolio lists them. So every member's tick t
runs before any member's tick t + 1, and within a minute the first-listed
member is asked first: a position it opens at t is in the books when the
next member is asked at t. Each member keeps its own throttle, exactly as in
a backtest of it alone, and a rejection (by a risk or the capital) gives its
bucket back, so it is asked again at its next tick.

**Shared books.** Every risk named by the portfolio or by a member's strategy
has one ``RiskBook`` for the whole run (risk_book.py). A member's gates read
the books through ``BookView``s that ignore the core's own writes: the walk
writes each book when an event takes effect in simulated time (a limit entry
when scheduled, a position when it opens, out at its close or cancel), so a
risk sees at t exactly the positions open at t. ``positions`` is the book of
every member's signals, which the capital's payload reads (a member's books
include it when the portfolio has a capital).

**Two ways to settle a member's position**, with the same trades:

- fast (members without strategy callbacks, while nobody listens to position
  events): at the tick a signal is taken its whole future is settled at once
  (one numpy scan, as a backtest does), and what it emits is held back and
  applied at the simulated minute it happens. Nothing another member can see
  depends on a position once it is open, so this is exact; between a
  member's asks the walk jumps (its throttle, or straight to its next offered
  signal for ``get_signals`` strategies), and a ``get_signal`` member is asked
  inline as event_walk._walk_idle asks an idle core.
- strict (a member with callbacks such as ``on_open``/``on_close``, or position
  hooks listened to): the position is monitored tick by tick like Live does
  (``monitor`` up to the candles closed at t), so its callbacks run in
  simulated order with every other member's ``get_signal``; ``on_active`` is
  then called every tick a position stays open, as in Live.

Events reach ``listener`` in simulated order. A stop ends the walk at a tick;
the fast members' already settled positions are applied, a strict member's
open position stays unsettled.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ..candles import Candles
from ..context import _current
from ..intervals import MINUTE_MS
from ..risk_book import RiskBook
from .intents import Intents
from .lifecycle import IDLE, StrategyCore
from .portfolio_capital import CapitalLedger
from .walk_grid import walk_grid

PROGRESS_EVERY = 2048  # ticks between progress yields (and stop checks)

Listener = Callable[[str, dict[str, Any]], None]


class BookView(RiskBook):
    """A member's window on a shared book: reads it, never writes it (the walk writes the book
    when each event takes effect)."""

    __slots__ = ("_book",)

    def __init__(self, book: RiskBook) -> None:
        super().__init__(book.risk_name, shared=True)
        self._book = book

    def add(self, signal: dict[str, Any], open_timestamp: int) -> None:
        pass

    def remove(self, strategy_name: str, exchange_name: str, symbol: str) -> None:
        pass

    def positions(self) -> list[dict[str, Any]]:
        return self._book.positions()

    def __len__(self) -> int:
        return len(self._book)

    def clear(self) -> None:
        pass


class Member:
    """One member as the walk drives it: its core, candles and books; for ``get_signals``
    strategies the per-tick grid of walk_vector, for ``get_signal`` ones what the inlined ask reads."""

    __slots__ = (
        "index",
        "core",
        "candles",
        "books",
        "intents",
        "strict",
        "closed",
        "bucket",
        "cursor",
        "offered",
        "calls",
        "vwap",
        "idle_ask",
        "base",
        "count",
        "ctx",
        "get_signal",
        "symbol",
        "throttle",
        "asked_t",
        "asked_when",
        "gap",
        "gap_td",
    )

    def __init__(
        self,
        index: int,
        core: StrategyCore,
        candles: Candles,
        books: Sequence[RiskBook],
        intents: Intents | None,
        strict: bool,
    ) -> None:
        self.index = index
        self.core = core
        self.candles = candles
        self.books = tuple(
            books
        )  # the shared books its signals enter (its risks', and the capital's)
        self.intents = intents
        self.strict = strict
        self.closed: list[dict[str, Any]] = []
        self.idle_ask = (
            False  # set by the walk: a get_signal member asked inline (PortfolioWalk._ask_idle)
        )

    def inline(self) -> None:
        """Prepare the inlined idle ask of event_walk._walk_idle: the candles' first open time
        (a cursor by arithmetic), the VWAP, and the previous ask's ``when``."""
        core = self.core
        self.idle_ask = True
        self.base = int(self.candles.timestamp[0])
        self.count = len(self.candles)
        self.vwap = self.candles.vwap(core.cfg.CC_AVG_PRICE_CANDLES_COUNT)
        self.ctx = core.use_candles(self.candles)
        self.get_signal, self.symbol, self.throttle = (
            core.strategy.get_signal,
            core.symbol,
            core.throttle_ms,
        )
        self.asked_t: int | None = None
        self.asked_when: datetime | None = None
        self.gap, self.gap_td = 0, timedelta(0)

    def grid(self, ticks: np.ndarray) -> None:
        """walk_vector's arrays: bucket and candle per tick, the ticks that offer a signal, and the
        offering calls of an uninterrupted walk (first tick of a bucket)."""
        bucket, cursor, inside, first_of_bucket = walk_grid(
            self.candles, ticks, self.core.throttle_ms
        )
        offered = np.zeros(len(ticks), dtype=bool)
        offered[inside] = self.intents.position[cursor[inside]] != 0
        self.bucket, self.cursor, self.offered = bucket, cursor, offered
        self.calls = np.flatnonzero(offered & first_of_bucket)
        self.vwap = self.candles.vwap(self.core.cfg.CC_AVG_PRICE_CANDLES_COUNT)


class PortfolioWalk:
    """The lockstep walk of ``members`` over ``ticks``; read the figures as it goes or after."""

    def __init__(
        self,
        members: Sequence[Member],
        ticks: np.ndarray,
        positions: RiskBook,
        ledger: CapitalLedger | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.members = list(members)
        self.ticks = ticks
        self.positions = positions
        self.ledger = ledger
        self.listener = listener
        self.closed: list[dict[str, Any]] = []  # every member's, in the order they took effect
        self.risk_events = 0  # rejections by a risk or the capital
        self.rejections_by: dict[tuple[str, str, str], int] = {}  # (member key, risk, id) -> count
        self.first_rejection_ms: dict[int, int] = {}  # member index -> its first rejection's tick
        self.open_now = 0  # positions open (limit entries waiting are not positions yet)
        self.max_open = 0
        self.max_open_at: int | None = None  # ms: when the largest number was first reached
        self.asks = 0  # members asked for a signal (get_signal calls, offered get_signals rows)
        self.stopped = False
        # held-back events, a heap of (ms it takes effect, 0 for an opening else 1, member, seq, kind, record):
        # at one minute the openings first, so a position counts as open through its closing candle
        self._effects: list[tuple[int, int, int, int, str, dict[str, Any]]] = []
        self._seq = itertools.count()
        self._deferring = False
        self._now = 0
        self._strict_open: list[Member] = []  # in member order
        n = len(ticks)
        self._step = int(ticks[1] - ticks[0]) if n > 1 else MINUTE_MS
        self._times = ticks.tolist()  # (a list's item is read faster than an array's, once per ask)
        self._first = int(ticks[0]) if n else 0
        self._uniform = n < 2 or bool((np.diff(ticks) == self._step).all())
        minutes = (
            n > 0
            and self._uniform
            and int(ticks[0]) % MINUTE_MS == 0
            and self._step > 0
            and self._step % MINUTE_MS == 0
        )
        for member in self.members:
            member.core.emit = self._emit_of(member)
            core = member.core
            if member.intents is not None:
                member.grid(ticks)
            elif (
                minutes
                and member.candles.contiguous
                and len(member.candles)
                and not core.emit_idle
                and "on_idle" not in core.callbacks
            ):  # (event_walk's conditions for _walk_idle)
                member.inline()

    # ---- events -----------------------------------------------------------

    def _emit_of(self, member: Member) -> Callable[[str, dict[str, Any]], None]:
        def emit(kind: str, record: dict[str, Any]) -> None:
            if self._deferring:  # settling candles: the event takes effect after its candle
                at = record.get("timestamp")
                due = at + MINUTE_MS if isinstance(at, int) else self._now
                heapq.heappush(
                    self._effects,
                    (
                        due,
                        0 if kind == "opened" else 1,
                        member.index,
                        next(self._seq),
                        kind,
                        record,
                    ),
                )
            else:
                self._apply(member, kind, record)

        return emit

    def _apply(self, member: Member, kind: str, record: dict[str, Any]) -> None:
        if kind == "opened" or kind == "scheduled":
            sig = record["signal"]
            at = sig["pending_at"] if kind == "opened" else sig["scheduled_at"]
            for book in member.books:
                book.add(sig, at)
            if self.ledger is not None:
                self.ledger.take(member.index, sig)
            if kind == "opened":
                self.open_now += 1
                if self.open_now > self.max_open:
                    self.max_open, self.max_open_at = self.open_now, at
        elif kind == "closed" or kind == "cancelled":
            core = member.core
            for book in member.books:
                book.remove(core.name, core.exchange_name, core.symbol)
            if kind == "closed":
                self.open_now -= 1
                member.closed.append(record)
                self.closed.append(record)
            if self.ledger is not None:
                self.ledger.give_back(
                    member.index,
                    record["pnl"]["pnl_cost"] if kind == "closed" else None,
                    record["close_timestamp"],
                )
        elif kind == "risk":
            self.risk_events += 1
            key = (
                f"{member.core.symbol}:{member.core.name}",
                record["risk_name"],
                str(record["rejection_id"]),
            )
            self.rejections_by[key] = self.rejections_by.get(key, 0) + 1
            self.first_rejection_ms.setdefault(member.index, record["timestamp"])
        if self.listener is not None:
            self.listener(kind, record)

    def _apply_due(self, until_ms: float) -> None:
        effects = self._effects
        while effects and effects[0][0] <= until_ms:
            _, _, index, _, kind, record = heapq.heappop(effects)
            self._apply(self.members[index], kind, record)

    # ---- the walk ---------------------------------------------------------

    def steps(self, should_stop: Callable[[], bool] | None = None) -> Iterator[int]:
        """Drive the walk; yields ticks done now and then. Sets ``stopped`` if ``should_stop``
        ended it."""
        n, members = len(self.ticks), self.members
        asks: list[tuple[int, int]] = []
        for member in self.members:
            first = self._next_ask(member, 0)
            if first is not None:
                asks.append((first, member.index))
        heapq.heapify(asks)
        last = -1
        next_yield = PROGRESS_EVERY
        while True:
            i = asks[0][0] if asks else n
            if self._strict_open and last + 1 < i:
                i = last + 1  # a strict member's open position is monitored at every tick
            if i >= n:
                break
            if i >= next_yield:
                next_yield = i + PROGRESS_EVERY
                yield i
                if should_stop is not None and should_stop():
                    self.stopped = True
                    break
            t = self._times[i]
            self._now = t
            if self._strict_open:
                self._monitor_strict(i, t, asks)
            if self._effects and self._effects[0][0] <= t:
                self._apply_due(t)
            while asks and asks[0][0] == i:
                index = asks[0][1]
                member = members[index]
                after = self._ask_idle(member, i, t) if member.idle_ask else self._ask(member, i, t)
                if after is None:
                    heapq.heappop(asks)
                else:
                    heapq.heapreplace(asks, (after, index))
            last = i
        self._finish()
        yield n if not self.stopped else last + 1

    def run(self) -> PortfolioWalk:
        for _ in self.steps():
            pass
        return self

    def _ask(self, member: Member, i: int, t: int) -> int | None:
        """Ask ``member`` at tick ``i`` (time ``t``); the tick of its next ask, or None."""
        core = member.core
        self.asks += 1
        if member.intents is not None:
            c = int(member.cursor[i])
            core.consider(member.intents.signal_at(c), t, float(member.vwap[c - 1]))
        else:
            core.tick(t, member.candles, 0)  # (limit 0: ask only; the position is settled below)
        return self._after_ask(member, i)

    def _after_ask(self, member: Member, i: int) -> int | None:
        """After ``member`` was asked at tick ``i``: settle what it took (at once, its events held
        back; or, strict, from the next tick on); the tick of its next ask, or None."""
        core = member.core
        if core.phase == IDLE:
            return self._next_ask(member, i + 1)
        if member.strict:
            self._strict_open.append(member)
            self._strict_open.sort(key=lambda m: m.index)
            return None
        self._deferring = True
        try:
            core.monitor(member.candles, len(member.candles))
            if core.phase != IDLE:
                core.force_settle(member.candles)  # history ended while the signal was still open
        finally:
            self._deferring = False
        return self._next_ask(member, self._after(core.settled_ms))

    def _ask_idle(self, member: Member, i: int, t: int) -> int | None:
        """``_ask`` of a get_signal member, inlined as event_walk._walk_idle inlines
        ``StrategyCore.tick`` for an idle core (the walk only asks in a new bucket): the same
        bucket, cursor, context and ``when``; a signal, a raise or a rejection goes to the core's
        own methods. No signal: its next ask is the first tick of its next bucket."""
        self.asks += 1
        core = member.core
        bucket = t // member.throttle
        core.last_bucket = bucket
        cursor = -(-(t - member.base) // MINUTE_MS)
        if cursor > 0:  # (else nothing has closed yet: no price, nothing to decide on)
            if cursor > member.count:
                cursor = member.count
            ctx = member.ctx
            ctx.when_ms = t
            ctx.cursor = cursor
            token = _current.set(ctx)
            try:
                if member.asked_t is None:
                    when = datetime.fromtimestamp(t / 1000, UTC)
                else:  # the previous ask's when plus the gap (~30 ns where fromtimestamp costs ~200)
                    if t - member.asked_t != member.gap:
                        member.gap = t - member.asked_t
                        member.gap_td = timedelta(milliseconds=member.gap)
                    when = member.asked_when + member.gap_td
                member.asked_t, member.asked_when = t, when
                raw = member.get_signal(member.symbol, when)
            except Exception as exc:  # user code: report, count the tick as idle, go on
                _current.reset(token)
                core.get_signal_raised(exc, t)
                raw = None
            else:
                _current.reset(token)
            if raw is not None:
                core.consider(raw, t, float(member.vwap[cursor - 1]))
                member.ctx = core.use_candles(
                    member.candles
                )  # (the same context, unless a hook changed it)
                return self._after_ask(member, i)
        after = -(-((bucket + 1) * member.throttle - self._first) // self._step)
        return after if after < len(self.ticks) else None

    def _monitor_strict(self, i: int, t: int, asks: list[tuple[int, int]]) -> None:
        """Advance each strict member's open signal over the candles closed before ``t`` (its
        callbacks run now; its events take effect with every other member's, next)."""
        for member in list(self._strict_open):
            core = member.core
            self._deferring = True
            try:
                core.monitor(member.candles, member.candles.index_at(t))
            finally:
                self._deferring = False
            if core.phase == IDLE:
                self._strict_open.remove(member)
                after = self._next_ask(
                    member, i
                )  # (it closed on a candle before t: its next tick is t)
                if after is not None:
                    heapq.heappush(asks, (after, member.index))

    def _finish(self) -> None:
        """The frame is over (or stopped): settle what is left, apply every held-back event."""
        if not self.stopped:
            self._deferring = True
            try:
                for member in self._strict_open:
                    member.core.monitor(member.candles, len(member.candles))
                    if member.core.phase != IDLE:
                        member.core.force_settle(member.candles)
            finally:
                self._deferring = False
            self._strict_open.clear()
        self._apply_due(math.inf)

    # ---- each member's throttle (as event_walk and vector_walk step it) -----

    def _after(self, settled_ms: int) -> int:
        """The first tick after a close or cancel at ``settled_ms``."""
        first = int(self.ticks[0])
        if self._uniform:
            return max(0, (settled_ms - first) // self._step + 1)
        return int(np.searchsorted(self.ticks, settled_ms, "right"))

    def _next_ask(self, member: Member, i: int) -> int | None:
        """The first tick from ``i`` at which ``member`` is asked: the next tick in a new throttle
        bucket (event_walk), or for ``get_signals`` the next call that offers a signal
        (vector_walk, which sets the bucket of the calls it passes)."""
        ticks, n = self.ticks, len(self.ticks)
        if i >= n:
            return None
        core = member.core
        if member.intents is None:
            bucket = core.last_bucket
            if bucket is not None and self._times[i] // core.throttle_ms == bucket:
                target = (bucket + 1) * core.throttle_ms
                first = int(ticks[0])
                i = (
                    -(-(target - first) // self._step)
                    if self._uniform
                    else int(np.searchsorted(ticks, target, "left"))
                )
            return i if i < n else None
        if member.bucket[i] != core.last_bucket:
            core.last_bucket = int(member.bucket[i])  # the call at i uses its bucket
            if member.offered[i]:
                return i
        k = int(member.calls.searchsorted(i, "right"))
        if k == len(member.calls):
            return None
        j = int(member.calls[k])
        core.last_bucket = int(member.bucket[j])
        return j

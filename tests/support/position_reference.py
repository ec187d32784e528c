"""A deliberately simple simulator of SEMANTICS.md sections 2, 3 and 9, the oracle of the position tests.

Written from the text of SEMANTICS alone, with no btfarm code: a plain loop
over the minutes, lists instead of arrays, the effective entry kept as
dollars over coins. It is slow and it only knows what the scenarios need
(market entries, one symbol, a 1-minute frame); what it computes, the event
lane (and later the compiled plan lane) must compute too.

A scenario (``Scenario``) is written once, against a commit API with
btfarm's names (``commit_trailing_stop`` ...): the tests hand it btfarm's
functions inside the engine's hooks, and this simulator hands it its own.
Positions are told apart by ``pending_at``, which both give.

Where SEMANTICS leaves a point open, the reading taken is said beside it:
- the data ends at the frame's last minute, so "u > frame end" never has a
  candle; a position still open when the candles run out closes at the last
  candle, "time_expired" at its VWAP, after that candle's hook;
- a user's close waiting for candle u+1 yields to the frame end, then
  comes before the lifetime, SL and TP checks;
- breakeven: refused unless the lagged price p passed the threshold (and
  is not beyond the entry on the loss side); a stop already trailed past
  the entry is kept and the call returns True; a stop already at the entry
  gives False.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MINUTE = 60_000  # ms
LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


@dataclass
class Costs:
    slippage: float = 0.1  # CC_PERCENT_SLIPPAGE
    fee: float = 0.1  # CC_PERCENT_FEE
    breakeven_extra: float = 0.2  # CC_BREAKEVEN_THRESHOLD
    entry_cost: float = 100.0  # CC_POSITION_ENTRY_COST
    vwap_count: int = 5  # CC_AVG_PRICE_CANDLES_COUNT


def read_candles(path: Path) -> dict[str, list]:
    """The CSV's columns as lists: timestamp (ms), open, high, low, close, volume."""
    cols: dict[str, list] = {k: [] for k in ("timestamp", "open", "high", "low", "close", "volume")}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            cols["timestamp"].append(int(row["timestamp_ms"]))
            for k in ("open", "high", "low", "close", "volume"):
                cols[k].append(float(row[k]))
    return cols


def vwap_at(c: dict[str, list], u: int, count: int) -> float:
    """VWAP of candles u-count+1 .. u (fewer at the start), summed oldest to newest."""
    lo = max(0, u - count + 1)
    weighted = volume = closes = 0.0
    for k in range(lo, u + 1):
        weighted += ((c["high"][k] + c["low"][k]) + c["close"][k]) / 3 * c["volume"][k]
        volume += c["volume"][k]
        closes += c["close"][k]
    return weighted / volume if volume > 0 else closes / (u + 1 - lo)


def leg_gross(long: bool, entry: float, price: float, costs: Costs) -> tuple[float, float]:
    """(gross percent, close'/open') of one leg, slippage on both sides (SEMANTICS 3)."""
    s = costs.slippage / 100
    if long:
        opened, closed = entry * (1 + s), price * (1 - s)
        return (closed - opened) / opened * 100, closed / opened
    opened, closed = entry * (1 - s), price * (1 + s)
    return (opened - closed) / opened * 100, closed / opened


def round_trip_pnl(long: bool, entry: float, price: float, costs: Costs) -> float:
    gross, ratio = leg_gross(long, entry, price, costs)
    return gross - costs.fee * (1 + ratio)


# ---- the entry rule every scenario shares ------------------------------------


def cross_entry(closes: list[float], price: float, lifetime: float) -> dict[str, Any] | None:
    """The benchmark cross (examples/data/README.md): the means of the last 10 and 30
    closes before ``when``, now and 5 candles earlier; a market entry at ``price`` with TP
    and SL 1 % away."""
    if len(closes) < 35:
        return None
    n = len(closes)

    def mean(back: int, length: int) -> float:
        window = closes[n - back - length : n - back]
        return sum(window) / length

    fast_now, slow_now, fast_then, slow_then = mean(0, 10), mean(0, 30), mean(5, 10), mean(5, 30)
    if fast_then <= slow_then and fast_now > slow_now:
        side = 1
    elif fast_then >= slow_then and fast_now < slow_now:
        side = -1
    else:
        return None
    return {
        "position": "long" if side > 0 else "short",
        "price_take_profit": price * (1 + side * 0.01),
        "price_stop_loss": price * (1 - side * 0.01),
        "minute_estimated_time": lifetime,
    }


# ---- the scenarios of issue 31 ------------------------------------------------


class Scenario:
    """What a strategy does on its hooks; ``api`` has the commit_* functions."""

    lifetime: float = 120

    def entry(self, closes: list[float], price: float) -> dict[str, Any] | None:
        return cross_entry(closes, price, self.lifetime)

    def ping(self, api, symbol: str, signal: dict, price: float, when_ms: int) -> None:
        pass

    def breakeven(self, api, symbol: str, signal: dict, price: float, when_ms: int) -> None:
        pass

    def profit_level(self, api, symbol: str, level: int, signal: dict) -> None:
        pass

    def loss_level(self, api, symbol: str, level: int, signal: dict) -> None:
        pass

    # which hooks the engine side registers: callbacks and listeners
    uses_ping = uses_breakeven = uses_levels = False


def side_move(signal: dict, price: float) -> float:
    """The move from the effective entry in percent, positive in the position's favour."""
    entry = signal["price_open"]
    move = (price - entry) / entry * 100
    return move if signal["position"] == "long" else -move


class Trailing(Scenario):
    """For each rung (threshold, shift), once per position: when the move reaches the
    threshold, trail the stop by the shift; once: when the move is -0.5 or worse, trail the
    take profit by -0.5."""

    LADDER = ((0.25, -0.75), (0.5, -1.0), (0.75, -1.25))
    uses_ping = True

    def __init__(self) -> None:
        self.done: dict[int, set] = {}

    def ping(self, api, symbol, signal, price, when_ms):
        done = self.done.setdefault(signal["pending_at"], set())
        move = side_move(signal, price)
        for threshold, shift in self.LADDER:
            if threshold not in done and move >= threshold:
                done.add(threshold)
                api.commit_trailing_stop(symbol, shift, price)
        if "take" not in done and move <= -0.5:
            done.add("take")
            api.commit_trailing_take(symbol, -0.5, price)


class Partials(Scenario):
    """When level 50 first becomes available: close 50 % (profit or loss side)."""

    uses_levels = True

    def profit_level(self, api, symbol, level, signal):
        if level == 50:
            api.commit_partial_profit(symbol, 50)

    def loss_level(self, api, symbol, level, signal):
        if level == 50:
            api.commit_partial_loss(symbol, 50)


class Breakeven(Scenario):
    """commit_breakeven in on_breakeven, then on every later hook until one is applied."""

    uses_ping = uses_breakeven = True

    def __init__(self) -> None:
        self.waiting: set[int] = set()
        self.results: list[bool] = []

    def breakeven(self, api, symbol, signal, price, when_ms):
        applied = api.commit_breakeven(symbol)
        self.results.append(applied)
        if not applied:
            self.waiting.add(signal["pending_at"])

    def ping(self, api, symbol, signal, price, when_ms):
        if signal["pending_at"] in self.waiting:
            applied = api.commit_breakeven(symbol)
            self.results.append(applied)
            if applied:
                self.waiting.discard(signal["pending_at"])


class Averaging(Scenario):
    """While fewer than 3 entries and the price is 0.5 % beyond the effective entry (long
    below, short above): average in."""

    uses_ping = True

    def ping(self, api, symbol, signal, price, when_ms):
        if len(signal["entries"]) < 3 and side_move(signal, price) <= -0.5:
            api.commit_average_buy(symbol)


class UserClose(Scenario):
    """Once the position has been open 30 minutes and is losing (its PnL at the price,
    costs included, below 0): close it, once."""

    uses_ping = True

    def __init__(self) -> None:
        self.asked: set[int] = set()

    def ping(self, api, symbol, signal, price, when_ms):
        key = signal["pending_at"]
        if key in self.asked or when_ms - key < 30 * MINUTE:
            return
        if round_trip_pnl(signal["position"] == "long", signal["price_open"], price, Costs()) < 0:
            self.asked.add(key)
            api.commit_close_pending(symbol, id=f"user-close-{key}")


class NoExpiry(Scenario):
    """The entry rule with minute_estimated_time = math.inf."""

    lifetime = math.inf


# ---- the simulator --------------------------------------------------------------


@dataclass
class RefPosition:
    long: bool
    pending_at: int
    sl: float
    tp: float
    original_open: float
    original_sl: float
    original_tp: float
    lifetime: float
    entries: list[dict] = field(default_factory=list)
    partials: list[dict] = field(default_factory=list)
    basis: float = 0.0  # dollars still open
    coins: float = 0.0  # units still held: the effective entry is basis / coins
    trailed_sl: bool = False
    trailed_tp: bool = False
    profit_levels: set = field(default_factory=set)
    loss_levels: set = field(default_factory=set)
    breakeven_seen: bool = False
    close_asked: tuple | None = None  # (id, at): a user's close, for the next candle

    @property
    def entry(self) -> float:
        return self.basis / self.coins

    def view(self) -> dict[str, Any]:
        """The signal as a hook sees it."""
        return {
            "position": "long" if self.long else "short",
            "pending_at": self.pending_at,
            "price_open": self.entry,
            "price_stop_loss": self.sl,
            "price_take_profit": self.tp,
            "original_price_open": self.original_open,
            "original_price_stop_loss": self.original_sl,
            "original_price_take_profit": self.original_tp,
            "entries": list(self.entries),
            "partials": list(self.partials),
        }


class ReferenceApi:
    """The commit functions, bound to the position and candle the simulator is at."""

    def __init__(self, sim: Reference) -> None:
        self.sim = sim

    def _lagged(self) -> float:
        return self.sim.vwap[self.sim.u - 1]  # get_average_price in the hook of candle u

    def commit_trailing_stop(self, symbol, shift, price):
        pos = self.sim.pos
        if pos is None or pos.close_asked or shift == 0 or not -100 <= shift <= 100:
            return False
        eff = pos.entry
        new_distance = abs(eff - pos.original_sl) / eff * 100 + shift
        new = eff * (1 - new_distance / 100) if pos.long else eff * (1 + new_distance / 100)
        if (price < new) if pos.long else (price > new):
            return False
        if (new >= pos.tp) if pos.long else (new <= pos.tp):
            return False
        if pos.trailed_sl and ((new <= pos.sl) if pos.long else (new >= pos.sl)):
            return False
        pos.sl, pos.trailed_sl = new, True
        return True

    def commit_trailing_take(self, symbol, shift, price):
        pos = self.sim.pos
        if pos is None or pos.close_asked or shift == 0 or not -100 <= shift <= 100:
            return False
        eff = pos.entry
        new_distance = abs(pos.original_tp - eff) / eff * 100 + shift
        new = eff * (1 + new_distance / 100) if pos.long else eff * (1 - new_distance / 100)
        if (price > new) if pos.long else (price < new):
            return False
        if (new <= pos.sl) if pos.long else (new >= pos.sl):
            return False
        if pos.trailed_tp and ((new >= pos.tp) if pos.long else (new <= pos.tp)):
            return False
        pos.tp, pos.trailed_tp = new, True
        return True

    def _partial(self, kind: str, percent: float) -> bool:
        pos = self.sim.pos
        if pos is None or pos.close_asked or not 0 < percent <= 100:
            return False
        p, eff = self._lagged(), pos.entry
        if kind == "profit":
            if not ((eff < p < pos.tp) if pos.long else (pos.tp < p < eff)):
                return False
        elif not ((pos.sl < p < eff) if pos.long else (eff < p < pos.sl)):
            return False
        invested = sum(e["cost"] for e in pos.entries)
        closed = sum(q["percent"] / 100 * q["cost_basis_at_close"] for q in pos.partials)
        if closed + percent / 100 * pos.basis > invested * (1 + 1e-9):
            return False
        pos.partials.append(
            {
                "type": kind,
                "percent": percent,
                "current_price": p,
                "cost_basis_at_close": pos.basis,
                "entry_count_at_close": len(pos.entries),
                "timestamp": self.sim.ts[self.sim.u],
                "entry_then": eff,
            }
        )
        pos.basis *= 1 - percent / 100
        pos.coins *= 1 - percent / 100
        return True

    def commit_partial_profit(self, symbol, percent):
        return self._partial("profit", percent)

    def commit_partial_loss(self, symbol, percent):
        return self._partial("loss", percent)

    def commit_breakeven(self, symbol):
        pos = self.sim.pos
        if pos is None or pos.close_asked:
            return False
        p, eff = self._lagged(), pos.entry
        if (eff >= pos.tp) if pos.long else (eff <= pos.tp):
            return False
        thr = 2 * (self.sim.costs.slippage + self.sim.costs.fee) + self.sim.costs.breakeven_extra
        if not ((p >= eff * (1 + thr / 100)) if pos.long else (p <= eff * (1 - thr / 100))):
            return False
        if pos.trailed_sl and ((pos.sl > eff) if pos.long else (pos.sl < eff)):
            return True
        if not ((pos.sl < eff) if pos.long else (pos.sl > eff)):
            return False
        if (p < eff) if pos.long else (p > eff):
            return False
        pos.sl, pos.trailed_sl = eff, True
        return True

    def commit_average_buy(self, symbol, cost=None):
        pos = self.sim.pos
        if pos is None or pos.close_asked:
            return False
        p = self._lagged()
        prices = [e["price"] for e in pos.entries]
        if (p >= min(prices)) if pos.long else (p <= max(prices)):
            return False
        cost = self.sim.costs.entry_cost if cost is None else cost
        pos.entries.append({"price": p, "cost": cost, "timestamp": self.sim.ts[self.sim.u]})
        pos.basis += cost
        pos.coins += cost / p
        return True

    def commit_close_pending(self, symbol, id=None, note=None):  # noqa: A002
        pos = self.sim.pos
        if pos is None or pos.close_asked:
            return False
        pos.close_asked = (id, self.sim.u)
        return True


class Reference:
    """Runs one scenario over candles and a 1-minute frame [start_ms, end_ms]; ``closed``
    lists each trade as a plain dict."""

    def __init__(
        self,
        candles: dict[str, list],
        start_ms: int,
        end_ms: int,
        scenario: Scenario,
        throttle_ms: int = 5 * MINUTE,
        costs: Costs | None = None,
    ) -> None:
        self.c = candles
        self.ts = candles["timestamp"]
        if any(b - a != MINUTE for a, b in zip(self.ts, self.ts[1:], strict=False)):
            raise ValueError("the reference simulator needs minute candles without gaps")
        self.start, self.end = start_ms, end_ms
        self.scenario = scenario
        self.throttle = throttle_ms
        self.costs = costs or Costs()
        self.vwap = [vwap_at(candles, u, self.costs.vwap_count) for u in range(len(self.ts))]
        self.api = ReferenceApi(self)
        self.pos: RefPosition | None = None
        self.u = 0  # the candle being walked
        self.closed: list[dict[str, Any]] = []

    def index(self, ms: int) -> int:
        return (ms - self.ts[0]) // MINUTE

    def run(self) -> list[dict[str, Any]]:
        last_bucket = None
        t = self.start
        while t <= self.end:
            bucket = t // self.throttle
            if bucket == last_bucket:
                t += MINUTE
                continue
            last_bucket = bucket
            k = self.index(t)
            if k < 1:
                t += MINUTE
                continue
            price = self.vwap[k - 1]  # the current price at tick t
            sig = self.scenario.entry(self.c["close"][max(0, k - 35) : k], price)
            if sig is None or not self._valid(sig, price):
                t += MINUTE
                continue
            close_ms = self._hold(sig, t, price)
            t = close_ms + MINUTE  # ticks up to the close are skipped
        return self.closed

    def _valid(self, sig: dict, price: float) -> bool:
        tp, sl, long = sig["price_take_profit"], sig["price_stop_loss"], sig["position"] == "long"
        if not ((tp > price > sl) if long else (tp < price < sl)):
            return False
        tp_distance = abs(tp - price) / price * 100
        sl_distance = abs(price - sl) / price * 100
        return tp_distance >= 0.5 and 0.5 <= sl_distance <= 20

    def _hold(self, sig: dict, t: int, price: float) -> int:
        """Open at tick t and walk the candles from t on until it closes; the close time."""
        long = sig["position"] == "long"
        pos = self.pos = RefPosition(
            long,
            t,
            sig["price_stop_loss"],
            sig["price_take_profit"],
            price,
            sig["price_stop_loss"],
            sig["price_take_profit"],
            sig["minute_estimated_time"],
        )
        pos.entries.append({"price": price, "cost": self.costs.entry_cost, "timestamp": t})
        pos.basis, pos.coins = self.costs.entry_cost, self.costs.entry_cost / price
        for u in range(self.index(t), len(self.ts)):
            self.u = u
            at, v = self.ts[u], self.vwap[u]
            if at > self.end:
                return self._close("time_expired", v, at)
            if pos.close_asked is not None:
                return self._close("closed", v, at, close_id=pos.close_asked[0])
            if at - pos.pending_at >= pos.lifetime * MINUTE:
                return self._close("time_expired", v, at)
            if (self.c["low"][u] <= pos.sl) if long else (self.c["high"][u] >= pos.sl):
                return self._close("stop_loss", pos.sl, at)
            if (v >= pos.tp) if long else (v <= pos.tp):
                return self._close("take_profit", pos.tp, at)
            self._hook(v, at)
        return self._close("time_expired", self.vwap[-1], self.ts[-1])  # the candles ran out

    def _hook(self, v: float, at: int) -> None:
        pos, sc, api = self.pos, self.scenario, self.api
        sc.ping(api, "SIMUSDT", pos.view(), v, at)
        eff = pos.entry
        if (v > eff) if pos.long else (v < eff):
            thr = 2 * (self.costs.slippage + self.costs.fee) + self.costs.breakeven_extra
            if not pos.breakeven_seen and (
                (v >= eff * (1 + thr / 100)) if pos.long else (v <= eff * (1 - thr / 100))
            ):
                pos.breakeven_seen = True
                sc.breakeven(api, "SIMUSDT", pos.view(), v, at)
            span = (pos.tp - eff) if pos.long else (eff - pos.tp)
            percent = 100.0 if span <= 0 else min(max(abs(v - eff) / span * 100, 0.0), 100.0)
            for level in LEVELS:
                if percent >= level and level not in pos.profit_levels:
                    pos.profit_levels.add(level)
                    sc.profit_level(api, "SIMUSDT", level, pos.view())
        elif (v < eff) if pos.long else (v > eff):
            span = (eff - pos.sl) if pos.long else (pos.sl - eff)
            percent = 100.0 if span <= 0 else min(max(abs(eff - v) / span * 100, 0.0), 100.0)
            for level in LEVELS:
                if percent >= level and level not in pos.loss_levels:
                    pos.loss_levels.add(level)
                    sc.loss_level(api, "SIMUSDT", level, pos.view())

    def _close(self, reason: str, price: float, at: int, close_id: str | None = None) -> int:
        pos = self.pos
        invested = sum(e["cost"] for e in pos.entries)
        # pnl = sum over legs of w * gross - fee * (1 + sum over legs of w * close' / open')
        legs = [
            (
                q["percent"] / 100 * q["cost_basis_at_close"] / invested,
                q["entry_then"],
                q["current_price"],
            )
            for q in pos.partials
        ]
        rest = 1 - sum(w for w, _, _ in legs)
        if rest > 0:
            legs.append((rest, pos.entry, price))
        weighted = sum(
            w * leg_gross(pos.long, entry, at_price, self.costs)[0] for w, entry, at_price in legs
        )
        ratios = sum(
            w * leg_gross(pos.long, entry, at_price, self.costs)[1] for w, entry, at_price in legs
        )
        self.closed.append(
            {
                "pending_at": pos.pending_at,
                "position": "long" if pos.long else "short",
                "close_timestamp": at,
                "close_reason": reason,
                "close_price": price,
                "close_id": close_id,
                "price_open": pos.entry,
                "price_stop_loss": pos.sl,
                "price_take_profit": pos.tp,
                "entries": [(e["price"], e["cost"], e["timestamp"]) for e in pos.entries],
                "partials": [
                    (
                        q["type"],
                        q["percent"],
                        q["current_price"],
                        q["cost_basis_at_close"],
                        q["entry_count_at_close"],
                        q["timestamp"],
                    )
                    for q in pos.partials
                ],
                "pnl": weighted - self.costs.fee * (1 + ratios),
                "pnl_entries": invested,
            }
        )
        self.pos = None
        return at

"""Profit and loss in percent, fees and slippage included (SEMANTICS.md sections 3 and 9).

``pnl_percentage`` is one round trip. A managed position (section 9) has
entries (DCA) and partial closes: ``effective_entry`` is the price its
remaining part stands at, and ``position_pnl`` blends every leg.

An entry is ``{"price", "cost", "timestamp"}``; a partial is ``{"type",
"percent", "current_price", "cost_basis_at_close", "entry_count_at_close",
"timestamp"}``, with the cost basis (dollars still open) before it and the
number of entries made before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pnl_percentage(
    position: str,
    price_open: float,
    price_close: float,
    slippage_percent: float,
    fee_percent: float,
) -> float:
    """PnL of one round trip, in percent of the slipped entry."""
    s = slippage_percent / 100
    if position == "long":
        opened = price_open * (1 + s)
        closed = price_close * (1 - s)
        gross = (closed - opened) / opened * 100
    else:
        opened = price_open * (1 - s)
        closed = price_close * (1 + s)
        gross = (opened - closed) / opened * 100
    return gross - fee_percent * (1 + closed / opened)


def _blend(price: float, cost_basis: float, entries: Sequence[dict[str, Any]]) -> float:
    """The effective entry of ``cost_basis`` dollars held at ``price`` plus ``entries``:
    sum(cost) / sum(cost / price). With nothing added the price is kept as it is (the same
    double, so a position that never averages prices exactly as a plain one)."""
    if not entries:
        return price
    coins = sum(e["cost"] / e["price"] for e in entries) + (
        cost_basis / price if cost_basis else 0.0
    )
    return (cost_basis + sum(e["cost"] for e in entries)) / coins


def _first_entry(entries: Sequence[dict[str, Any]], count: int) -> float:
    """The cost-weighted harmonic mean of the first ``count`` entries (one entry: its price)."""
    used = entries[:count]
    if len(used) == 1:
        return used[0]["price"]
    return sum(e["cost"] for e in used) / sum(e["cost"] / e["price"] for e in used)


def entries_at_partials(
    entries: Sequence[dict[str, Any]], partials: Sequence[dict[str, Any]]
) -> list[float]:
    """The effective entry at each partial close: the first partial's from the entries made
    before it; each later one blends what the previous partial left with the entries made
    between the two."""
    prices: list[float] = []
    for k, part in enumerate(partials):
        if k == 0:
            prices.append(_first_entry(entries, part["entry_count_at_close"]))
            continue
        prev = partials[k - 1]
        left = prev["cost_basis_at_close"] * (1 - prev["percent"] / 100)
        added = entries[prev["entry_count_at_close"] : part["entry_count_at_close"]]
        prices.append(_blend(prices[-1], left, added))
    return prices


def effective_entry(entries: Sequence[dict[str, Any]], partials: Sequence[dict[str, Any]]) -> float:
    """The price the open part of the position stands at (SEMANTICS 9): the harmonic mean of
    the entries, where after a partial the entries made later merge with the basis left."""
    if not partials:
        return _first_entry(entries, len(entries))
    last = partials[-1]
    at_last = entries_at_partials(entries, partials)[-1]
    left = last["cost_basis_at_close"] * (1 - last["percent"] / 100)
    return _blend(at_last, left, entries[last["entry_count_at_close"] :])


def remaining_basis(entries: Sequence[dict[str, Any]], partials: Sequence[dict[str, Any]]) -> float:
    """Dollars still open: what the last partial left plus the entries made after it."""
    if not partials:
        return sum(e["cost"] for e in entries)
    last = partials[-1]
    return last["cost_basis_at_close"] * (1 - last["percent"] / 100) + sum(
        e["cost"] for e in entries[last["entry_count_at_close"] :]
    )


def closed_dollars(partials: Sequence[dict[str, Any]]) -> float:
    """Dollars closed by the partials so far."""
    return sum(p["percent"] / 100 * p["cost_basis_at_close"] for p in partials)


def position_pnl(
    position: str,
    entries: Sequence[dict[str, Any]],
    partials: Sequence[dict[str, Any]],
    price_close: float,
    slippage_percent: float,
    fee_percent: float,
) -> tuple[float, float, float]:
    """(pnl_percentage, final effective entry, invested dollars) of a managed position closed
    at ``price_close`` (SEMANTICS 9). Each partial k closes weight w_k = percent_k / 100 *
    basis_k / invested at its price against the effective entry of that moment; the rest,
    1 - sum(w_k), closes at ``price_close`` against the final effective entry;
    pnl = sum(w * gross) - fee * (1 + sum(w * close' / open')), summed leg by leg in that
    order with the entry fee first (backtest-kit's order: the worked example's digits).
    Without partials this is ``pnl_percentage`` at the effective entry, to the last bit."""
    invested = sum(e["cost"] for e in entries)
    final_entry = effective_entry(entries, partials)
    if not partials:
        return (
            pnl_percentage(position, final_entry, price_close, slippage_percent, fee_percent),
            final_entry,
            invested,
        )
    s = slippage_percent / 100
    long = position == "long"
    legs = [
        (p["percent"] / 100 * p["cost_basis_at_close"] / invested, entry, p["current_price"])
        for p, entry in zip(partials, entries_at_partials(entries, partials), strict=True)
    ]
    rest = 1 - sum(w for w, _, _ in legs)
    if rest > 0:
        legs.append((rest, final_entry, price_close))
    gross_sum, fees = 0.0, fee_percent
    for weight, entry, price in legs:
        if long:
            opened, closed = entry * (1 + s), price * (1 - s)
            gross = (closed - opened) / opened * 100
        else:
            opened, closed = entry * (1 - s), price * (1 + s)
            gross = (opened - closed) / opened * 100
        gross_sum += weight * gross
        fees += fee_percent * weight * (closed / opened)
    return gross_sum - fees, final_entry, invested

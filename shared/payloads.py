"""What crosses the wire between the orchestrator and a worker: JSON only.

A chunk names one symbol, exchange and frame and lists variants, each a
strategy name plus its parameters (never a pickled object: the worker finds
the strategy in its own registry, filled by importing the user's modules).
A variant's result is a flat JSON record: its statistics and the
fingerprint of what produced them, or why it did not finish. Closed signals
never travel: a sweep of 1,000 variants over a year would move gigabytes,
and the report recomputes the few it shows, deterministically, in process.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import UsageError

VariantStatus = Literal["done", "failed", "stopped"]
STATUSES: tuple[str, ...] = VariantStatus.__args__  # type: ignore[attr-defined]


VariantKind = Literal["strategy", "portfolio"]


class Variant(BaseModel):
    """One backtest of a sweep: ``strategy_name`` is the variant's name
    (``sma-cross[fast=5,slow=20]``), ``base`` the registered strategy. A ``kind``
    "portfolio" variant runs the registered portfolio ``base`` (every member on its own
    symbol, the chunk's symbol unused) with ``params`` as ``PortfolioRun``'s, e.g.
    ``{"max_positions": 2, "BTCUSDT:sma-cross.fast": 5}``; its result record is of the
    same form, over every member's closed trades."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy_name: str
    base: str
    params: dict[str, Any] | None = None  # None: the strategy's (or portfolio's) registered params
    module: str | None = None  # where the orchestrator found ``base``, for error messages
    index: int | None = None  # its place in the sweep (shared/variant_space.py); results carry it
    kind: VariantKind = "strategy"


class Chunk(BaseModel):
    """The arguments of one ``btfarm.backtest_chunk`` task."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    # Its own variants, then those it may steal: as Variants, or (every sweep the
    # orchestrator runs, whose plan is stored) as their indices in the sweep, which the
    # worker reads from the plan (keys.walker_run): a chunk of 50 is then 50 numbers, not
    # 50 names and parameter sets built, dumped and parsed per chunk.
    variants: list[Variant] = []
    attempt: int = (
        1  # the sweep's attempt that submitted it (1, then +1 per resume); see keys.walker_lease
    )
    # Work stealing: once its own variants are done, a chunk takes these (another chunk's,
    # from that chunk's end) unless that chunk got there first; keys.walker_claims says who
    # took what, by ``chunk_id``, which a redelivered or resubmitted copy keeps.
    chunk_id: str = Field(
        "0", pattern=r"^[0-9]{1,9}$"
    )  # its place in the sweep (claims store it as a number)
    steal: list[Variant] = []
    indices: list[int] = []  # its own variants by index (instead of ``variants``)
    steal_indices: list[int] = []  # those it may steal by index, in the order it steals them
    # One code version per ranking: the orchestrator's source hash of each strategy the
    # chunk names (base name -> fingerprint.source_hash) and its btfarm version; a worker
    # whose own differ fails those variants instead of ranking other code beside them.
    code: dict[str, str] = {}
    btfarm_version: str = ""

    @property
    def by_index(self) -> bool:
        """Whether the chunk names its variants by index only (the worker reads the plan)."""
        return bool(self.indices or self.steal_indices)

    def own_count(self) -> int:
        return len(self.indices) if self.by_index else len(self.variants)

    def all_indices(self) -> list[int]:
        """Every variant index the chunk may run: its own, then those it may steal."""
        if self.by_index:
            return [*self.indices, *self.steal_indices]
        return [v.index for v in (*self.variants, *self.steal)]  # type: ignore[misc]

    @model_validator(mode="after")
    def _indexed(self) -> Chunk:
        if self.by_index and (
            self.variants or self.steal
        ):  # protocol: a pydantic validator raises ValueError
            raise ValueError(
                f"chunk {self.chunk_id} of sweep {self.run_id} names variants both as Variants "
                "and by index; a chunk uses one form"
            )
        if any(i < 0 for i in (*self.indices, *self.steal_indices)):  # protocol: as above
            raise ValueError(
                f"chunk {self.chunk_id} of sweep {self.run_id} has a negative variant index"
            )
        # a chunk's variants are marked claimed, run and collected by index (shared/store/variant_marks.py)
        unindexed = [
            v.strategy_name for v in (*self.variants, *self.steal) if v.index is None or v.index < 0
        ]
        if unindexed:  # protocol: a pydantic validator raises ValueError
            raise ValueError(
                f"variants {unindexed[:5]} of chunk {self.chunk_id} of sweep {self.run_id} have no "
                "index; a chunk's variants come from a VariantSpace (orchestrator/sweeps/variants.py)"
            )
        return self


def result_record(
    variant: Variant,
    status: str,
    *,
    stats: dict[str, Any] | None = None,
    fingerprint: dict[str, Any] | None = None,
    error: str | None = None,
    worker: str = "",
    seconds: float = 0.0,
    rejections: list[str] | None = None,
    daily: dict[str, Any] | None = None,
    lane: str = "",
) -> dict[str, Any]:
    """The JSON record of one variant's outcome; ``daily`` is its PnL per day (daily_pnl.py);
    ``lane``: the walk that ran it (``BacktestRun.lane``: "batch", "vector" or "event"; a
    strategy whose risk runs Python validations takes a Python lane), "" when none ran."""
    if status not in STATUSES:
        raise UsageError(f"variant status {status!r} is not one of {', '.join(STATUSES)}")
    return {
        "index": variant.index,
        "strategy_name": variant.strategy_name,
        "base": variant.base,
        "params": variant.params,
        "status": status,
        "stats": stats,
        "fingerprint": fingerprint,
        "error": error,
        "worker": worker,
        "seconds": round(seconds, 6),
        "rejections": list(rejections or ()),  # the first distinct reasons signals were refused
        "daily": daily,
        "lane": lane,
    }


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))

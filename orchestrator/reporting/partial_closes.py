"""``Partial``: every partial close of the positions of one ``symbol:strategy``, on
the profit side and the loss side (backtest-kit's ``Partial`` report,
``PartialMarkdownService``; issue 32, 3).

Fed by ``listen_strategy_commit`` once ``Partial.enable()`` is called: each applied
``commit_partial_profit`` / ``commit_partial_loss`` (a strategy's or its position
plan's) is one event, with the price it closed at and the percent of what remained
open. backtest-kit reports the profit and loss *levels* reached
(``listen_partial_profit_available``); btfarm reports the closes made, which are what
a closed signal's ``signal.partials`` holds. A backtest's events are kept in this
process (the latest run of each ``symbol:strategy``, the newest
``REPORT_LOG_MAX_ROWS``); a live run's go to the persisted log ``keys.report_partial``,
which every process reads (``backtest=False``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from btfarm.shared.store import keys

from ..reports import _format as fmt
from ..reports.columns import Column, resolve_columns
from ..reports.render import _render, _table
from .feed import once_each
from .keyed_report import ListeningReport
from .scheduled_entries import DEFAULT_SCHEDULE_COLUMNS

PARTIAL_COMMITS: dict[str, Literal["profit", "loss"]] = {
    "partial_profit": "profit",
    "partial_loss": "loss",
}


class PartialEvent(BaseModel):
    """One partial close (backtest-kit's ``PartialEvent``, the close in place of the level)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: int  # ms: the candle whose hook committed it
    action: Literal["profit", "loss"]
    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    signal_id: str
    position: str | None = None
    percent: float  # closed, of what remained open
    current_price: float | None = None  # the price it closed at
    price_open: float | None = None  # the signal's effective levels then
    price_take_profit: float | None = None
    price_stop_loss: float | None = None
    original_price_open: float | None = None
    original_price_take_profit: float | None = None
    original_price_stop_loss: float | None = None
    total_entries: int | None = None
    note: str | None = None
    scheduled_at: int | None = None
    pending_at: int | None = None
    backtest: bool


class PartialData(BaseModel):
    """What ``Partial.get_data`` returns (backtest-kit's ``PartialStatisticsModel``)."""

    symbol: str
    strategy_name: str
    backtest: bool
    events: list[PartialEvent]  # oldest first
    total_events: int
    total_profit: int  # partial closes on the profit side
    total_loss: int  # on the loss side


def partial_event(record: Mapping[str, Any]) -> PartialEvent:
    """A ``listen_strategy_commit`` payload of a partial close as a ``PartialEvent``."""
    signal = record.get("signal") or {}
    price = record.get("commit_price")
    return PartialEvent(
        timestamp=int(record["timestamp"]),
        action=PARTIAL_COMMITS[record["action"]],
        symbol=record["symbol"],
        strategy_name=record["strategy_name"],
        exchange_name=record.get("exchange_name") or "",
        frame_name=record.get("frame_name") or "",
        signal_id=str(record.get("signal_id") or signal.get("id")),
        position=signal.get("position"),
        percent=float(record["percent"]),
        current_price=price if price is not None else record.get("current_price"),
        price_open=signal.get("price_open"),
        price_take_profit=signal.get("price_take_profit"),
        price_stop_loss=signal.get("price_stop_loss"),
        original_price_open=signal.get("original_price_open"),
        original_price_take_profit=signal.get("original_price_take_profit"),
        original_price_stop_loss=signal.get("original_price_stop_loss"),
        total_entries=signal.get("total_entries") or len(signal.get("entries") or ()) or None,
        note=signal.get("note"),
        scheduled_at=signal.get("scheduled_at"),
        pending_at=signal.get("pending_at"),
        backtest=bool(record.get("backtest", True)),
    )


def partial_figures(events: Sequence[PartialEvent]) -> dict[str, Any]:
    """``total_events``, ``total_profit`` and ``total_loss`` of ``events``."""
    profit = sum(1 for e in events if e.action == "profit")
    return {"total_events": len(events), "total_profit": profit, "total_loss": len(events) - profit}


def _col(key: str, label: str, format) -> Column:
    return Column(key=key, label=label, format=format)


def _closed(value: Any) -> str:
    return fmt.NA if fmt.is_missing(value) else f"{float(value):g}%"


# the columns a partial close shares with a limit entry, as Schedule writes them
_SIGNAL = {c.key: c for c in DEFAULT_SCHEDULE_COLUMNS}

# backtest-kit's partial_columns, in its order: "Level %" is the percent closed here, and
# "Partial Closes", "PNL (net)" and "Partial Executed %" are left out (a commit carries none)
DEFAULT_PARTIAL_COLUMNS: tuple[Column, ...] = (
    _col("action", "Action", lambda r: fmt.text(r.get("action")).upper()),
    _SIGNAL["symbol"],
    _col("strategy_name", "Strategy", lambda r: fmt.text(r.get("strategy_name"))),
    _SIGNAL["signal_id"],
    _SIGNAL["position"],
    _col("percent", "Closed %", lambda r: _closed(r.get("percent"))),
    _col("current_price", "Close Price", lambda r: fmt.price(r.get("current_price"))),
    *(
        _SIGNAL[key]
        for key in (
            "price_open",
            "price_take_profit",
            "price_stop_loss",
            "original_price_take_profit",
            "original_price_stop_loss",
            "original_price_open",
            "total_entries",
            "note",
            "pending_at",
            "scheduled_at",
        )
    ),
    _col("timestamp", "Timestamp", lambda r: fmt.timestamp(r.get("timestamp"))),
    _col("backtest", "Mode", lambda r: "Backtest" if r.get("backtest") else "Live"),
)


def render_partial(
    data: PartialData, columns: Sequence[Column | Mapping[str, Any]] | None = None
) -> str:
    """The report: every partial close, then the counts."""
    return _render(
        "partial.md.j2",
        symbol=fmt.inline(data.symbol),
        strategy_name=fmt.inline(data.strategy_name),
        mode=(
            "backtest (the latest run in this process)"
            if data.backtest
            else "live (the persisted log)"
        ),
        cap=keys.REPORT_LOG_MAX_ROWS,
        total=data.total_events,
        profit=data.total_profit,
        loss=data.total_loss,
        table=_table(
            resolve_columns(columns, DEFAULT_PARTIAL_COLUMNS, "partial"),
            [e.model_dump() for e in data.events],
        ),
    )


class PartialUtils(ListeningReport):
    """The ``Partial`` singleton: ``enable``, ``disable``, ``get_data``, ``get_report``, ``dump``."""

    owner, suffix = "Partial", "partial"

    def __init__(self) -> None:
        super().__init__([("strategy_commit", self._on_commit)], keys.report_partial)

    def _on_commit(self, record: dict[str, Any]) -> None:
        if record.get("action") in PARTIAL_COMMITS:
            self.keep(partial_event(record))

    def get_data(self, symbol: str, strategy_name: str, *, backtest: bool = True) -> PartialData:
        """The partial closes of ``symbol:strategy_name``: of its latest backtest in this
        process (``backtest=True``, after ``enable()``), or of the live log (``backtest=False``,
        a close delivered twice after a crash read once)."""
        events = once_each(
            self.events(symbol, strategy_name, backtest, PartialEvent, "Partial.get_data"),
            lambda e: (e.signal_id, e.timestamp, e.action),
        )
        return PartialData(
            symbol=symbol,
            strategy_name=strategy_name,
            backtest=backtest,
            events=events,
            **partial_figures(events),
        )

    render = staticmethod(render_partial)


Partial = PartialUtils()

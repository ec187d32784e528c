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
from . import live_log
from .feed import Listening, RunBuffers
from .keyed_report import KeyedReport

PARTIAL_COMMITS = {"partial_profit": "profit", "partial_loss": "loss"}  # commit action -> side


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
        timestamp=int(record["timestamp"]), action=PARTIAL_COMMITS[record["action"]], symbol=record["symbol"],
        strategy_name=record["strategy_name"], exchange_name=record.get("exchange_name") or "",
        frame_name=record.get("frame_name") or "", signal_id=str(record.get("signal_id") or signal.get("id")),
        position=signal.get("position"), percent=float(record["percent"]),
        current_price=price if price is not None else record.get("current_price"),
        price_open=signal.get("price_open"), price_take_profit=signal.get("price_take_profit"),
        price_stop_loss=signal.get("price_stop_loss"), original_price_open=signal.get("original_price_open"),
        original_price_take_profit=signal.get("original_price_take_profit"),
        original_price_stop_loss=signal.get("original_price_stop_loss"),
        total_entries=signal.get("total_entries") or len(signal.get("entries") or ()) or None,
        note=signal.get("note"), scheduled_at=signal.get("scheduled_at"), pending_at=signal.get("pending_at"),
        backtest=bool(record.get("backtest", True)))


def partial_figures(events: Sequence[PartialEvent]) -> dict[str, Any]:
    """``total_events``, ``total_profit`` and ``total_loss`` of ``events``."""
    profit = sum(1 for e in events if e.action == "profit")
    return {"total_events": len(events), "total_profit": profit, "total_loss": len(events) - profit}


def _col(key: str, label: str, format) -> Column:
    return Column(key=key, label=label, format=format)


def _closed(value: Any) -> str:
    return fmt.NA if fmt.is_missing(value) else f"{float(value):g}%"


# backtest-kit's partial_columns, in its order: "Level %" is the percent closed here, and
# "Partial Closes", "PNL (net)" and "Partial Executed %" are left out (a commit carries none)
DEFAULT_PARTIAL_COLUMNS: tuple[Column, ...] = (
    _col("action", "Action", lambda r: fmt.text(r.get("action")).upper()),
    _col("symbol", "Symbol", lambda r: fmt.text(r.get("symbol"))),
    _col("strategy_name", "Strategy", lambda r: fmt.text(r.get("strategy_name"))),
    _col("signal_id", "Signal ID", lambda r: fmt.text(r.get("signal_id"))),
    _col("position", "Position", lambda r: fmt.text(r.get("position")).upper()),
    _col("percent", "Closed %", lambda r: _closed(r.get("percent"))),
    _col("current_price", "Close Price", lambda r: fmt.price(r.get("current_price"))),
    _col("price_open", "Entry Price", lambda r: fmt.price(r.get("price_open"))),
    _col("price_take_profit", "Take Profit", lambda r: fmt.price(r.get("price_take_profit"))),
    _col("price_stop_loss", "Stop Loss", lambda r: fmt.price(r.get("price_stop_loss"))),
    _col("original_price_take_profit", "Original TP", lambda r: fmt.price(r.get("original_price_take_profit"))),
    _col("original_price_stop_loss", "Original SL", lambda r: fmt.price(r.get("original_price_stop_loss"))),
    _col("original_price_open", "Original Entry", lambda r: fmt.price(r.get("original_price_open"))),
    _col("total_entries", "DCA Entries", lambda r: fmt.integer(r.get("total_entries"))),
    _col("note", "Note", lambda r: fmt.text(r.get("note"))),
    _col("pending_at", "Pending At", lambda r: fmt.timestamp(r.get("pending_at"))),
    _col("scheduled_at", "Scheduled At", lambda r: fmt.timestamp(r.get("scheduled_at"))),
    _col("timestamp", "Timestamp", lambda r: fmt.timestamp(r.get("timestamp"))),
    _col("backtest", "Mode", lambda r: "Backtest" if r.get("backtest") else "Live"),
)


def render_partial(data: PartialData, columns: Sequence[Column | Mapping[str, Any]] | None = None) -> str:
    """The report: every partial close, then the counts."""
    return _render(
        "partial.md.j2",
        symbol=fmt.inline(data.symbol), strategy_name=fmt.inline(data.strategy_name),
        mode=("backtest (the latest run in this process)" if data.backtest else "live (the persisted log)"),
        cap=keys.REPORT_LOG_MAX_ROWS, total=data.total_events, profit=data.total_profit, loss=data.total_loss,
        table=_table(resolve_columns(columns, DEFAULT_PARTIAL_COLUMNS, "partial"),
                     [e.model_dump() for e in data.events]),
    )


class PartialUtils(KeyedReport):
    """The ``Partial`` singleton: ``enable``, ``disable``, ``get_data``, ``get_report``, ``dump``."""

    owner, suffix = "Partial", "partial"

    def __init__(self) -> None:
        self._buffers = RunBuffers(keys.REPORT_LOG_MAX_ROWS)  # (symbol, strategy) -> partial closes
        self._listening = Listening(self.owner, [("strategy_commit", self._on_commit),
                                                 ("done.backtest", self._on_done)])
        self.require = self._listening.require

    def enable(self) -> None:
        """Listen to ``listen_strategy_commit`` in this process: a backtest's partial closes
        are kept here, a live run's written to the persisted log. Idempotent."""
        self._listening.start()

    def disable(self) -> None:
        """Stop listening and forget this process's backtest events (the live log stays)."""
        self._listening.stop()
        self._buffers.clear()

    def _on_commit(self, record: dict[str, Any]) -> None:
        if record.get("action") not in PARTIAL_COMMITS:
            return
        event = partial_event(record)
        if event.backtest:
            self._buffers.add((event.symbol, event.strategy_name), event)
        else:
            live_log.append(keys.report_partial(event.symbol, event.strategy_name), event)

    def _on_done(self, payload: dict[str, Any]) -> None:
        self._buffers.end_run((payload["symbol"], payload["strategy_name"]))

    def get_data(self, symbol: str, strategy_name: str, *, backtest: bool = True) -> PartialData:
        """The partial closes of ``symbol:strategy_name``: of its latest backtest in this
        process (``backtest=True``, after ``enable()``), or of the live log (``backtest=False``)."""
        if self.checked(symbol, strategy_name, backtest, "Partial.get_data"):
            events = self._buffers.rows((symbol, strategy_name))
        else:
            events = _once_each(live_log.read(keys.report_partial(symbol, strategy_name), PartialEvent))
        return PartialData(symbol=symbol, strategy_name=strategy_name, backtest=backtest, events=events,
                           **partial_figures(events))

    render = staticmethod(render_partial)


def _once_each(events: list[PartialEvent]) -> list[PartialEvent]:
    """The log without repeats of one close (signal, candle, side): a live run restarted after a
    crash may deliver a commit twice."""
    seen: set[tuple[str, int, str]] = set()
    kept = []
    for event in events:
        if (event.signal_id, event.timestamp, event.action) not in seen:
            seen.add((event.signal_id, event.timestamp, event.action))
            kept.append(event)
    return kept


Partial = PartialUtils()

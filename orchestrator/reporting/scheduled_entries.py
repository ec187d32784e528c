"""``Schedule``: the limit entries of one ``symbol:strategy``: scheduled, opened (from a
schedule) and cancelled, with the rates and waits of backtest-kit's schedule report
(``ScheduleMarkdownService``; issue 32, 3).

Fed by the signal events once ``Schedule.enable()`` is called: a backtest's are
kept in this process (the latest run of each ``symbol:strategy``), a live run's
go to the persisted log ``keys.report_schedule``, which every process reads
(``backtest=False``). Either keeps the newest ``REPORT_LOG_MAX_ROWS`` events.

The figures, as backtest-kit computes them:
- ``activation_rate`` and ``cancellation_rate`` count only the outcomes (opened,
  cancelled) whose "scheduled" event is in the buffer (matched by signal id):
  a window that dropped the scheduling would otherwise push a rate past 100 %.
  They sum to 100; both are None when no outcome is matched.
- ``avg_activation_time``: mean minutes from scheduling to activation over every
  opened event in the buffer; ``avg_wait_time``: the same to cancellation over
  every cancelled one. None when there is none.
An opened event counts when its signal waited (``pending_at != scheduled_at``)
or was seen scheduled: a limit price reached on the scheduling candle itself
opens at that minute and is still a scheduled entry (backtest-kit drops it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from btfarm.shared.results import CancelledResult, OpenedResult, ScheduledResult
from btfarm.shared.store import keys

from ..reports import _format as fmt
from ..reports.columns import Column, resolve_columns
from ..reports.render import _render, _table
from .feed import once_each
from .keyed_report import ListeningReport, field_column, text_or_na, upper_text

MS_PER_MINUTE = 60_000  # milliseconds in a minute


class ScheduledEvent(BaseModel):
    """One scheduled, opened or cancelled limit entry (backtest-kit's ``ScheduledEvent``)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: int  # ms: scheduled_at, pending_at (opened) or close_timestamp (cancelled)
    action: Literal["scheduled", "opened", "cancelled"]
    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    signal_id: str
    position: str
    note: str | None = None
    current_price: float | None = None
    price_open: float  # the limit price
    price_take_profit: float
    price_stop_loss: float
    original_price_open: float | None = None
    original_price_take_profit: float | None = None
    original_price_stop_loss: float | None = None
    total_entries: int | None = None
    total_partials: int | None = None
    duration: float | None = None  # minutes from scheduled_at to the activation or the cancel
    scheduled_at: int
    pending_at: int | None = None  # ms: the activation (opened only)
    close_timestamp: int | None = None  # ms: the cancel (cancelled only)
    cancel_reason: str | None = None  # timeout | price_reject | user
    cancel_id: str | None = None  # the id given to commit_cancel_scheduled
    backtest: bool


class ScheduleData(BaseModel):
    """What ``Schedule.get_data`` returns (backtest-kit's ``ScheduleStatisticsModel``)."""

    symbol: str
    strategy_name: str
    backtest: bool
    events: list[ScheduledEvent]  # oldest first
    total_events: int
    total_scheduled: int  # raw count in the buffer (outcomes may be missing or evicted)
    total_opened: int
    total_cancelled: int
    activation_rate: float | None  # percent of matched outcomes that opened
    cancellation_rate: float | None  # percent of matched outcomes cancelled
    avg_activation_time: float | None  # minutes
    avg_wait_time: float | None  # minutes, cancelled entries


def scheduled_event(result: ScheduledResult | OpenedResult | CancelledResult) -> ScheduledEvent:
    """A signal event as a ``ScheduledEvent``."""
    sig = result.signal
    fields: dict[str, Any] = dict(
        action=result.action,
        symbol=result.symbol,
        strategy_name=result.strategy_name,
        exchange_name=result.exchange_name,
        frame_name=result.frame_name,
        signal_id=sig.id,
        position=sig.position,
        note=sig.note,
        current_price=result.current_price,
        price_open=sig.price_open,
        price_take_profit=sig.price_take_profit,
        price_stop_loss=sig.price_stop_loss,
        original_price_open=sig.original_price_open,
        original_price_take_profit=sig.original_price_take_profit,
        original_price_stop_loss=sig.original_price_stop_loss,
        total_entries=sig.total_entries,
        total_partials=sig.total_partials,
        scheduled_at=sig.scheduled_at,
        backtest=result.backtest,
    )
    if result.action == "scheduled":
        fields.update(timestamp=sig.scheduled_at)
    elif result.action == "opened":
        fields.update(
            timestamp=sig.pending_at,
            pending_at=sig.pending_at,
            duration=(sig.pending_at - sig.scheduled_at) / MS_PER_MINUTE,
        )
    else:
        fields.update(
            timestamp=result.close_timestamp,
            close_timestamp=result.close_timestamp,
            duration=(result.close_timestamp - sig.scheduled_at) / MS_PER_MINUTE,
            cancel_reason=result.cancel_reason,
            cancel_id=sig.close_id,
        )
    return ScheduledEvent(**fields)


def schedule_figures(events: Sequence[ScheduledEvent]) -> dict[str, Any]:
    """The counts, rates and mean waits of ``events`` (see the module docstring)."""
    scheduled = [e for e in events if e.action == "scheduled"]
    opened = [e for e in events if e.action == "opened"]
    cancelled = [e for e in events if e.action == "cancelled"]
    scheduled_ids = {e.signal_id for e in scheduled}
    opened_matched = sum(1 for e in opened if e.signal_id in scheduled_ids)
    cancelled_matched = sum(1 for e in cancelled if e.signal_id in scheduled_ids)
    resolved = opened_matched + cancelled_matched
    return {
        "total_events": len(events),
        "total_scheduled": len(scheduled),
        "total_opened": len(opened),
        "total_cancelled": len(cancelled),
        "activation_rate": opened_matched / resolved * 100.0 if resolved else None,
        "cancellation_rate": cancelled_matched / resolved * 100.0 if resolved else None,
        "avg_activation_time": _mean([e.duration for e in opened]),
        "avg_wait_time": _mean([e.duration for e in cancelled]),
    }


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _minutes(value: Any) -> str:
    return fmt.NA if fmt.is_missing(value) else f"{float(value):g}"


# backtest-kit's schedule_columns, in its order, less "PNL (net)" and "Partial Executed %"
# (a limit entry has neither before it opens); the note is shown, as in btfarm's other reports
DEFAULT_SCHEDULE_COLUMNS: tuple[Column, ...] = (
    field_column("timestamp", "Timestamp", fmt.timestamp),
    field_column("action", "Action", upper_text),
    field_column("symbol", "Symbol", fmt.text),
    field_column("signal_id", "Signal ID", fmt.text),
    field_column("position", "Position", upper_text),
    field_column("note", "Note", fmt.text),
    field_column("current_price", "Current Price", fmt.price),
    field_column("price_open", "Entry Price", fmt.price),
    field_column("price_take_profit", "Take Profit", fmt.price),
    field_column("price_stop_loss", "Stop Loss", fmt.price),
    field_column("original_price_take_profit", "Original TP", fmt.price),
    field_column("original_price_stop_loss", "Original SL", fmt.price),
    field_column("original_price_open", "Original Entry", fmt.price),
    field_column("total_entries", "DCA Entries", fmt.integer),
    field_column("total_partials", "Partial Closes", fmt.integer),
    field_column("duration", "Wait Time (min)", _minutes),
    field_column("cancel_reason", "Cancel Reason", lambda v: upper_text(v) or fmt.NA),
    field_column("cancel_id", "Cancel ID", text_or_na),
    field_column("pending_at", "Pending At", fmt.timestamp),
    field_column("scheduled_at", "Scheduled At", fmt.timestamp),
)


def render_schedule(
    data: ScheduleData, columns: Sequence[Column | Mapping[str, Any]] | None = None
) -> str:
    """The report: every event, then the counts, the rates and the waits with their definitions."""
    rows = [e.model_dump() for e in data.events]
    return _render(
        "schedule.md.j2",
        symbol=fmt.inline(data.symbol),
        strategy_name=fmt.inline(data.strategy_name),
        mode=(
            "backtest (the latest run in this process)"
            if data.backtest
            else "live (the persisted log)"
        ),
        cap=keys.REPORT_LOG_MAX_ROWS,
        totals=[
            ("Total events", fmt.integer(data.total_events), ""),
            ("Scheduled (raw)", fmt.integer(data.total_scheduled), ""),
            ("Opened", fmt.integer(data.total_opened), ""),
            ("Cancelled", fmt.integer(data.total_cancelled), ""),
            ("Activation rate", fmt.percent(data.activation_rate), "higher is better"),
            ("Cancellation rate", fmt.percent(data.cancellation_rate), "lower is better"),
            ("Average activation time", _wait(data.avg_activation_time), ""),
            ("Average wait time (cancelled)", _wait(data.avg_wait_time), ""),
        ],
        table=_table(resolve_columns(columns, DEFAULT_SCHEDULE_COLUMNS, "schedule"), rows),
    )


def _wait(minutes: float | None) -> str:
    return fmt.NA if minutes is None else f"{minutes:.2f} minutes"


class ScheduleUtils(ListeningReport):
    """The ``Schedule`` singleton: ``enable``, ``disable``, ``get_data``, ``get_report``, ``dump``."""

    owner, suffix = "Schedule", "schedule"

    def __init__(self) -> None:
        super().__init__([("signal", self._on_signal)], keys.report_schedule)
        self._last_scheduled: dict[
            tuple[bool, str, str], str
        ] = {}  # the last id seen scheduled, per key
        self._lock = threading.Lock()

    def disable(self) -> None:
        """Stop listening and forget this process's backtest events (the live log stays)."""
        super().disable()
        with self._lock:
            self._last_scheduled.clear()

    def _on_signal(self, result: Any) -> None:
        action = getattr(result, "action", None)
        if action not in ("scheduled", "opened", "cancelled"):
            return
        key = (result.backtest, result.symbol, result.strategy_name)
        with self._lock:
            if action == "scheduled":
                self._last_scheduled[key] = result.signal.id
            elif action == "opened":
                waited = result.signal.pending_at != result.signal.scheduled_at
                if not waited and self._last_scheduled.get(key) != result.signal.id:
                    return  # a market entry (or a limit already reached when decided): not scheduled
        self.keep(scheduled_event(result))

    def get_data(self, symbol: str, strategy_name: str, *, backtest: bool = True) -> ScheduleData:
        """The limit entries of ``symbol:strategy_name``: of its latest backtest in this
        process (``backtest=True``, after ``enable()``), or of the live log (``backtest=False``;
        an event delivered twice after a crash read once)."""
        events = once_each(
            self.events(symbol, strategy_name, backtest, ScheduledEvent, "Schedule.get_data"),
            lambda e: (e.action, e.signal_id),
        )
        return ScheduleData(
            symbol=symbol,
            strategy_name=strategy_name,
            backtest=backtest,
            events=events,
            **schedule_figures(events),
        )

    render = staticmethod(render_schedule)


Schedule = ScheduleUtils()

"""``Risk``: every signal a risk refused, for one ``symbol:strategy`` (backtest-kit's
``Risk`` report; issue 32, 3).

Fed by ``listen_risk`` once ``Risk.enable()`` is called: a backtest's rejections
are kept in this process (those of the latest run of each ``symbol:strategy``,
the newest ``REPORT_LOG_MAX_ROWS``); a live run's go to the persisted log
``keys.report_risk``, which every process reads (``backtest=False``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from btfarm.shared.registry import get_strategy
from btfarm.shared.store import keys

from ..reports import _format as fmt
from ..reports.columns import Column, resolve_columns
from ..reports.dump import FORMATS, dump_bundle
from ..reports.render import _render, _table
from . import live_log
from .feed import Listening, RunBuffers, check_backtest, check_name, risk_in_backtest


class RiskEvent(BaseModel):
    """One rejection: the candidate signal, where and when, and why."""

    model_config = ConfigDict(extra="forbid")

    timestamp: int  # ms: the tick the signal was decided at
    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    risk_name: str
    signal_id: str | None = None  # the id the strategy gave, if any (a refused signal gets none)
    position: str | None = None
    price_open: float | None = None  # None: a market entry (it would have opened at current_price)
    price_take_profit: float | None = None
    price_stop_loss: float | None = None
    note: str | None = None
    current_price: float | None = None
    active_position_count: int | None = None  # when the event carries it
    rejection_id: str | None = None  # a validation's {"id"}, when the event carries it
    rejection_note: str  # why: the validation's answer or exception
    backtest: bool


class RiskData(BaseModel):
    """What ``Risk.get_data`` returns (backtest-kit's ``RiskStatisticsModel``)."""

    symbol: str
    strategy_name: str
    backtest: bool
    events: list[RiskEvent]  # oldest first
    total_rejections: int
    by_symbol: dict[str, int]
    by_strategy: dict[str, int]


def risk_event(record: Mapping[str, Any], backtest: bool) -> RiskEvent:
    """A ``listen_risk`` payload as a ``RiskEvent``."""
    signal = record.get("signal") or {}
    note = record.get("rejection_note", record.get("reason"))
    return RiskEvent(
        timestamp=int(record["timestamp"]), symbol=record["symbol"], strategy_name=record["strategy_name"],
        exchange_name=record.get("exchange_name") or "", frame_name=record.get("frame_name") or "",
        risk_name=record.get("risk_name") or "", signal_id=signal.get("id"), position=signal.get("position"),
        price_open=signal.get("price_open"), price_take_profit=signal.get("price_take_profit"),
        price_stop_loss=signal.get("price_stop_loss"), note=signal.get("note"),
        current_price=record.get("current_price"), active_position_count=record.get("active_position_count"),
        rejection_id=record.get("rejection_id"),
        rejection_note=str(note if note is not None else record.get("message", "")), backtest=backtest)


def risk_figures(events: Sequence[RiskEvent]) -> dict[str, Any]:
    """``total_rejections``, ``by_symbol`` and ``by_strategy`` of ``events``."""
    return {"total_rejections": len(events),
            "by_symbol": dict(Counter(e.symbol for e in events)),
            "by_strategy": dict(Counter(e.strategy_name for e in events))}


def _col(key: str, label: str, format) -> Column:
    return Column(key=key, label=label, format=format)


DEFAULT_RISK_COLUMNS: tuple[Column, ...] = (
    _col("timestamp", "Time", lambda r: fmt.timestamp(r.get("timestamp"))),
    _col("symbol", "Symbol", lambda r: fmt.text(r.get("symbol"))),
    _col("strategy_name", "Strategy", lambda r: fmt.text(r.get("strategy_name"))),
    _col("exchange_name", "Exchange", lambda r: fmt.text(r.get("exchange_name"))),
    _col("risk_name", "Risk", lambda r: fmt.text(r.get("risk_name"))),
    _col("signal_id", "Signal ID", lambda r: fmt.text(r.get("signal_id")) or fmt.NA),
    _col("position", "Position", lambda r: fmt.text(r.get("position"))),
    _col("price_open", "Open Price", lambda r: fmt.price(r.get("price_open"))),
    _col("price_take_profit", "Take Profit", lambda r: fmt.price(r.get("price_take_profit"))),
    _col("price_stop_loss", "Stop Loss", lambda r: fmt.price(r.get("price_stop_loss"))),
    _col("current_price", "Current Price", lambda r: fmt.price(r.get("current_price"))),
    _col("active_position_count", "Active Positions", lambda r: fmt.integer(r.get("active_position_count"))),
    _col("rejection_id", "ID", lambda r: fmt.text(r.get("rejection_id")) or fmt.NA),
    _col("rejection_note", "Rejection Reason", lambda r: fmt.text(r.get("rejection_note"))),
    _col("note", "Note", lambda r: fmt.text(r.get("note"))),
)


def render_risk(data: RiskData, columns: Sequence[Column | Mapping[str, Any]] | None = None) -> str:
    """The report: totals, rejections by symbol and by strategy, then every rejection."""
    rows = [e.model_dump() for e in data.events]
    return _render(
        "risk.md.j2",
        symbol=fmt.inline(data.symbol), strategy_name=fmt.inline(data.strategy_name),
        mode=_mode_line(data.backtest), total=data.total_rejections,
        by_symbol=[(fmt.cell(k), v) for k, v in data.by_symbol.items()],
        by_strategy=[(fmt.cell(k), v) for k, v in data.by_strategy.items()],
        table=_table(resolve_columns(columns, DEFAULT_RISK_COLUMNS, "risk"), rows),
    )


def _mode_line(backtest: bool) -> str:
    if backtest:
        return "backtest (the latest run in this process)"
    return f"live (the persisted log: its newest {keys.REPORT_LOG_MAX_ROWS} rejections)"


class RiskUtils:
    """The ``Risk`` singleton: ``enable``, ``disable``, ``get_data``, ``get_report``, ``dump``."""

    def __init__(self) -> None:
        self._buffers = RunBuffers(keys.REPORT_LOG_MAX_ROWS)  # (symbol, strategy) -> rejections
        self._listening = Listening("Risk", [("risk", self._on_risk), ("done.backtest", self._on_done)])

    def enable(self) -> None:
        """Listen to ``listen_risk`` in this process: backtest rejections are kept here,
        live ones written to the persisted log. Idempotent."""
        self._listening.start()

    def disable(self) -> None:
        """Stop listening and forget this process's backtest rejections (the live log stays)."""
        self._listening.stop()
        self._buffers.clear()

    def _on_risk(self, record: dict[str, Any]) -> None:
        backtest = risk_in_backtest(record)
        event = risk_event(record, backtest)
        if backtest:
            self._buffers.add((event.symbol, event.strategy_name), event)
        else:
            live_log.append(keys.report_risk(event.symbol, event.strategy_name), event)

    def _on_done(self, payload: dict[str, Any]) -> None:
        self._buffers.end_run((payload["symbol"], payload["strategy_name"]))

    def get_data(self, symbol: str, strategy_name: str, *, backtest: bool = True) -> RiskData:
        """Every rejection of ``symbol:strategy_name``: of its latest backtest in this process
        (``backtest=True``, after ``enable()``), or of the live log (``backtest=False``)."""
        needed_by = "Risk.get_data"
        check_name(symbol, "symbol", needed_by)
        check_name(strategy_name, "strategy_name", needed_by)
        if check_backtest(backtest, needed_by):
            get_strategy(strategy_name, needed_by)
            self._listening.require(needed_by)
            events = self._buffers.rows((symbol, strategy_name))
        else:
            events = live_log.read(keys.report_risk(symbol, strategy_name), RiskEvent)
        return RiskData(symbol=symbol, strategy_name=strategy_name, backtest=backtest, events=events,
                        **risk_figures(events))

    def get_report(self, symbol: str, strategy_name: str, columns: Sequence[Any] | None = None, *,
                   backtest: bool = True) -> str:
        return render_risk(self.get_data(symbol, strategy_name, backtest=backtest), columns)

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None,
             columns: Sequence[Any] | None = None, *, backtest: bool = True,
             formats: Sequence[str] = FORMATS) -> Path:
        """Write the report and its HTML twin; default
        ``./dump/{backtest|live}/{strategy_name}.risk.md``."""
        text = self.get_report(symbol, strategy_name, columns, backtest=backtest)
        return dump_bundle(lambda stem: (text, {}), "backtest" if backtest else "live",
                           f"{strategy_name}.risk", path, formats)


Risk = RiskUtils()

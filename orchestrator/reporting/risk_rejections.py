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
from typing import Any

from pydantic import BaseModel, ConfigDict

from btfarm.shared.store import keys

from ..reports import _format as fmt
from ..reports.columns import Column, resolve_columns
from ..reports.render import _render, _table
from .feed import risk_in_backtest
from .keyed_report import ListeningReport, field_column, text_or_na


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
        timestamp=int(record["timestamp"]),
        symbol=record["symbol"],
        strategy_name=record["strategy_name"],
        exchange_name=record.get("exchange_name") or "",
        frame_name=record.get("frame_name") or "",
        risk_name=record.get("risk_name") or "",
        signal_id=signal.get("id"),
        position=signal.get("position"),
        price_open=signal.get("price_open"),
        price_take_profit=signal.get("price_take_profit"),
        price_stop_loss=signal.get("price_stop_loss"),
        note=signal.get("note"),
        current_price=record.get("current_price"),
        active_position_count=record.get("active_position_count"),
        rejection_id=record.get("rejection_id"),
        rejection_note=str(note if note is not None else record.get("message", "")),
        backtest=backtest,
    )


def risk_figures(events: Sequence[RiskEvent]) -> dict[str, Any]:
    """``total_rejections``, ``by_symbol`` and ``by_strategy`` of ``events``."""
    return {
        "total_rejections": len(events),
        "by_symbol": dict(Counter(e.symbol for e in events)),
        "by_strategy": dict(Counter(e.strategy_name for e in events)),
    }


DEFAULT_RISK_COLUMNS: tuple[Column, ...] = (
    field_column("timestamp", "Time", fmt.timestamp),
    field_column("symbol", "Symbol", fmt.text),
    field_column("strategy_name", "Strategy", fmt.text),
    field_column("exchange_name", "Exchange", fmt.text),
    field_column("risk_name", "Risk", fmt.text),
    field_column("signal_id", "Signal ID", text_or_na),
    field_column("position", "Position", fmt.text),
    field_column("price_open", "Open Price", fmt.price),
    field_column("price_take_profit", "Take Profit", fmt.price),
    field_column("price_stop_loss", "Stop Loss", fmt.price),
    field_column("current_price", "Current Price", fmt.price),
    field_column("active_position_count", "Active Positions", fmt.integer),
    field_column("rejection_id", "ID", text_or_na),
    field_column("rejection_note", "Rejection Reason", fmt.text),
    field_column("note", "Note", fmt.text),
)


def render_risk(data: RiskData, columns: Sequence[Column | Mapping[str, Any]] | None = None) -> str:
    """The report: totals, rejections by symbol and by strategy, then every rejection."""
    rows = [e.model_dump() for e in data.events]
    return _render(
        "risk.md.j2",
        symbol=fmt.inline(data.symbol),
        strategy_name=fmt.inline(data.strategy_name),
        mode=_mode_line(data.backtest),
        total=data.total_rejections,
        by_symbol=[(fmt.cell(k), v) for k, v in data.by_symbol.items()],
        by_strategy=[(fmt.cell(k), v) for k, v in data.by_strategy.items()],
        table=_table(resolve_columns(columns, DEFAULT_RISK_COLUMNS, "risk"), rows),
    )


def _mode_line(backtest: bool) -> str:
    if backtest:
        return "backtest (the latest run in this process)"
    return f"live (the persisted log: its newest {keys.REPORT_LOG_MAX_ROWS} rejections)"


class RiskUtils(ListeningReport):
    """The ``Risk`` singleton: ``enable``, ``disable``, ``get_data``, ``get_report``, ``dump``."""

    owner, suffix = "Risk", "risk"

    def __init__(self) -> None:
        super().__init__([("risk", self._on_risk)], keys.report_risk)

    def _on_risk(self, record: dict[str, Any]) -> None:
        self.keep(risk_event(record, risk_in_backtest(record)))

    def get_data(self, symbol: str, strategy_name: str, *, backtest: bool = True) -> RiskData:
        """Every rejection of ``symbol:strategy_name``: of its latest backtest in this process
        (``backtest=True``, after ``enable()``), or of the live log (``backtest=False``)."""
        events = self.events(symbol, strategy_name, backtest, RiskEvent, "Risk.get_data")
        return RiskData(
            symbol=symbol,
            strategy_name=strategy_name,
            backtest=backtest,
            events=events,
            **risk_figures(events),
        )

    render = staticmethod(render_risk)


Risk = RiskUtils()

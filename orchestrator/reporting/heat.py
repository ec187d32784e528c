"""``Heat``: one strategy across symbols, a row per symbol and the portfolio line
(backtest-kit's ``Heat`` / ``HeatMarkdownService``; issue 32, 3), with a picture of
PnL by symbol and month.

Fed by the closed signals once ``Heat.enable()`` is called: for a backtest, the
latest run of each symbol of that strategy, exchange and frame in this process
(every closed signal, so a row equals that symbol's ``Backtest`` statistics);
for live, the persisted log ``keys.report_heat`` of each symbol (its newest
``REPORT_LOG_MAX_ROWS`` trades), which every process reads (``backtest=False``).

A row's figures are SEMANTICS 4's over the symbol's trades. The portfolio line
pools every symbol's trades into one sample, as backtest-kit's heatmap does:
total PnL and trades are sums, Sharpe, win rate, profit factor and expectancy
are over the pooled trades (N >= 10 where SEMANTICS 4 gates), and the max
drawdown is that of the pooled compounded equity, trades taken in close order.
It is not a Markowitz portfolio: correlations and capital are ignored.
Rows are sorted by Sharpe (best first, N/A last), then total PnL, then symbol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from btfarm.shared.errors import UsageError
from btfarm.shared.registry import get_exchange, get_frame, get_strategy
from btfarm.shared.results import ClosedResult
from btfarm.shared.stats import statistics_from_arrays
from btfarm.shared.store import keys

from ..reports import _format as fmt
from ..reports.columns import Column, resolve_columns
from ..reports.dump import FORMATS, dump_bundle
from ..reports.render import _render, _table, picture_links
from . import live_log
from .feed import Listening, RunBuffers, check_backtest, check_name
from .heat_months import symbol_month_pnl
from .heat_picture import heat_picture

PORTFOLIO = "Portfolio (pooled)"  # the portfolio line's label in the symbol column
ROW_FIGURES = (
    "total_pnl",
    "sharpe_ratio",
    "win_rate",
    "profit_factor",
    "max_drawdown",
    "expectancy",
    "avg_pnl",
    "win_count",
    "loss_count",
)  # what a row takes from the statistics


class HeatTrade(BaseModel):
    """What Heat keeps of one closed signal."""

    model_config = ConfigDict(extra="forbid")

    signal_id: str
    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str = ""
    position: str
    pending_at: int  # ms
    close_timestamp: int  # ms
    close_reason: str
    pnl_percentage: float


class HeatRow(BaseModel):
    """One symbol's figures (or the portfolio line's): percent, ratios and counts."""

    symbol: str
    total_pnl: float | None  # percent: sum of the trades' PnL
    sharpe_ratio: float | None  # per trade; N >= 10
    win_rate: float | None  # percent of wins among wins + losses
    profit_factor: float | None  # gross wins / |gross losses|
    max_drawdown: float | None  # percent of the compounded equity's running peak
    total_trades: int
    expectancy: float | None  # percent per trade; N >= 10
    avg_pnl: float | None  # percent per trade
    win_count: int
    loss_count: int


class HeatData(BaseModel):
    """What ``Heat.get_data`` returns (backtest-kit's ``HeatmapStatisticsModel``)."""

    strategy_name: str
    exchange_name: str
    frame_name: str
    backtest: bool
    total_symbols: int
    symbols: list[HeatRow]  # sorted: Sharpe, then total PnL (best first), then symbol
    portfolio: HeatRow  # every symbol's trades pooled


def heat_trade(result: ClosedResult) -> HeatTrade:
    return HeatTrade(
        signal_id=result.signal.id,
        symbol=result.symbol,
        strategy_name=result.strategy_name,
        exchange_name=result.exchange_name,
        frame_name=result.frame_name,
        position=result.signal.position,
        pending_at=result.signal.pending_at,
        close_timestamp=result.close_timestamp,
        close_reason=result.close_reason,
        pnl_percentage=result.pnl.pnl_percentage,
    )


def heat_row(symbol: str, trades: Sequence[HeatTrade]) -> HeatRow:
    """SEMANTICS 4's figures of ``trades``, taken in close order."""
    stats = statistics_from_arrays(
        np.array([t.pnl_percentage for t in trades], dtype=float),
        np.array([t.pending_at for t in trades], dtype=float),
        np.array([t.close_timestamp for t in trades], dtype=float),
    )
    return HeatRow(
        symbol=symbol,
        total_trades=stats.total_signals,
        **{name: getattr(stats, name) for name in ROW_FIGURES},
    )


def _order(row: HeatRow) -> tuple:
    sharpe, total = row.sharpe_ratio, row.total_pnl
    return (sharpe is None, -(sharpe or 0.0), total is None, -(total or 0.0), row.symbol)


def heat_table(trades: Mapping[str, Sequence[HeatTrade]]) -> tuple[list[HeatRow], HeatRow]:
    """The symbols' rows, sorted, and the portfolio line over every trade pooled."""
    rows = sorted((heat_row(symbol, list(t)) for symbol, t in trades.items()), key=_order)
    pooled = [t for symbol in trades for t in trades[symbol]]
    return rows, heat_row(PORTFOLIO, pooled)


def _col(key: str, label: str, name: str) -> Column:
    return Column(key=key, label=label, format=lambda r: fmt.stat_value(name, r.get(name)))


DEFAULT_HEAT_COLUMNS: tuple[Column, ...] = (
    Column(key="symbol", label="Symbol", format=lambda r: fmt.text(r.get("symbol"))),
    _col("total_pnl", "Total PNL", "total_pnl"),
    _col("sharpe_ratio", "Sharpe", "sharpe_ratio"),
    _col("win_rate", "Win Rate", "win_rate"),
    _col("profit_factor", "Profit Factor", "profit_factor"),
    _col("max_drawdown", "Max Drawdown", "max_drawdown"),
    Column(key="total_trades", label="Trades", format=lambda r: fmt.integer(r.get("total_trades"))),
    _col("expectancy", "Expectancy", "expectancy"),
)


def render_heat(
    data: HeatData,
    columns: Sequence[Column | Mapping[str, Any]] | None = None,
    pictures: Sequence[tuple[str, str]] = (),
) -> str:
    """The report: the portfolio's figures, the table (the portfolio line last, in bold),
    the picture, what the figures mean."""
    rows = [r.model_dump() for r in data.symbols] + [data.portfolio.model_dump()]
    table = _table(resolve_columns(columns, DEFAULT_HEAT_COLUMNS, "heat"), rows)
    if data.symbols:
        table["rows"][-1] = [f"**{c}**" if c else c for c in table["rows"][-1]]
    else:
        table["rows"] = []
    p = data.portfolio
    summary = [
        ("Total symbols", str(data.total_symbols), ""),
        ("Portfolio PNL (sum)", fmt.stat_value("total_pnl", p.total_pnl), "higher is better"),
        ("Pooled Sharpe", fmt.stat_value("sharpe_ratio", p.sharpe_ratio), "higher is better"),
        ("Pooled win rate", fmt.stat_value("win_rate", p.win_rate), "higher is better"),
        (
            "Pooled profit factor",
            fmt.stat_value("profit_factor", p.profit_factor),
            "higher is better",
        ),
        ("Pooled max drawdown", fmt.stat_value("max_drawdown", p.max_drawdown), "lower is better"),
        ("Total trades", fmt.integer(p.total_trades), ""),
        ("Pooled expectancy", fmt.stat_value("expectancy", p.expectancy), "higher is better"),
    ]
    return _render(
        "heat.md.j2",
        strategy_name=fmt.inline(data.strategy_name),
        exchange_name=fmt.inline(data.exchange_name),
        frame_name=fmt.inline(data.frame_name) if data.frame_name else "",
        mode=(
            "backtest (the latest run of each symbol in this process)"
            if data.backtest
            else f"live (the persisted log: each symbol's newest {keys.REPORT_LOG_MAX_ROWS} trades)"
        ),
        summary=summary,
        table=table,
        portfolio=PORTFOLIO,
        pictures=picture_links(pictures),
    )


class HeatUtils:
    """The ``Heat`` singleton: ``enable``, ``disable``, ``get_data``, ``get_report``, ``dump``."""

    def __init__(self) -> None:
        # (strategy, exchange, frame, symbol) -> the trades of that symbol's latest backtest, all of them
        self._buffers = RunBuffers(None)
        self._listening = Listening(
            "Heat", [("signal", self._on_signal), ("done.backtest", self._on_done)]
        )

    def enable(self) -> None:
        """Listen to the closed signals in this process: a backtest's are kept here, a live
        run's written to the persisted log. Idempotent."""
        self._listening.start()

    def disable(self) -> None:
        """Stop listening and forget this process's backtest trades (the live log stays)."""
        self._listening.stop()
        self._buffers.clear()

    def _on_signal(self, result: Any) -> None:
        if getattr(result, "action", None) != "closed":
            return
        trade = heat_trade(result)
        if result.backtest:
            self._buffers.add(
                (trade.strategy_name, trade.exchange_name, trade.frame_name, trade.symbol), trade
            )
        else:
            live_log.append(
                keys.report_heat(trade.strategy_name, trade.symbol),
                trade,
                index=(keys.report_heat_symbols(trade.strategy_name), trade.symbol),
            )

    def _on_done(self, payload: dict[str, Any]) -> None:
        self._buffers.end_run(
            (
                payload["strategy_name"],
                payload["exchange_name"],
                payload["frame_name"],
                payload["symbol"],
            )
        )

    def trades(
        self,
        strategy_name: str,
        exchange_name: str,
        frame_name: str = "",
        *,
        backtest: bool = True,
        needed_by: str = "Heat.trades",
    ) -> dict[str, list[HeatTrade]]:
        """The trades behind the figures, by symbol (symbols in first-seen order)."""
        check_name(strategy_name, "strategy_name", needed_by)
        check_name(exchange_name, "exchange_name", needed_by)
        if check_backtest(backtest, needed_by):
            check_name(frame_name, "frame_name", needed_by)
            get_strategy(strategy_name, needed_by)
            get_exchange(exchange_name, needed_by)
            get_frame(frame_name, needed_by)
            self._listening.require(needed_by)
            wanted = (strategy_name, exchange_name, frame_name)
            return {
                key[3]: self._buffers.rows(key) for key in self._buffers.keys() if key[:3] == wanted
            }
        if frame_name:
            raise UsageError(
                f"{needed_by}: a live run has no frame; leave frame_name out with backtest=False "
                f"(got {frame_name!r})"
            )
        found = {}
        for symbol in live_log.members(keys.report_heat_symbols(strategy_name)):
            seen: set[str] = set()
            kept = []
            for trade in live_log.read(keys.report_heat(strategy_name, symbol), HeatTrade):
                if trade.exchange_name == exchange_name and trade.signal_id not in seen:
                    seen.add(trade.signal_id)  # (a live run restarted after a crash may repeat one)
                    kept.append(trade)
            if kept:
                found[symbol] = kept
        return found

    def get_data(
        self, strategy_name: str, exchange_name: str, frame_name: str = "", *, backtest: bool = True
    ) -> HeatData:
        """A row per symbol and the portfolio line: the latest backtest of each symbol of
        ``strategy_name`` on ``exchange_name`` over ``frame_name`` in this process
        (``backtest=True``, after ``enable()``), or the live log (``backtest=False``, no frame)."""
        trades = self.trades(
            strategy_name, exchange_name, frame_name, backtest=backtest, needed_by="Heat.get_data"
        )
        rows, portfolio = heat_table(trades)
        return HeatData(
            strategy_name=strategy_name,
            exchange_name=exchange_name,
            frame_name=frame_name,
            backtest=backtest,
            total_symbols=len(rows),
            symbols=rows,
            portfolio=portfolio,
        )

    def get_report(
        self,
        strategy_name: str,
        exchange_name: str,
        frame_name: str = "",
        columns: Sequence[Any] | None = None,
        *,
        backtest: bool = True,
        pictures: Sequence[tuple[str, str]] = (),
    ) -> str:
        return render_heat(
            self.get_data(strategy_name, exchange_name, frame_name, backtest=backtest),
            columns,
            pictures,
        )

    def dump(
        self,
        strategy_name: str,
        exchange_name: str,
        frame_name: str = "",
        path: str | Path | None = None,
        columns: Sequence[Any] | None = None,
        *,
        backtest: bool = True,
        formats: Sequence[str] = FORMATS,
    ) -> Path:
        """Write the report, its picture of PnL by symbol and month, and its HTML twin;
        default ``./dump/{backtest|live}/{strategy_name}.heat.md``."""
        trades = self.trades(
            strategy_name, exchange_name, frame_name, backtest=backtest, needed_by="Heat.dump"
        )
        rows, portfolio = heat_table(trades)
        data = HeatData(
            strategy_name=strategy_name,
            exchange_name=exchange_name,
            frame_name=frame_name,
            backtest=backtest,
            total_symbols=len(rows),
            symbols=rows,
            portfolio=portfolio,
        )

        def render(stem: str) -> tuple[str, dict[str, str]]:
            file = f"{stem}.months.svg"
            months = symbol_month_pnl(
                {s: [(t.close_timestamp, t.pnl_percentage) for t in trades[s]] for s in trades},
                order=[r.symbol for r in rows],
            )
            picture = heat_picture(months, f"{strategy_name}: PNL % by symbol and month")
            return render_heat(data, columns, [("PNL by symbol and month", file)]), {file: picture}

        return dump_bundle(
            render, "backtest" if backtest else "live", f"{strategy_name}.heat", path, formats
        )


Heat = HeatUtils()

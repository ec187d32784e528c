"""What the reporting classes keyed by ``symbol:strategy`` share (``Partial``,
``Performance``): the argument checks of ``get_data``, where its rows come from
(this process's latest backtest, or the persisted live log), and ``get_report`` and
``dump`` on top of a class's ``get_data`` and renderer; and ``field_column``, the
column their tables show one event field in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from btfarm.shared.registry import get_strategy
from btfarm.shared.store import keys

from ..reports import _format as fmt
from ..reports.columns import Column
from ..reports.dump import FORMATS, dump_bundle
from . import live_log
from .feed import Listening, RunBuffers, check_backtest, check_name


def field_column(key: str, label: str, format: Callable[[Any], str]) -> Column:
    """The column ``label`` showing the row's ``key`` as ``format`` writes it."""
    return Column(key=key, label=label, format=lambda row: format(row.get(key)))


def text_or_na(value: Any) -> str:
    """``value`` as text, N/A when there is none."""
    return fmt.text(value) or fmt.NA


def upper_text(value: Any) -> str:
    """``value`` as upper-case text."""
    return fmt.text(value).upper()


class KeyedReport:
    """A reporting class of one ``symbol:strategy``. A subclass sets ``owner`` (its
    name, as users write it), ``suffix`` (of its dump's name), and gives ``get_data``
    and ``render(data, columns)``."""

    owner = ""
    suffix = ""

    def checked(self, symbol: str, strategy_name: str, backtest: bool, needed_by: str) -> bool:
        """Check the arguments of ``get_data``; True for a backtest (its strategy must be
        registered here, and the class listening), False for the live log."""
        check_name(symbol, "symbol", needed_by)
        check_name(strategy_name, "strategy_name", needed_by)
        if check_backtest(backtest, needed_by):
            get_strategy(strategy_name, needed_by)
            self.require(needed_by)
            return True
        return False

    def require(self, needed_by: str) -> None:  # a UsageError unless enabled
        raise NotImplementedError  # protocol: an abstract method, each report class defines it

    def get_data(self, symbol: str, strategy_name: str, *, backtest: bool = True) -> Any:
        raise NotImplementedError  # protocol: an abstract method

    def render(self, data: Any, columns: Sequence[Any] | None) -> str:
        raise NotImplementedError  # protocol: an abstract method

    def get_report(
        self,
        symbol: str,
        strategy_name: str,
        columns: Sequence[Any] | None = None,
        *,
        backtest: bool = True,
    ) -> str:
        """The markdown report of ``get_data``; ``columns`` replaces its table's columns."""
        return self.render(self.get_data(symbol, strategy_name, backtest=backtest), columns)

    def dump(
        self,
        symbol: str,
        strategy_name: str,
        path: str | Path | None = None,
        columns: Sequence[Any] | None = None,
        *,
        backtest: bool = True,
        formats: Sequence[str] = FORMATS,
    ) -> Path:
        """Write the report and its HTML twin; default
        ``./dump/{backtest|live}/{strategy_name}.{suffix}.md``."""
        text = self.get_report(symbol, strategy_name, columns, backtest=backtest)
        return dump_bundle(
            lambda stem: (text, {}),
            "backtest" if backtest else "live",
            f"{strategy_name}.{self.suffix}",
            path,
            formats,
        )


class ListeningReport(KeyedReport):
    """A ``KeyedReport`` fed by the bus: ``topics`` are its listeners, each of which hands
    its events to ``keep``; a backtest's go to this process's buffers (the latest run of each
    key, the newest ``REPORT_LOG_MAX_ROWS``), a live run's to the log ``live_key(symbol,
    strategy)``. A run's end is its ``done.backtest``."""

    def __init__(
        self,
        topics: Iterable[tuple[str, Callable[[Any], object]]],
        live_key: Callable[[str, str], str],
    ) -> None:
        self._buffers = RunBuffers(keys.REPORT_LOG_MAX_ROWS)  # (symbol, strategy) -> events
        self._listening = Listening(self.owner, [*topics, ("done.backtest", self._on_done)])
        self._live_key = live_key

    def enable(self) -> None:
        """Listen in this process: a backtest's events are kept here, a live run's written to
        the persisted log. Idempotent."""
        self._listening.start()

    def disable(self) -> None:
        """Stop listening and forget this process's backtest events (the live log stays)."""
        self._listening.stop()
        self._buffers.clear()

    def require(self, needed_by: str) -> None:
        self._listening.require(needed_by)

    def keep(self, event: Any) -> None:
        """One event (with ``symbol``, ``strategy_name`` and ``backtest``) to its buffer or log."""
        if event.backtest:
            self._buffers.add((event.symbol, event.strategy_name), event)
        else:
            live_log.append(self._live_key(event.symbol, event.strategy_name), event)

    def _on_done(self, payload: dict[str, Any]) -> None:
        self._buffers.end_run((payload["symbol"], payload["strategy_name"]))

    def events(
        self,
        symbol: str,
        strategy_name: str,
        backtest: bool,
        model: type[BaseModel],
        needed_by: str,
    ) -> list[Any]:
        """The checked arguments' events, oldest first: the latest backtest's, or the live log's."""
        if self.checked(symbol, strategy_name, backtest, needed_by):
            return self._buffers.rows((symbol, strategy_name))
        return live_log.read(self._live_key(symbol, strategy_name), model)

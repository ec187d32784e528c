"""What the reporting classes keyed by ``symbol:strategy`` share (``Partial``,
``Performance``): the argument checks of ``get_data``, where its rows come from
(this process's latest backtest, or the persisted live log), and ``get_report`` and
``dump`` on top of a class's ``get_data`` and renderer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from btfarm.shared.registry import get_strategy

from ..reports.dump import FORMATS, dump_bundle
from .feed import check_backtest, check_name


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
        raise NotImplementedError

    def get_data(self, symbol: str, strategy_name: str, *, backtest: bool = True) -> Any:
        raise NotImplementedError

    def render(self, data: Any, columns: Sequence[Any] | None) -> str:
        raise NotImplementedError

    def get_report(self, symbol: str, strategy_name: str, columns: Sequence[Any] | None = None, *,
                   backtest: bool = True) -> str:
        """The markdown report of ``get_data``; ``columns`` replaces its table's columns."""
        return self.render(self.get_data(symbol, strategy_name, backtest=backtest), columns)

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None,
             columns: Sequence[Any] | None = None, *, backtest: bool = True,
             formats: Sequence[str] = FORMATS) -> Path:
        """Write the report and its HTML twin; default
        ``./dump/{backtest|live}/{strategy_name}.{suffix}.md``."""
        text = self.get_report(symbol, strategy_name, columns, backtest=backtest)
        return dump_bundle(lambda stem: (text, {}), "backtest" if backtest else "live",
                           f"{strategy_name}.{self.suffix}", path, formats)

"""How numbers, percentages, times and table cells are written in reports.

A missing value (None, NaN, an infinity) is always "N/A"; times are UTC.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import quote

from btfarm.shared.coverage import iso

NA = "N/A"  # what a missing, NaN or infinite value shows as
MS_PER_MINUTE = 60_000  # milliseconds in a minute

_NEWLINES = re.compile(r"\r\n|\r|\n")
_LINK_TEXT = re.compile(r"([\\\[\]|`])")  # what would end a link's text or a table cell


def is_missing(value: Any) -> bool:
    """True for None and for a float that is NaN or infinite."""
    if value is None:
        return True
    return isinstance(value, float) and not math.isfinite(value)


def _converted(convert: Any, value: Any) -> Any:
    """``convert(value)``, or None for a missing, boolean or unconvertible value."""
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        return convert(value)
    except (TypeError, ValueError):
        return None


def number(value: Any, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or N/A."""
    value = _converted(float, value)
    return NA if value is None else f"{value:.{digits}f}"


def integer(value: Any) -> str:
    """A count, or N/A."""
    value = _converted(int, value)
    return NA if value is None else str(value)


def price(value: Any) -> str:
    """A price: 2 decimals from 100 up, 4 from 1 up, else 8; trailing zeros cut to 2."""
    value = _converted(float, value)
    if value is None:
        return NA
    size = abs(value)
    digits = 2 if size >= 100 else 4 if size >= 1 else 8
    text = f"{value:.{digits}f}"
    whole, _, decimals = text.partition(".")
    decimals = decimals.rstrip("0").ljust(2, "0")
    return f"{whole}.{decimals}"


def percent(value: Any, digits: int = 2, signed: bool = False) -> str:
    """``value`` (already in percent) as "12.34%", or "+12.34%" when ``signed``."""
    value = _converted(float, value)
    if value is None:
        return NA
    return f"{value:+.{digits}f}%" if signed else f"{value:.{digits}f}%"


def timestamp(ms: Any) -> str:
    """A millisecond epoch time as ISO 8601 UTC "2025-01-01T00:05Z", or N/A."""
    if is_missing(ms) or isinstance(ms, bool):
        return NA
    try:
        return iso(float(ms))
    except (TypeError, ValueError, OverflowError, OSError):
        return NA


def duration(minutes: Any) -> str:
    """Minutes as "45m", "2h 05m" or "3d 04h 10m", rounded to the minute; N/A if missing."""
    if is_missing(minutes) or isinstance(minutes, bool):
        return NA
    try:
        total = round(float(minutes))
    except (TypeError, ValueError):
        return NA
    sign = "-" if total < 0 else ""
    days, rest = divmod(abs(total), 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h {mins:02d}m"
    if hours:
        return f"{sign}{hours}h {mins:02d}m"
    return f"{sign}{mins}m"


def text(value: Any) -> str:
    """Free text such as a note; None is an empty string."""
    return "" if value is None else str(value)


def cell(value: str) -> str:
    """A markdown table cell: ``|`` and backticks escaped (a code span may not swallow a
    column separator), line breaks as ``<br>``."""
    escaped = value.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return _NEWLINES.sub("<br>", escaped)


def inline(value: str) -> str:
    """Text for one markdown line: line breaks become spaces."""
    return _NEWLINES.sub(" ", value).strip()


def address(file: str) -> str:
    """A file btfarm wrote, as a markdown link's relative address: percent-encoded, so a
    name with spaces, brackets or a colon (``a:b`` would read as a scheme) stays one file."""
    return quote(file, safe="/")


def link_text(value: str) -> str:
    """Text inside a markdown link's or image's brackets, in a table cell or not: one line,
    its backslashes, brackets, pipes and backticks escaped."""
    return _LINK_TEXT.sub(r"\\\1", inline(value))


# How each statistic is labelled and written; unknown names fall back to number().
STAT_LABELS: dict[str, str] = {
    "total_signals": "Total signals",
    "win_count": "Wins",
    "loss_count": "Losses",
    "win_rate": "Win rate",
    "avg_pnl": "Average PNL",
    "total_pnl": "Sum of trade %",  # a sum of per-trade percentages, not the equity's growth
    "median_pnl": "Median PNL",
    "std_dev": "Standard deviation",
    "sharpe_ratio": "Sharpe ratio",
    "annualized_sharpe_ratio": "Annualized Sharpe ratio",
    "certainty_ratio": "Certainty ratio",
    "expectancy": "Expectancy",
    "max_drawdown": "Max drawdown",
    "expected_yearly_returns": "Expected yearly returns",
    "sortino_ratio": "Sortino ratio",
    "calmar_ratio": "Calmar ratio",
    "recovery_factor": "Recovery factor",
    "profit_factor": "Profit factor",
    "avg_duration": "Average duration",
    "avg_win_duration": "Average win duration",
    "avg_loss_duration": "Average loss duration",
    "trades_per_year": "Trades per year",
    "avg_peak_pnl": "Average peak PNL",
    "avg_fall_pnl": "Average fall PNL",
    "rejected_signals": "Rejected signals",
    "total_events": "Total events",
    "idle_count": "Idle",
    "scheduled_count": "Scheduled",
    "opened_count": "Opened",
    "active_count": "Active",
    "closed_count": "Closed",
    "cancelled_count": "Cancelled",
}

COMPOUNDED_LABEL = (
    "Compounded return"  # the equity's growth, trade after trade (series.compounded_return)
)

_SIGNED_PERCENT = {
    "avg_pnl",
    "total_pnl",
    "median_pnl",
    "expectancy",
    "expected_yearly_returns",
    "avg_peak_pnl",
    "avg_fall_pnl",
}
_PERCENT = {"win_rate", "std_dev", "max_drawdown"}
_DURATION = {"avg_duration", "avg_win_duration", "avg_loss_duration"}
_RATIO = {
    "sharpe_ratio",
    "annualized_sharpe_ratio",
    "certainty_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "recovery_factor",
    "profit_factor",
}


def stat_label(name: str) -> str:
    """The human label of a statistic."""
    return STAT_LABELS.get(name, name.replace("_", " ").capitalize())


def stat_value(name: str, value: Any) -> str:
    """A statistic written with its unit."""
    if name in _SIGNED_PERCENT:
        return percent(value, signed=True)
    if name in _PERCENT:
        return percent(value)
    if name in _DURATION:
        return duration(value)
    if name in _RATIO:
        return number(value, 3)
    if name in ("total_signals", "total_events", "rejected_signals") or name.endswith("_count"):
        return integer(value)
    return number(value, 2)

"""The comparison of a scheduled walker run with the previous run of the same
walker and symbol: rank changes and metric deltas, as markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _format as fmt


def snapshot(data: Any, report_path: str, stamp: str) -> dict[str, Any]:
    """What is kept of a run for the next comparison (JSON types only)."""
    return {
        "stamp": stamp,
        "report": report_path,
        "metric": data.metric,
        "best_strategy": data.best_strategy,
        "ranking": [
            {"strategy_name": s.strategy_name, "rank": s.rank, "metric_value": s.metric_value}
            for s in data.strategies
        ],
        "unfinished": sorted(data.unfinished),
    }


def _signed(value: float | None, digits: int = 4) -> str:
    return "N/A" if value is None else f"{value:+.{digits}f}"


def _value(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.4f}"


def render_comparison(
    walker_name: str,
    symbol: str,
    current: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    picture: str | None = None,
) -> str:
    """Markdown: this run against ``previous`` (None: the first run); ``picture`` is the
    file of the rank-change picture, linked below the table."""
    metric = current["metric"]
    lines = [
        f"# Walker comparison: {fmt.inline(walker_name)} on {fmt.inline(symbol)}",
        "",
        f"- This run: {fmt.inline(str(current['stamp']))} ({fmt.inline(str(current['report']))})",
    ]
    if previous is None:
        lines += ["- Previous run: none (this is the first run of this walker and symbol)", ""]
        return "\n".join(lines) + "\n"
    lines += [
        f"- Previous run: {fmt.inline(str(previous['stamp']))} ({fmt.inline(str(previous['report']))})",
        f"- Metric: {metric}",
        f"- Best: {fmt.inline(str(current['best_strategy']))} "
        f"(previously {fmt.inline(str(previous['best_strategy']))})",
        "",
        f"| Strategy | Rank | Previous rank | Rank change | {metric} | Previous | Delta |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    before = {r["strategy_name"]: r for r in previous["ranking"]}
    for row in current["ranking"]:
        old = before.get(row["strategy_name"])
        if old is None:
            change, old_rank, old_value, delta = "new", "-", None, None
        else:
            moved = old["rank"] - row["rank"]  # positive: moved up
            change = "=" if moved == 0 else f"{moved:+d}"
            old_rank, old_value = str(old["rank"]), old["metric_value"]
            delta = (
                None
                if row["metric_value"] is None or old_value is None
                else row["metric_value"] - old_value
            )
        lines.append(
            f"| {fmt.cell(str(row['strategy_name']))} | {row['rank']} | {fmt.cell(old_rank)} | {change} "
            f"| {_value(row['metric_value'])} | {_value(old_value)} | {_signed(delta)} |"
        )
    current_names = {r["strategy_name"] for r in current["ranking"]}
    gone = [name for name in before if name not in current_names]
    if gone:
        lines += [
            "",
            "Ranked in the previous run but not in this one: "
            + ", ".join(fmt.inline(n) for n in gone),
        ]
    if picture:
        lines += ["", f"![Rank changes]({fmt.address(picture)})"]
    return "\n".join(lines) + "\n"

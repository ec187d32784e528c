"""Markdown reports of a backtest, a live run and a walker (SEMANTICS.md sections 5, 7).

Python prepares every cell as escaped text; the templates in ``templates/``
only lay the page out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypedDict

import jinja2
import numpy as np
from pydantic import BaseModel

from btfarm.orchestrator.results.trust import TrustFigures
from btfarm.orchestrator.results.walker_data import WalkerData
from btfarm.shared.errors import ReportError
from btfarm.shared.ranking import metric_value, rank
from btfarm.shared.stats import (
    HINTS,
    BacktestStatistics,
    compute_live_statistics,
    compute_statistics,
)

from . import _format as fmt
from .columns import (
    DEFAULT_WALKER_PNL_COLUMNS,
    Column,
    backtest_columns,
    live_columns,
    resolve_columns,
    walker_comparison_columns,
)
from .managed_trades import (
    LEVEL_COLUMNS,
    STATISTICS_NOTE,
    STEP_COLUMNS,
    commit_rows,
    numbered_managed,
    trade_steps,
)
from .series import compounded_return, drawdown_periods, equity_series

BEST_MARKER = "★"  # marks the winner's row in the walker comparison table
TOP_ROWS = 10  # the walker's comparison table, at the top; the whole ranking goes below
UNFINISHED_ROWS = 1_000  # "Did not finish" lists the first of these (to_frame() has every one)
# sections a reader opens when they need them: folded in the HTML twin (html.py), last in the markdown
FOLDED_HEADINGS = frozenset(
    {"Full ranking", "PnL by strategy", "Fingerprint", "Closed signals", "Managed trades"}
)
_EVENT_COUNTS = (
    "scheduled_count",
    "opened_count",
    "active_count",
    "closed_count",
    "cancelled_count",
    "idle_count",
    "total_events",
)

ColumnsArg = Sequence[Column | Mapping[str, Any]] | None
StatsArg = BacktestStatistics | Mapping[str, Any] | None


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (strict). HTML templates
    (``*.html.j2``) autoescape; markdown ones do not: their cells arrive escaped for
    markdown from ``_format``, and the HTML twin reads that markdown as untrusted
    (``html.py``)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("btfarm.orchestrator.reports", "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=True, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_backtest(
    symbol: str,
    strategy_name: str,
    exchange_name: str,
    frame_name: str,
    closed: Sequence[Mapping[str, Any] | BaseModel],
    stats: StatsArg = None,
    columns: ColumnsArg = None,
    fingerprint: Mapping[str, Any] | None = None,
    rejections: Sequence[str] = (),
    coverage: str | None = None,
    pictures: Sequence[tuple[str, str]] = (),
    commits: Mapping[str, Mapping[str, int]] | None = None,
) -> str:
    """The backtest report: the statistics with their hints (the compounded return beside
    the sum of trade percentages; when a trade was managed, a line on how it counts), the
    commits applied and refused per kind (``commits``: kind -> {"applied", "refused"}), the
    rejected signals' first reasons, the pictures, the worst drawdowns, the closed signals
    (with Entries, Partial closes and Level moves when a trade was managed), the managed
    trades' levels, entries and partial closes, the fingerprint.

    ``stats`` None computes them from ``closed``.
    """
    rows = [_plain(r) for r in closed]
    stats_dict = _stats_dict(stats if stats is not None else compute_statistics(rows))
    table = _table(resolve_columns(columns, backtest_columns(rows), "backtest"), rows)
    managed = numbered_managed(rows)
    return _render(
        "backtest.md.j2",
        symbol=fmt.inline(str(symbol)),
        strategy_name=fmt.inline(str(strategy_name)),
        exchange_name=fmt.inline(str(exchange_name)),
        frame_name=fmt.inline(str(frame_name)),
        table=table,
        statistics=_statistics(stats_dict, BacktestStatistics.model_fields, rows),
        drawdowns=_worst_drawdowns(rows),
        rejected=fmt.integer(stats_dict.get("rejected_signals")),
        rejections=[fmt.inline(m) for m in rejections],
        coverage=fmt.inline(coverage) if coverage else None,
        pictures=picture_links(pictures),
        managed_note=STATISTICS_NOTE if managed else None,
        commits=commit_rows(commits),
        managed=_managed_section(managed, len(rows)),
        fingerprint=[
            (fmt.cell(fmt.inline(str(k))), fmt.cell(_fingerprint_value(k, v)))
            for k, v in (fingerprint or {}).items()
        ],
    )


def _managed_section(managed: Sequence[Mapping[str, Any]], total: int) -> dict[str, Any] | None:
    """The "Managed trades" section: how many, each one's levels, its entries and partial closes."""
    if not managed:
        return None
    return {
        "count": len(managed),
        "total": total,
        "levels": _table(LEVEL_COLUMNS, managed),
        "steps": _table(STEP_COLUMNS, trade_steps(managed)),
    }


def _fingerprint_value(key: str, value: Any) -> str:
    """A fingerprint field; epoch milliseconds keep their number beside the ISO time."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if key.endswith("_ms") and isinstance(value, int):
        return f"{fmt.timestamp(value)} ({value})"
    return str(value)


def render_live(
    symbol: str,
    strategy_name: str,
    exchange_name: str,
    events: Sequence[Mapping[str, Any] | BaseModel],
    stats: StatsArg = None,
    columns: ColumnsArg = None,
    rejections: Sequence[str] = (),
    pictures: Sequence[tuple[str, str]] = (),
    stale: Sequence[str] = (),
) -> str:
    """The live report: event counts, the closed-signal statistics (when a trade was
    managed, a line on how it counts), what was rejected, the stretches of stale candles
    (``stale``: one line each), the events (with Entries, Partial closes and Level moves
    when a trade was managed), the managed trades' levels, entries and partial closes.

    ``stats`` None computes them (a ``LiveStatistics``) from ``events``.
    """
    rows = [_plain(e) for e in events]
    stats_dict = _stats_dict(stats if stats is not None else compute_live_statistics(rows))
    table = _table(resolve_columns(columns, live_columns(rows), "live"), rows)
    counts = [
        {
            "label": fmt.cell(fmt.stat_label(name)),
            "value": fmt.cell(fmt.integer(stats_dict.get(name))),
        }
        for name in _EVENT_COUNTS
        if name in stats_dict
    ]
    closed = [r for r in rows if r.get("action") == "closed"]
    managed = [r for r in numbered_managed(rows) if r.get("action") == "closed"]
    return _render(
        "live.md.j2",
        symbol=fmt.inline(str(symbol)),
        strategy_name=fmt.inline(str(strategy_name)),
        exchange_name=fmt.inline(str(exchange_name)),
        counts=counts,
        table=table,
        statistics=_statistics(stats_dict, BacktestStatistics.model_fields, closed),
        managed_note=STATISTICS_NOTE if managed else None,
        managed=_managed_section(managed, len(closed)),
        rejected=fmt.integer(stats_dict.get("rejected_signals")),
        rejections=[fmt.inline(m) for m in rejections],
        stale=[fmt.inline(m) for m in stale],
        pictures=picture_links(pictures),
    )


class WalkerFields(TypedDict, total=False):
    """What ``render_walker`` reads of a walker's data given as a mapping (``WalkerData``'s
    fields of the same names; the first five are required)."""

    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    strategies: Sequence[Any]  # {"strategy_name", "stats"} items or (name, stats) pairs
    total_strategies: int
    strategies_tested: int
    best_strategy: str | None
    unfinished: Mapping[str, str] | Sequence[Any]
    fingerprints: Mapping[str, Mapping[str, Any]]
    lanes: Mapping[str, str]  # variant name -> the walk that ran it on its worker
    variants: Mapping[str, tuple[str, Any]]  # variant name -> (its strategy, params)
    run_id: str
    unranked: Mapping[str, tuple[str, StatsArg]]
    rejections: Mapping[str, tuple[int, Sequence[str]]]
    min_trades: int
    coverage: str
    trust: Mapping[str, Any] | BaseModel | None
    refused: str | None
    search_trials: Sequence[tuple[int, str]]
    search_spec: str
    search_note: str
    ranked_count: int  # variants ranked, when ``strategies`` holds only the best of them
    distribution: Sequence[float]  # the metric over every ranked variant at QUANTILES


QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
QUANTILE_LABELS = ("Min", "5 %", "25 %", "Median", "75 %", "95 %", "Max")


def render_walker(
    data: WalkerData | WalkerFields | Mapping[str, Any],
    per_strategy_closed: Mapping[str, Sequence[Mapping[str, Any] | BaseModel]] | None = None,
    strategy_columns: ColumnsArg = None,
    pnl_columns: ColumnsArg = None,
    top_n: int | None = None,
    recomputed: Mapping[str, StatsArg] | None = None,
    pictures: Sequence[tuple[str, str]] = (),
) -> str:
    """The walker report: header, how far the winner can be trusted (one sentence), the
    top ``TOP_ROWS`` (winner marked), the distribution of the metric (when more are
    ranked), the pictures, search, failures; then, last (folded in the HTML twin), the full
    ranking, the PnL tables and the fingerprint.

    ``data`` is the ``WalkerData`` (``Walker.get_data``'s; of a large sweep, its best and its
    columns) or a mapping of the same fields (``WalkerFields``). What it does not hold:
    ``per_strategy_closed`` maps a strategy name to its closed results; ``top_n`` limits the
    comparison table's rows and the PnL tables to the best ``top_n`` strategies;
    ``recomputed`` maps a listed strategy to the statistics of its in-process rerun, checked
    against the ranked ones (a difference is shown in bold); ``pictures`` are (alt, file).

    Of the fields: ``unfinished`` maps a strategy name to the reason it did not finish (or
    lists ``{"strategy_name", "reason"}`` / ``(name, reason)`` items); ``fingerprints`` a
    strategy name to the fingerprint of its result: the fields every result shares are
    listed once, each strategy's source hash and parameters in a table (ranking order);
    ``unranked`` a finished strategy that is not comparable to (why, its statistics);
    ``rejections`` a strategy to (signals rejected, first reasons); ``trust`` is the sweep's
    deflated Sharpe ratio and PBO (orchestrator/results/trust.py); ``refused`` why the
    walker's thresholds name no winner (then none is marked); ``search_trials`` a search's
    (Optuna trial number, variant) in trial order, ``search_spec`` what it searched.
    """
    fields = _walker_fields(data)
    closed_of = per_strategy_closed or {}
    refused = fields.get("refused")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise ReportError(f"top_n must be a positive integer or None, got {top_n!r}")
    metric = str(_require(fields, "metric"))
    entries: list[tuple[str, Mapping[str, Any]]] = [
        _strategy_entry(item, index) for index, item in enumerate(_require(fields, "strategies"))
    ]
    ranked = rank(entries, metric)

    best = fields.get("best_strategy")
    if best is None and not refused and ranked and metric_value(ranked[0][1], metric) is not None:
        best = ranked[0][0]
    comparison_rows: list[dict[str, Any]] = [
        {
            "rank": position,
            "strategy_name": name,
            "metric": metric,
            "metric_value": metric_value(stats, metric),
            "stats": stats,
            "is_best": name == best,
        }
        for position, (name, stats) in enumerate(ranked, start=1)
    ]
    ranked_count = max(len(comparison_rows), fields.get("ranked_count") or 0)
    shown = comparison_rows if top_n is None else comparison_rows[:top_n]
    comparison_columns = resolve_columns(
        strategy_columns, walker_comparison_columns(metric), "walker strategy"
    )
    top = shown[:TOP_ROWS]
    ranking = _comparison_table(comparison_columns, shown) if len(shown) > len(top) else None

    pnl_cols = resolve_columns(pnl_columns, DEFAULT_WALKER_PNL_COLUMNS, "walker pnl")
    listed = [row["strategy_name"] for row in shown]
    if top_n is None:
        listed += [name for name in closed_of if name not in listed]
    pnl_tables = [
        {
            "strategy_name": fmt.inline(name),
            "table": _table(pnl_cols, [_plain(r) for r in closed_of[name]]),
        }
        for name in listed
        if name in closed_of
    ]

    best_stats = next((s for n, s in ranked if n == best), None)
    best_text = (
        f"none: {fmt.inline(refused)}"
        if refused
        else "N/A"
        if best is None
        else (
            f"{fmt.inline(str(best))} ({fmt.stat_label(metric)} = "
            f"{fmt.stat_value(metric, metric_value(best_stats, metric))})"
        )
    )
    total = fields.get("total_strategies")
    tested = fields.get("strategies_tested")
    by_name = dict(ranked)
    mismatches = [
        {"strategy_name": fmt.cell(name), "differences": fmt.cell(", ".join(diff))}
        for name, stats in (recomputed or {}).items()
        if name in by_name and (diff := _differences(by_name[name], _stats_dict(stats)))
    ]
    run_id, coverage = fields.get("run_id"), fields.get("coverage")
    return _render(
        "walker.md.j2",
        walker_name=fmt.inline(str(_require(fields, "walker_name"))),
        symbol=fmt.inline(str(_require(fields, "symbol"))),
        exchange_name=fmt.inline(str(fields.get("exchange_name", ""))),
        frame_name=fmt.inline(str(fields.get("frame_name", ""))),
        metric=metric,
        strategies_tested=len(entries) if tested is None else tested,
        total_strategies=len(entries) if total is None else total,
        best=best_text,
        marker=BEST_MARKER,
        comparison=_comparison_table(comparison_columns, top),
        top_count=len(top),
        ranking=ranking,
        shown_count=len(shown),
        ranked_count=ranked_count,
        distribution=_distribution(
            metric,
            fields.get("distribution") or _quantiles([r["metric_value"] for r in comparison_rows]),
            ranked_count,
        ),
        unfinished=_unfinished(fields.get("unfinished"))[:UNFINISHED_ROWS],
        unfinished_count=len(fields.get("unfinished") or ()),
        pnl_tables=pnl_tables,
        run_id=fmt.inline(run_id) if run_id else None,
        unranked=[
            {
                "strategy_name": fmt.cell(name),
                "reason": fmt.cell(why),
                "signals": fmt.integer(_stats_dict(st or {}).get("total_signals")),
                "rejected": fmt.integer(_stats_dict(st or {}).get("rejected_signals")),
            }
            for name, (why, st) in (fields.get("unranked") or {}).items()
        ],
        min_trades=fields.get("min_trades"),
        coverage=fmt.inline(coverage) if coverage else None,
        lanes=_lanes_line(fields.get("lanes") or {}, fields.get("variants") or {}),
        pictures=picture_links(pictures),
        rejections=[
            {
                "strategy_name": fmt.cell(name),
                "count": count,
                "messages": [fmt.cell(m) for m in messages],
            }
            for name, (count, messages) in (fields.get("rejections") or {}).items()
        ],
        mismatches=mismatches,
        search=_trust_section(fields.get("trust"), [stats for _, stats in ranked]),
        refused=fmt.inline(refused) if refused else None,
        trials=_trials_section(
            fields.get("search_trials") or (),
            dict(ranked),
            metric,
            fields.get("search_spec", ""),
            fields.get("search_note", ""),
        ),
        **_fingerprint_section([name for name, _ in ranked], fields.get("fingerprints") or {}),
    )


def _walker_fields(data: Any) -> dict[str, Any]:
    """``render_walker``'s ``data`` as a dict of ``WalkerFields``: a ``WalkerData``'s fields
    (with the count of its ranked variants and the distribution of their metric, from its
    columns when it has them), or the mapping given."""
    if isinstance(data, WalkerData):
        fields = dict(data)  # the fields as they are (their models are read as models)
        fields["ranked_count"] = data.ranked_count
        if data.table is not None:
            fields["distribution"] = data.table.metric_quantiles(QUANTILES)
        return fields
    data = _plain(data)
    if not isinstance(data, Mapping):
        raise ReportError(f"walker data must be a dict or a model, got {type(data).__name__}")
    return dict(data)


def _quantiles(values: Sequence[float | None]) -> list[float]:
    """``QUANTILES`` of the values that are not None (none without any)."""
    known = np.array([v for v in values if v is not None], dtype=float)
    return [float(q) for q in np.quantile(known, QUANTILES)] if len(known) else []


def _distribution(
    metric: str, quantiles: Sequence[float] | None, ranked_count: int
) -> dict[str, Any] | None:
    """The metric over the ranked variants at ``QUANTILES``: shown when more are ranked than
    the comparison table lists (None otherwise, or without values)."""
    if ranked_count <= TOP_ROWS or not quantiles:
        return None
    return {
        "count": f"{ranked_count:,}",
        "headers": list(QUANTILE_LABELS),
        "values": [fmt.cell(fmt.stat_value(metric, v)) for v in quantiles],
    }


def _trials_section(
    trials: Sequence[tuple[int, str]], ranked: Mapping[str, Any], metric: str, spec: str, note: str
) -> dict[str, Any] | None:
    """A search's trials: what it searched, and each trial that improved the best."""
    if not trials:
        return None
    rows, best = [], None
    for position, (number, name) in enumerate(trials, start=1):
        value = metric_value(ranked[name], metric) if name in ranked else None
        if value is not None and (best is None or value > best):
            best = value
            rows.append((position, number, fmt.cell(name), fmt.stat_value(metric, value)))
    return {
        "count": len(trials),
        "spec": fmt.inline(spec),
        "note": fmt.inline(note) if note else "",
        "rows": rows,
    }


def _comparison_table(
    columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Ranked rows as a table, the winner's bold and marked."""
    table = _table(columns, rows)
    for row, is_best in zip(table["rows"], (r["is_best"] for r in rows), strict=True):
        if is_best:
            row[:] = [f"**{c}**" if c else c for c in row]
            row[0] = f"{BEST_MARKER} {row[0]}".rstrip()
    return table


def every_variant_lost(ranked_stats: Sequence[Mapping[str, Any]]) -> bool:
    """True when every ranked variant lost money: its trades' percentages sum below zero
    (then its compounded return is below zero too)."""
    sums = [stats.get("total_pnl") for stats in ranked_stats]
    return bool(sums) and all(value is not None and value < 0 for value in sums)


def _trust_section(
    trust: Mapping[str, Any] | BaseModel | None, ranked_stats: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any] | None:
    """The rows and the sentence of "Can the winner be trusted?" (None without figures)."""
    if trust is None:
        return None
    figures = (
        trust if isinstance(trust, TrustFigures) else TrustFigures.model_validate(_plain(trust))
    )
    if not figures.trials:
        return None

    rows = [
        ("Deflated Sharpe ratio (P[true Sharpe > SR0])", fmt.number(figures.deflated_sharpe, 3)),
        (
            "Probability of backtest overfitting",
            fmt.number(figures.pbo, 3)
            + (
                f" ({figures.pbo_splits:,} splits of {figures.pbo_blocks} blocks)"
                if figures.pbo is not None
                else ""
            ),
        ),
        *(
            [("PBO's variants", f"{figures.pbo_variants:,}: {figures.pbo_sample}")]
            if figures.pbo_sample
            else []
        ),
        ("Trials (ranked variants)", f"{figures.trials:,}"),
        ("Days (observations)", f"{figures.days:,}"),
        ("Winner's Sharpe ratio per day", fmt.number(figures.winner_daily_sharpe, 4)),
        (
            "SR0: best daily Sharpe of as many unskilled trials",
            fmt.number(figures.expected_max_sharpe, 4),
        ),
        (
            "Winner's skew / kurtosis of daily PnL",
            f"{fmt.number(figures.winner_skew, 2)} / {fmt.number(figures.winner_kurtosis, 2)}",
        ),
    ]
    return {
        "sentence": fmt.inline(figures.sentence(every_variant_lost(ranked_stats))),
        "rows": [(k, fmt.cell(v)) for k, v in rows],
        "missing": [(fmt.cell(k), fmt.cell(v)) for k, v in figures.missing.items()],
    }


CHECKED_STATS = (
    "total_signals",
    "win_count",
    "loss_count",
    "total_pnl",
    "avg_pnl",
    "sharpe_ratio",
    "max_drawdown",
)  # what a recomputed top strategy must reproduce


def _differences(ranked: Mapping[str, Any], again: Mapping[str, Any]) -> list[str]:
    """The checked statistics that differ between a ranked result and its rerun."""
    out = []
    for key in CHECKED_STATS:
        a, b = ranked.get(key), again.get(key)
        same = (a is None and b is None) or (
            a is not None
            and b is not None
            and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
        )
        if not same:
            out.append(
                f"{fmt.stat_label(key)} ranked {fmt.stat_value(key, a)}, "
                f"recomputed {fmt.stat_value(key, b)}"
            )
    return out


PER_STRATEGY_FINGERPRINT = ("strategy_name", "source_hash", "params")  # the rest is the run's


def _fingerprint_section(
    order: Sequence[str],
    fingerprints: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Shared fingerprint fields (a value, or "varies") and one row per strategy."""
    names = [n for n in order if n in fingerprints] + sorted(set(fingerprints) - set(order))
    if not names:
        return {"fingerprint_common": [], "fingerprint_rows": []}
    keys = [k for k in fingerprints[names[0]] if k not in PER_STRATEGY_FINGERPRINT]
    common = []
    for key in keys:
        values = {json.dumps(fingerprints[n].get(key), sort_keys=True) for n in names}
        value = fingerprints[names[0]].get(key) if len(values) == 1 else "varies by strategy"
        common.append(
            (
                fmt.cell(fmt.inline(key)),
                fmt.cell(_fingerprint_value(key, value) if len(values) == 1 else str(value)),
            )
        )
    rows = [
        (
            fmt.cell(fmt.inline(n)),
            fmt.cell(str(fingerprints[n].get("source_hash", ""))),
            fmt.cell(json.dumps(fingerprints[n].get("params"), sort_keys=True)),
        )
        for n in names
    ]
    return {"fingerprint_common": common, "fingerprint_rows": rows}


LANE_WORDS = {  # in the order the line lists them
    "batch": "C loop",
    "vector": "Python vectorised",
    "event": "Python tick by tick",
    "portfolio": "portfolio in lockstep",
}


def _lanes_line(lanes: Mapping[str, str], variants: Mapping[str, tuple[str, Any]]) -> str | None:
    """Which walk ran the variants on the workers, counted, with the strategies that left the
    C loop named (a hook, a listener, or a risk with Python validations keeps a strategy in
    Python); None when no result says (an older worker's)."""
    if not lanes:
        return None
    counts: dict[str, int] = {}
    python: dict[str, None] = {}
    for name, lane in lanes.items():
        counts[lane] = counts.get(lane, 0) + 1
        if lane in ("vector", "event"):
            python[variants[name][0] if name in variants else name] = None
    order = [*LANE_WORDS, *sorted(set(counts) - set(LANE_WORDS))]
    parts = [
        f"{fmt.inline(LANE_WORDS.get(lane, lane))}: {counts[lane]}"
        for lane in order
        if lane in counts
    ]
    line = ", ".join(parts)
    if python:
        shown = list(python)[:5]
        line += "; strategies in Python: " + ", ".join(fmt.inline(n) for n in shown)
        line += f" and {len(python) - len(shown)} more" if len(python) > len(shown) else ""
    return line


def picture_links(pictures: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(alt, file) pairs as the text and the address of markdown images."""
    return [(fmt.link_text(alt), fmt.address(file)) for alt, file in pictures]


def _render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values).rstrip("\n") + "\n"


def _plain(record: Any) -> Any:
    return record.model_dump() if isinstance(record, BaseModel) else record


def _stats_dict(stats: Any) -> dict[str, Any]:
    if isinstance(stats, BaseModel):
        return stats.model_dump()
    if isinstance(stats, Mapping):
        return dict(stats)
    raise ReportError(
        f"statistics must be a statistics model or a dict, got {type(stats).__name__}"
    )


NO_HINT = frozenset(
    {"total_signals", "trades_per_year"}
)  # neither more nor fewer is better in itself
COMPOUNDED_AFTER = "total_pnl"  # the compounded return's row follows the sum of trade percentages


def _statistics(
    stats: Mapping[str, Any],
    names: Iterable[str],
    closed: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, str]]:
    """One {label, value, hint} per statistic, in model order, escaped for a table; given
    the ``closed`` results, the compounded return (what the equity pictures draw) follows
    the sum of trade percentages."""
    out = []
    for name in names:
        if name not in stats:
            continue
        out.append(
            {
                "label": fmt.cell(fmt.stat_label(name)),
                "value": fmt.cell(fmt.stat_value(name, stats.get(name))),
                "hint": fmt.cell("" if name in NO_HINT else HINTS.get(name, "")),
            }
        )
        if name == COMPOUNDED_AFTER and closed is not None:
            out.append(
                {
                    "label": fmt.cell(fmt.COMPOUNDED_LABEL),
                    "value": fmt.cell(fmt.percent(compounded_return(closed), signed=True)),
                    "hint": fmt.cell(HINTS.get(name, "")),
                }
            )
    return out


def _worst_drawdowns(closed: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """The worst drawdown periods of the compounded equity, deepest first, as table rows:
    number, depth, peak, trough, recovery (or "not yet"), trades, duration to recovery."""
    if not closed:
        return []
    rows = []
    for number, p in enumerate(drawdown_periods(equity_series(closed)), start=1):
        end = p.recovered_ms
        span = fmt.duration((end - p.peak_ms) / fmt.MS_PER_MINUTE) if end is not None else fmt.NA
        rows.append(
            (
                str(number),
                fmt.percent(p.depth),
                fmt.timestamp(p.peak_ms),
                fmt.timestamp(p.trough_ms),
                fmt.timestamp(end) if end is not None else "not yet",
                str(p.trades),
                span,
            )
        )
    return [tuple(fmt.cell(c) for c in row) for row in rows]


def _table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Visible headers and escaped cells; a column that fails raises ReportError naming it."""
    visible = []
    for column in columns:
        try:
            if column.is_visible():
                visible.append(column)
        except Exception as exc:
            raise ReportError(f'column "{column.key}": is_visible() raised {exc!r}') from exc
    cells = []
    for index, row in enumerate(rows):
        line = []
        for column in visible:
            try:
                value = column.format(row)
            except Exception as exc:
                raise ReportError(
                    f'column "{column.key}" could not format row {index}: {exc!r}'
                ) from exc
            line.append(fmt.cell(fmt.NA if value is None else str(value)))
        cells.append(line)
    _align_decimals(cells)
    return {"headers": [fmt.cell(c.label) for c in visible], "rows": cells}


_DECIMAL = re.compile(r"^([+-]?\d+)(?:\.(\d+))?(%?)$")


def _align_decimals(rows: list[list[str]]) -> None:
    """One number of decimals per column: a column whose every cell is a number (or
    N/A) gets the most decimals any of its cells has."""
    for col in range(len(rows[0]) if rows else 0):
        found = [_DECIMAL.match(row[col]) for row in rows if row[col] != fmt.NA]
        parts = [p for p in found if p is not None]
        if not parts or len(parts) < len(found):
            continue
        digits = max(len(p.group(2) or "") for p in parts)
        for row in rows:
            m = _DECIMAL.match(row[col])
            if m and digits:
                row[col] = f"{m.group(1)}.{(m.group(2) or '').ljust(digits, '0')}{m.group(3)}"


def _require(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise ReportError(
            f"walker data has no {key!r}; it has {', '.join(map(repr, data)) or 'nothing'}"
        )
    return data[key]


def _strategy_entry(item: Any, index: int) -> tuple[str, dict[str, Any]]:
    item = _plain(item)
    if isinstance(item, Mapping) and "strategy_name" in item:
        name, stats = item["strategy_name"], item.get("stats")
    elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        name, stats = item
    else:
        raise ReportError(
            f"walker strategies[{index}] is {item!r}: give {{'strategy_name', 'stats'}} or (name, stats)"
        )
    return str(name), _stats_dict(stats) if stats is not None else {}


def _unfinished(unfinished: Mapping[str, str] | Sequence[Any] | None) -> list[dict[str, str]]:
    if not unfinished:
        return []
    items: list[tuple[Any, Any]] = []
    if isinstance(unfinished, Mapping):
        items = list(unfinished.items())
    else:
        for entry in unfinished:
            entry = _plain(entry)
            if isinstance(entry, Mapping):
                items.append((entry.get("strategy_name"), entry.get("reason")))
            elif isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 2:
                items.append((entry[0], entry[1]))
            else:
                raise ReportError(
                    f"unfinished entry {entry!r}: give {{'strategy_name', 'reason'}} or (name, reason)"
                )
    return [
        {"strategy_name": fmt.cell(fmt.text(n)), "reason": fmt.cell(fmt.text(r) or "unknown")}
        for n, r in items
    ]

"""The report of a walk-forward walker: the windows side by side, the stitched out-of-sample run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import _format as fmt
from .render import _render, picture_links

if TYPE_CHECKING:
    from btfarm.orchestrator.walk_forward.run import WalkForwardData, WalkForwardRun

STITCHED = (
    "total_signals",
    "win_rate",
    "total_pnl",
    "sharpe_ratio",
    "max_drawdown",
    "profit_factor",
)


def render_walk_forward(data: WalkForwardData, pictures: Sequence[tuple[str, str]] = ()) -> str:
    metric = data.metric

    def value(v: float | None) -> str:
        return fmt.cell(fmt.stat_value(metric, v))

    wf = data.walk_forward
    spec = f"train {wf['train']}, test {wf['test']}, step {wf['step'] or wf['test']}" + (
        ", anchored" if wf["anchored"] else ", rolling"
    )
    windows = [
        {
            "window": w.window,
            "train": fmt.cell(w.train),
            "test": fmt.cell(w.test),
            "winner": fmt.cell(w.winner or f"none: {w.why_no_winner}"),
            "in_sample": value(w.in_sample),
            "out_of_sample": value(w.out_of_sample)
            if w.out_of_sample is not None
            else fmt.cell(f"N/A: {w.why_no_out_of_sample or 'no winner to test'}"),
            "signals": fmt.integer(w.oos_stats.total_signals) if w.oos_stats else "N/A",
            "run_id": fmt.cell(w.run_id),
        }
        for w in data.windows
    ]
    efficiency = "N/A" if data.efficiency is None else f"{data.efficiency:.2f}"
    if data.efficiency is None:
        sentence = (
            "The efficiency is not given: it needs windows with both figures and a positive "
            "mean in-sample metric."
        )
    else:
        sentence = (
            f"Out of sample the winners kept {data.efficiency:.0%} of their in-sample {metric} on "
            "average (1 or more: they did as well on data they were not chosen on; near 0 or "
            "below: what the training windows found did not carry over)."
        )
    stitched = data.stitched.model_dump()
    return _render(
        "walk_forward.md.j2",
        walker_name=fmt.inline(data.walker_name),
        symbol=fmt.inline(data.symbol),
        metric=metric,
        spec=spec,
        windows=windows,
        efficiency=efficiency,
        sentence=sentence,
        stitched=[(fmt.stat_label(k), fmt.cell(fmt.stat_value(k, stitched[k]))) for k in STITCHED],
        pictures=picture_links(pictures),
    )


def walk_forward_bundle(run: WalkForwardRun, stem: str) -> tuple[str, dict[str, str]]:
    """The markdown and the picture of the stitched out-of-sample equity, named after ``stem``."""
    from .pictures import equity_picture
    from .series import equity_series

    data = run.data()
    file = f"{stem}.oos-equity.svg"
    svg = equity_picture(
        equity_series(run.closed), f"out of sample, {len(data.windows)} test windows stitched"
    )
    return render_walk_forward(data, [("Out-of-sample equity, the test windows stitched", file)]), {
        file: svg
    }

"""``btfarm backtest`` and ``btfarm demo``: one strategy (or the demo's two) backtested in this
process, with a progress bar, the summary and the report's path."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from btfarm.orchestrator.backtest import Backtest
from btfarm.orchestrator.cli.console import (
    console,
    err_console,
    printable,
    progress_bar,
    summary_table,
)
from btfarm.shared import events
from btfarm.shared.demo import DEMO_SYMBOL
from btfarm.shared.importing import import_user_module

DEMO_STRATEGIES = ("sma-cross", "pullback")


def run_backtest(symbol: str, strategy_name: str, exchange_name: str, frame_name: str) -> int:
    """Run one backtest with a progress bar; returns the closed-signal count."""
    with progress_bar() as bar:
        task = bar.add_task(f"{printable(strategy_name)} on {printable(symbol)}", total=None)

        def on_progress(payload: dict[str, Any]) -> None:
            if payload["symbol"] == symbol and payload["strategy_name"] == strategy_name:
                bar.update(
                    task, total=payload["total_frames"], completed=payload["processed_frames"]
                )

        unsubscribe = events.listen_progress(on_progress)
        count = 0
        try:
            for _ in Backtest.run(symbol, strategy_name, exchange_name, frame_name):
                count += 1
        except KeyboardInterrupt:
            Backtest.stop(symbol, strategy_name)
            Backtest.wait(symbol, strategy_name)
            raise
        finally:
            unsubscribe()
    return count


def _print_errors_summary() -> Callable[[], int]:
    """Count recoverable errors during a run and show the first few; ``finish()`` returns how
    many of them were get_signal raising."""
    seen: list[str] = []
    raised = [0]

    def on_error(payload: dict[str, Any]) -> None:
        message = payload.get("message", str(payload))
        seen.append(message)
        if payload.get("kind") == "StrategyError" and ": get_signal raised " in message:
            raised[0] += 1

    unsubscribe = events.listen_error(on_error)

    def finish() -> int:
        unsubscribe()
        if seen:
            err_console.print(f"[yellow]{len(seen)} recoverable error(s) during the run; first:[/]")
            for message in seen[:3]:
                err_console.print(f"  {printable(message)}", highlight=False)
        return raised[0]

    return finish


def nothing_but_raises(raised: int, stats: Any, signals: list[Any]) -> bool:
    """get_signal raised and no call of it gave a signal: no signal closed or was cancelled, and
    every refused one was a raise (none was a signal the rules or a risk refused). Such a run
    measured the strategy's bug, not the strategy: the command fails."""
    return (
        raised > 0 and not signals and stats.total_signals == 0 and stats.rejected_signals <= raised
    )


@click.command()
@click.argument("module")
@click.option("--symbol", "-s", required=True, help="Symbol to backtest, e.g. BTCUSDT.")
@click.option("--strategy", "strategy_name", required=True, help="A registered strategy name.")
@click.option("--exchange", "exchange_name", required=True, help="A registered exchange name.")
@click.option("--frame", "frame_name", required=True, help="A registered frame name.")
@click.option(
    "--dump",
    "dump_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Report path inside the dump folder (default dump/backtest/{strategy}.md).",
)
def backtest(
    module: str,
    symbol: str,
    strategy_name: str,
    exchange_name: str,
    frame_name: str,
    dump_path: Path | None,
) -> None:
    """Backtest STRATEGY from MODULE (a dotted module or a .py file that registers it)."""
    import_user_module(module)
    finish = _print_errors_summary()
    count = run_backtest(symbol, strategy_name, exchange_name, frame_name)
    raised = finish()
    data = Backtest.get_data(symbol, strategy_name)
    console.print(
        summary_table(
            f"{printable(symbol)} on {printable(exchange_name)} / {printable(frame_name)}",
            [(strategy_name, data.stats.model_dump())],
        )
    )
    if data.stopped:
        console.print("[yellow]stopped before the end of the frame[/]")
    path = Backtest.dump(symbol, strategy_name, dump_path)
    console.print(f"{count} closed signals; report: {printable(path)}", highlight=False)
    if nothing_but_raises(raised, data.stats, data.signals):
        err_console.print(
            f"[bold red]error:[/] get_signal of {printable(strategy_name)} raised {raised} "
            "time(s) and no call gave a signal: nothing was backtested; fix the line named above",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


@click.command()
def demo() -> None:
    """Backtest two example strategies on the synthetic market (no setup needed)."""
    from btfarm.shared.demo import register_demo

    register_demo()
    rows, paths = [], []
    finish = _print_errors_summary()
    for name in DEMO_STRATEGIES:
        run_backtest(DEMO_SYMBOL, name, "synthetic", "demo-30d")
        rows.append((name, Backtest.get_data(DEMO_SYMBOL, name).stats.model_dump()))
        paths.append(Backtest.dump(DEMO_SYMBOL, name))
    finish()
    console.print(summary_table(f"{DEMO_SYMBOL} on the synthetic market, March 2024", rows))
    for path in paths:
        console.print(f"report: {printable(path)}", highlight=False)


COMMANDS: tuple[Any, ...] = (backtest, demo)

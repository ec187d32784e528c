"""The ``btfarm`` command line: backtest, demo, list, stop (and the farm's commands)."""

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
    status_table,
    summary_table,
)
from btfarm.orchestrator.state_client import reset_state, state
from btfarm.shared import events
from btfarm.shared.demo import DEMO_SYMBOL
from btfarm.shared.errors import BtfarmError
from btfarm.shared.importing import import_user_module
from btfarm.shared.store.keys import MODES

DEMO_STRATEGIES = ("sma-cross", "pullback")


class Group(click.Group):
    """Shows btfarm's own errors as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BtfarmError as exc:
            err_console.print(f"[bold red]error:[/] {printable(exc)}", highlight=False, soft_wrap=True)
            sys.exit(2)
        finally:
            reset_state()


@click.group(cls=Group)
@click.version_option(package_name="btfarm")
def main() -> None:
    """btfarm: backtest strategies, sweep them over Celery workers, run them live."""


def run_backtest(symbol: str, strategy_name: str, exchange_name: str, frame_name: str) -> int:
    """Run one backtest with a progress bar; returns the closed-signal count."""
    with progress_bar() as bar:
        task = bar.add_task(f"{printable(strategy_name)} on {printable(symbol)}", total=None)

        def on_progress(payload: dict[str, Any]) -> None:
            if payload["symbol"] == symbol and payload["strategy_name"] == strategy_name:
                bar.update(task, total=payload["total_frames"], completed=payload["processed_frames"])

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


def _print_errors_summary() -> Callable[[], None]:
    """Count recoverable errors during a run and show the first few."""
    seen: list[str] = []

    def on_error(payload: dict[str, Any]) -> None:
        seen.append(payload.get("message", str(payload)))

    unsubscribe = events.listen_error(on_error)

    def finish() -> None:
        unsubscribe()
        if seen:
            err_console.print(f"[yellow]{len(seen)} recoverable error(s) during the run; first:[/]")
            for message in seen[:3]:
                err_console.print(f"  {printable(message)}", highlight=False)

    return finish


@main.command()
@click.argument("module")
@click.option("--symbol", "-s", required=True, help="Symbol to backtest, e.g. BTCUSDT.")
@click.option("--strategy", "strategy_name", required=True, help="A registered strategy name.")
@click.option("--exchange", "exchange_name", required=True, help="A registered exchange name.")
@click.option("--frame", "frame_name", required=True, help="A registered frame name.")
@click.option("--dump", "dump_path", type=click.Path(path_type=Path), default=None,
              help="Report path inside the dump folder (default dump/backtest/{strategy}.md).")
def backtest(module: str, symbol: str, strategy_name: str, exchange_name: str, frame_name: str,
             dump_path: Path | None) -> None:
    """Backtest STRATEGY from MODULE (a dotted module or a .py file that registers it)."""
    import_user_module(module)
    finish = _print_errors_summary()
    count = run_backtest(symbol, strategy_name, exchange_name, frame_name)
    finish()
    data = Backtest.get_data(symbol, strategy_name)
    console.print(summary_table(f"{printable(symbol)} on {printable(exchange_name)} / {printable(frame_name)}",
                                [(strategy_name, data.stats.model_dump())]))
    if data.stopped:
        console.print("[yellow]stopped before the end of the frame[/]")
    path = Backtest.dump(symbol, strategy_name, dump_path)
    console.print(f"{count} closed signals; report: {printable(path)}", highlight=False)


@main.command()
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


@main.command(name="list")
@click.option("--mode", type=click.Choice(MODES), default=None, help="Only this kind of instance.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(mode: str | None, as_json: bool) -> None:
    """Show every backtest, live run and walker known to the state store."""
    from btfarm.shared.store.run_status import read_status

    rows, unreadable = read_status(state(), mode)
    if as_json:
        import json

        click.echo(json.dumps(rows))  # JSON writes control characters as \u escapes
    else:
        console.print(status_table(rows))
    for key, why in unreadable:  # one bad entry hides itself, never the others
        err_console.print(f"[yellow]skipped {printable(key)}:[/] {printable(why)}", highlight=False,
                          soft_wrap=True)


@main.command()
@click.argument("mode", type=click.Choice(MODES))
@click.argument("symbol")
@click.argument("name")
def stop(mode: str, symbol: str, name: str) -> None:
    """Ask a running backtest, live run or walker to stop (from any process)."""
    from btfarm.shared.store.stop_flags import request_stop

    request_stop(state(), mode, symbol, name)
    console.print(f"stop requested for {mode} {printable(symbol)}:{printable(name)}", highlight=False)



from btfarm.orchestrator.cli.live import live as _live  # noqa: E402  (registered after the group exists)

main.add_command(_live)


from btfarm.orchestrator.cli.data import data as _data  # noqa: E402

main.add_command(_data)


from btfarm.orchestrator.cli.farm import COMMANDS as _FARM_COMMANDS  # noqa: E402

for _command in _FARM_COMMANDS:
    main.add_command(_command)


"""The ``btfarm`` command line: the group, ``list`` and ``stop``; every other command lives in a
module of its own beside this one (backtest, walker, status, services, live, data)."""

from __future__ import annotations

import sys
from typing import Any

import click

from btfarm.orchestrator.cli.console import console, err_console, printable, status_table
from btfarm.orchestrator.state_client import reset_state, state
from btfarm.shared.errors import BtfarmError, NotFoundError, did_you_mean
from btfarm.shared.store.keys import MODES


class Group(click.Group):
    """Shows btfarm's own errors as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BtfarmError as exc:
            err_console.print(
                f"[bold red]error:[/] {printable(exc)}", highlight=False, soft_wrap=True
            )
            sys.exit(2)
        finally:
            reset_state()


@click.group(cls=Group)
@click.version_option(package_name="btfarm")
def main() -> None:
    """btfarm: backtest strategies, sweep them over Celery workers, run them live."""


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
        err_console.print(
            f"[yellow]skipped {printable(key)}:[/] {printable(why)}",
            highlight=False,
            soft_wrap=True,
        )


@main.command()
@click.argument("mode", type=click.Choice(MODES))
@click.argument("symbol")
@click.argument("name")
def stop(mode: str, symbol: str, name: str) -> None:
    """Ask a running backtest, live run or walker to stop (from any process)."""
    from btfarm.shared.store.run_status import read_status
    from btfarm.shared.store.stop_flags import request_stop

    rows, _ = read_status(state(), mode)
    found = [row for row in rows if row.get("symbol") == symbol and row.get("name") == name]
    if not found:  # a typo would otherwise say "stop requested" while the run goes on
        known = [f"{row.get('symbol')} {row.get('name')}" for row in rows]
        raise NotFoundError(
            f"no {mode} run {symbol} {name} is known to the state store; nothing was stopped."
            + did_you_mean(f"{symbol} {name}", known)
            + (
                " `btfarm list` shows every run"
                if known
                else f" It knows no {mode} run: `btfarm list` shows every run"
            )
        )
    if found[0].get("status") != "running":
        outcome = (
            "crashed"
            if found[0].get("crashed")
            else found[0].get("outcome") or found[0].get("status")
        )
        console.print(
            f"{mode} {printable(symbol)}:{printable(name)} is not running (it ended: {printable(outcome)}); "
            "nothing to stop",
            highlight=False,
        )
        return
    request_stop(state(), mode, symbol, name)
    console.print(
        f"stop requested for {mode} {printable(symbol)}:{printable(name)}", highlight=False
    )


from btfarm.orchestrator.cli.live import live as _live  # noqa: E402  (registered after the group exists)

main.add_command(_live)


from btfarm.orchestrator.cli.data import data as _data  # noqa: E402

main.add_command(_data)


from btfarm.orchestrator.cli.backtest import COMMANDS as _BACKTEST  # noqa: E402
from btfarm.orchestrator.cli.services import COMMANDS as _SERVICES  # noqa: E402
from btfarm.orchestrator.cli.status import status as _status  # noqa: E402
from btfarm.orchestrator.cli.walker import walker as _walker  # noqa: E402

for _command in (*_BACKTEST, _walker, _status, *_SERVICES):
    main.add_command(_command)

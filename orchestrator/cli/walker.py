"""``btfarm walker``: a sweep (or search, or walk-forward) from the command line, its progress, summary and
resume, export and exit codes."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from btfarm.orchestrator.cli.console import (
    console,
    err_console,
    printable,
    progress_bar,
    summary_table,
)
from btfarm.orchestrator.reports._format import number as shown
from btfarm.shared.demo import DEMO_SYMBOL
from btfarm.shared.errors import BtfarmError
from btfarm.shared.importing import import_user_module

DEMO_WALKER = "demo-sweep"
DEMO_IMPORT = "btfarm.shared.demo:register_demo"  # what the workers import for the demo
SUMMARY_ROWS = 10  # strategies shown in the final table
EXIT_STOPPED = (
    130  # Ctrl-C (or SIGTERM, SIGHUP) stopped the sweep: what a shell reports for a SIGINT
)


@click.command()
@click.argument("module", required=False)
@click.argument("walker_name", required=False)
@click.argument("out", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--symbol",
    default=DEMO_SYMBOL,
    show_default=True,
    help="The symbol, or several as A,B,C: one sweep each, ranked across them too.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Variants per task (default: chosen so task overhead stays under 3 %).",
)
@click.option(
    "--dump/--no-dump", default=True, show_default=True, help="Write the markdown report."
)
@click.option(
    "--import",
    "imports",
    multiple=True,
    help="A module or .py file registering your strategies (repeatable; resume needs it).",
)
def walker(
    module: str | None,
    walker_name: str | None,
    out: Path | None,
    symbol: str,
    chunk_size: int | None,
    dump: bool,
    imports: tuple[str, ...],
) -> None:
    """Sweep a walker's strategies over the workers (no MODULE: the demo sweep, on this machine).

    With no BTFARM_REDIS_URL it starts a private Redis and one local worker
    process per core, and stops both when the sweep ends.

    `btfarm walker resume RUN_ID --import MODULE` finishes an interrupted
    sweep: results already stored are read back, only the missing variants
    run. Resume imports only the modules named here or in BTFARM_IMPORTS.

    `btfarm walker export RUN_ID out.parquet` (or .csv) writes a stored sweep's
    table from Redis: one row per variant, parameters as columns, every
    statistic, status.
    """
    from btfarm.orchestrator.sweeps.local_pool import register_imports
    from btfarm.orchestrator.sweeps.next_commands import walker_command
    from btfarm.orchestrator.walker import Walker
    from btfarm.shared.registry import get_walker
    from btfarm.shared.settings import get_settings

    # SIGTERM and SIGHUP end a sweep as Ctrl-C does: stopped cooperatively, the local worker
    # and the private Redis stopped by PID (the default action would leave both running)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.default_int_handler)

    if module == "export":
        if not walker_name or out is None:
            raise click.UsageError("btfarm walker export RUN_ID OUT.parquet (or OUT.csv)")
        path, rows = Walker.export(walker_name, out)
        console.print(
            f"wrote {printable(path)}: {rows} variants of sweep {printable(walker_name)}",
            highlight=False,
            soft_wrap=True,
        )
        return
    if out is not None:
        raise click.UsageError(
            f"unexpected argument {str(out)!r} (only `btfarm walker export RUN_ID OUT` "
            "takes a third)"
        )
    if module == "resume":
        if walker_name is None or not walker_name.strip():
            raise click.UsageError(
                "give the sweep's run id: btfarm walker resume RUN_ID "
                "(printed when the sweep started, and in its report)"
            )
        if chunk_size is not None:
            raise click.UsageError("--chunk-size cannot change on resume: the sweep keeps its own")
        try:
            plan = Walker.plan_of(walker_name)
        except LookupError as exc:
            raise click.UsageError(printable(exc, markup=False)) from None
        for spec in dict.fromkeys((*get_settings().imports, *imports)):
            import_user_module(spec)
            register_imports(spec)
        _follow(
            lambda: Walker.resume(walker_name), plan.symbol, plan.walker_name, dump, announce=False
        )
        return
    if module is None:
        from btfarm.shared.demo import register_demo

        register_demo()
        register_imports(DEMO_IMPORT)
        walker_name = DEMO_WALKER
    else:
        if walker_name is None:
            raise click.UsageError(
                "give the walker's name after the module: btfarm walker MODULE WALKER"
            )
        for spec in (module, *imports):
            import_user_module(spec)
            register_imports(spec)
    symbols = [s.strip() for s in symbol.split(",")]
    again = walker_command(module, walker_name, symbol, imports)
    defaulted = (
        click.get_current_context().get_parameter_source("symbol") == ParameterSource.DEFAULT
    )
    try:
        if get_walker(walker_name, "btfarm walker").walk_forward is not None and len(symbols) == 1:
            _follow_walk_forward(symbol, walker_name, chunk_size, dump, again)
        elif len(symbols) > 1:
            _follow_symbols(symbols, walker_name, chunk_size, dump)
        else:
            _follow(
                lambda: Walker.run(symbol, walker_name, chunk_size=chunk_size),
                symbol,
                walker_name,
                dump,
                again=again,
            )
    except BtfarmError as exc:
        if defaulted and DEMO_SYMBOL in str(
            exc
        ):  # "no candles for BTCUSDT" from a user who named no symbol
            exc.args = (
                f"{exc} (--symbol was not given, so it defaulted to {DEMO_SYMBOL}: pass --symbol "
                "SYMBOL, or several as A,B,C)",
            )
        raise


def _follow_symbols(
    symbols: list[str], walker_name: str, chunk_size: int | None, dump: bool
) -> None:
    """``--symbol A,B,C``: one sweep per symbol side by side, one progress bar, then the ranking
    across symbols and a line per symbol; exit 1 when no variant is comparable on all, or
    when the walker's min_dsr / max_pbo refused the winner of any symbol."""
    from btfarm.orchestrator.walker import Walker
    from btfarm.shared import events

    totals: dict[str, int] = {}
    with progress_bar() as bar:
        task = bar.add_task(f"{printable(walker_name)} on {len(symbols)} symbols", total=None)

        def on_start(started: dict[str, Any]) -> None:
            if started["symbol"] in symbols and started["walker_name"] == walker_name:
                totals[started["symbol"]] = started["total_strategies"]
                run_id = printable(started["run_id"])
                bar.console.print(
                    f"{printable(started['symbol'])}: sweep {run_id} (if interrupted: "
                    f"btfarm walker resume {run_id})",
                    highlight=False,
                )
                bar.update(task, total=sum(totals.values()))

        unsubscribe = events.listen_walker_start(on_start)
        try:
            stopped = _drain(
                lambda: Walker.run(symbols, walker_name, chunk_size=chunk_size),
                symbols,
                walker_name,
                lambda _, done: bar.update(task, completed=done),
            )
        finally:
            unsubscribe()
    data = _stopped_data(symbols, walker_name) if stopped else Walker.get_data(symbols, walker_name)
    if stopped and any(_incomplete(one) for one in data.per_symbol.values()):
        _exit_stopped(
            [
                line
                for symbol, one in data.per_symbol.items()
                for line in _stopped_lines(one, f"{walker_name} on {symbol}", None)
            ]
        )
    console.print(
        f"{printable(walker_name)} on {printable(', '.join(symbols))}: {len(data.ranking)} variants compared across "
        f"symbols by the mean {data.metric}, then the worst",
        highlight=False,
    )
    for row in data.ranking[:SUMMARY_ROWS]:
        console.print(
            f"  {row.rank:>3}  {printable(row.strategy_name)}  mean {shown(row.mean_metric, 3)}  "
            f"worst {shown(row.worst_metric, 3)}  wins {row.wins}",
            highlight=False,
        )
    for line, warning in symbol_lines(data):
        (err_console if warning else console).print(
            f"[yellow]{printable(line)}[/]" if warning else printable(line), highlight=False
        )
    if data.not_compared:
        err_console.print(
            f"[yellow]not compared across symbols ({len(data.not_compared)}):[/]", highlight=False
        )
        for name, why in list(data.not_compared.items())[:SUMMARY_ROWS]:
            err_console.print(f"  {printable(name)}: {printable(why)}", highlight=False)
    if dump:
        console.print(f"report: {printable(Walker.dump(symbols, walker_name))}", highlight=False)
    if not data.ranking:
        err_console.print(
            f"[bold red]error:[/] no variant of {printable(walker_name)} is comparable on every "
            "symbol",
            highlight=False,
        )
        sys.exit(1)
    if data.refused:
        err_console.print(f"[bold red]refused:[/] {printable(data.refused)}", highlight=False)
        sys.exit(1)


def symbol_lines(data) -> list[tuple[str, bool]]:
    """Per symbol of a multi-symbol run: its best, count and sweep, its trust figures, and
    (a warning) how to finish a sweep that did not end; as (line, is a warning)."""
    lines = []
    for symbol, one in data.per_symbol.items():
        best = one.best_strategy or (f"none ({one.refused})" if one.refused else "N/A")
        lines.append(
            (
                f"{symbol}: best {best}, {one.strategies_tested}/{one.total_strategies} tested, "
                f"sweep {one.run_id}",
                False,
            )
        )
        if one.trust.trials:
            lines.append((f"  {one.trust.brief()}", False))
        if one.interrupted:
            lines.append(
                (
                    f"  sweep {one.run_id} is incomplete; finish it with: btfarm walker resume "
                    f"{one.run_id}",
                    True,
                )
            )
    return lines


def _follow_walk_forward(
    symbol: str, walker_name: str, chunk_size: int | None, dump: bool, again: str
) -> None:
    """A walk-forward walker: one bar over every window's training sweep, then a line per
    window and the efficiency; exit 1 when no window had a winner to test."""
    from btfarm.orchestrator.walker import Walker

    with progress_bar() as bar:
        task = bar.add_task(
            f"{printable(walker_name)} on {printable(symbol)}: training windows", total=None
        )
        stopped = _drain(
            lambda: Walker.run(symbol, walker_name, chunk_size=chunk_size),
            symbol,
            walker_name,
            lambda _, done: bar.update(task, completed=done),
        )
    data = _stopped_data(symbol, walker_name) if stopped else Walker.get_data(symbol, walker_name)
    if stopped:  # the windows' sweeps stopped: their winners are not tested, the run starts over
        lines = [f"{walker_name} on {symbol}: stopped before every training window ran"]
        for w in getattr(data, "windows", []):
            one = Walker.get_data(symbol, w.walker_name)
            lines.append(
                f"  window {w.window} (sweep {one.run_id}): {one.strategies_tested}/"
                f"{one.total_strategies} variants done"
            )
        _exit_stopped([*lines, f"run it again (each window's sweep starts over): {again}"])
    for w in data.windows:
        console.print(
            f"window {w.window}: test {printable(w.test)}: {printable(w.winner or 'no winner: ' + str(w.why_no_winner))}"
            f", in sample {shown(w.in_sample, 3)}, out of sample {shown(w.out_of_sample, 3)}"
            + (f" ({printable(w.why_no_out_of_sample)})" if w.why_no_out_of_sample else ""),
            highlight=False,
        )
    console.print(
        f"walk-forward efficiency (mean out-of-sample / mean in-sample {data.metric}): "
        f"{shown(data.efficiency, 3)}; stitched out of sample: {data.stitched.total_signals} signals, "
        f"total PnL {shown(data.stitched.total_pnl, 3)} %",
        highlight=False,
    )
    if dump:
        console.print(f"report: {printable(Walker.dump(symbol, walker_name))}", highlight=False)
    if not any(w.winner for w in data.windows):
        err_console.print(
            f"[bold red]error:[/] no training window of {printable(walker_name)} had a winner",
            highlight=False,
        )
        sys.exit(1)


def _drain(start: Callable[[], Iterable[Any]], symbol, walker_name: str, on_item) -> bool:
    """``on_item(item, count)`` for each progress item of the run ``start()`` launches; True when
    Ctrl-C (or SIGTERM, SIGHUP) stopped it: cooperatively (every symbol's, for a list), and its
    end waited for, so what it did is stored and can be told."""
    try:
        for done, item in enumerate(start(), start=1):
            on_item(item, done)
    except KeyboardInterrupt:
        _stop(symbol, walker_name)
        return True
    return False


def _stop(symbol, walker_name: str) -> None:
    """Stop the run cooperatively and wait for its end (a second Ctrl-C leaves at once)."""
    from btfarm.orchestrator.walker import Walker

    Walker.stop(symbol, walker_name)
    Walker.wait(symbol, walker_name)


def _stopped_data(symbol, walker_name: str):
    """``Walker.get_data`` of a run Ctrl-C stopped; when it stopped before the run began (while its
    plan was checked), says so and exits."""
    from btfarm.orchestrator.walker import Walker

    try:
        return Walker.get_data(symbol, walker_name)
    except BtfarmError:
        _exit_stopped([f"{walker_name}: stopped before the sweep started; nothing ran"])


def _incomplete(data, total: int = 0) -> bool:
    """A sweep (or search) that ended without every variant (trial) run; ``total``: the progress's
    own (a stopped search's data counts only the trials that ran, its progress all it was to run)."""
    return bool(data.unfinished) or data.strategies_tested < max(data.total_strategies, total)


def _stopped_lines(data, title: str, again: str | None, total: int = 0) -> list[str]:
    """What a stopped sweep did, and the command that goes on: its resume, with the modules it
    imports; for a search (no resume by run id: its study goes on), the walker run again."""
    from btfarm.orchestrator.sweeps.next_commands import stored_resume_command

    unit = "trials" if data.search_spec else "variants"
    lines = [
        f"{title}: stopped, {data.strategies_tested}/{max(data.total_strategies, total)} {unit} done"
        + ("" if data.search_spec else f" (sweep {data.run_id})")
    ]
    if data.search_spec:
        lines.append(
            f"  go on with (the study keeps the trials that ran): {again or 'btfarm walker MODULE WALKER'}"
        )
    else:
        lines.append(f"  finish it with: {stored_resume_command(data.run_id)}")
    return lines


def _exit_stopped(lines: list[str]) -> None:
    for line in lines:
        err_console.print(printable(line), highlight=False, soft_wrap=True)
    sys.exit(EXIT_STOPPED)


def _follow(
    start: Callable[[], Iterable[Any]],
    symbol: str,
    walker_name: str,
    dump: bool,
    announce: bool = True,
    again: str | None = None,
) -> None:
    """Show the progress of the sweep ``start()`` launches, then its summary and report; exit 1
    when nothing could be ranked or the walker's min_dsr / max_pbo refused its winner. The run
    starts once the listener is in place: launched before, its start (and the run id printed
    from it) could come and go unheard, and did on a busy machine. A start refused at once
    (e.g. a resume of unknown code) says so before any progress bar is drawn."""
    import threading

    from btfarm.orchestrator.sweeps.next_commands import stored_resume_command
    from btfarm.orchestrator.walker import Walker
    from btfarm.shared import events

    lock = threading.Lock()
    shown: dict[str, Any] = {}  # the bar and its task, once drawn
    early: list[dict[str, Any]] = []  # a start heard before the bar was drawn

    def show_start(started: dict[str, Any]) -> None:
        bar, task = shown["bar"], shown["task"]
        run_id = started["run_id"]
        if announce:
            bar.console.print(
                f"sweep {printable(run_id)} (if interrupted: btfarm walker resume {printable(run_id)})",
                highlight=False,
            )
        bar.update(task, total=started["total_strategies"], completed=started["resumed"])

    def on_start(started: dict[str, Any]) -> None:
        # the id and the total as soon as the plan is stored, not at the first result (run thread)
        if started["symbol"] != symbol or started["walker_name"] != walker_name:
            return
        with lock:
            if shown:
                show_start(started)
            else:
                early.append(started)

    unsubscribe = events.listen_walker_start(on_start)
    try:
        try:
            progress = start()
        except KeyboardInterrupt:  # while the plan was checked, or the sweep launched
            progress = None
            _stop(symbol, walker_name)
        stopped = progress is None
        if progress is not None:
            with progress_bar() as bar:
                task = bar.add_task(f"{printable(walker_name)} on {printable(symbol)}", total=None)
                with lock:
                    shown.update(bar=bar, task=task)
                    for started in early:
                        show_start(started)

                def on_item(p, _) -> None:
                    best = f" best: {p.best_strategy}" if p.best_strategy else ""
                    shown["total"] = p.total_strategies
                    bar.update(
                        task,
                        total=p.total_strategies,
                        completed=p.strategies_tested,
                        description=printable(f"{walker_name} on {symbol}{best}"),
                    )

                stopped = _drain(lambda: progress, symbol, walker_name, on_item)
    finally:
        unsubscribe()
    data = _stopped_data(symbol, walker_name) if stopped else Walker.get_data(symbol, walker_name)
    total = shown.get("total") or 0
    if stopped and _incomplete(data, total):
        _exit_stopped(_stopped_lines(data, f"{walker_name} on {symbol}", again, total))
    if data.resumed and data.search_trials:  # a search goes on from its study, not from a sweep id
        err_console.print(
            f"search {printable(walker_name)}: {data.resumed} trials read back from its study, "
            f"{max(data.total_strategies - data.resumed, 0)} run now",
            highlight=False,
        )
    elif data.resumed:
        err_console.print(
            f"resumed sweep {printable(data.run_id)}: {data.resumed} results read back, "
            f"{data.total_strategies - data.resumed} run now",
            highlight=False,
        )
    rows = [(s.strategy_name, s.stats.model_dump()) for s in data.strategies[:SUMMARY_ROWS]]
    console.print(
        summary_table(
            f"{printable(walker_name)} on {printable(symbol)}: {data.strategies_tested}/{data.total_strategies} tested, "
            f"{data.ranked_count} ranked, "
            f"by {data.metric}, {data.seconds:.1f} s",
            rows,
        )
    )
    if data.trust.trials:
        console.print(printable(data.trust.sentence()), highlight=False)
    if data.unranked:
        err_console.print(f"[yellow]not ranked ({len(data.unranked)}):[/]", highlight=False)
        for line in grouped(why for why, _ in data.unranked.values()):
            err_console.print(f"  {printable(line)}", highlight=False)
    rejected = sum(count for count, _ in data.rejections.values())
    if rejected:
        err_console.print(
            f"[yellow]{rejected} signals rejected in {len(data.rejections)} variants; "
            "first reasons:[/]",
            highlight=False,
        )
        for line in grouped(m for _, messages in data.rejections.values() for m in messages[:1]):
            err_console.print(f"  {printable(line)}", highlight=False)
    if data.unfinished:
        err_console.print(f"[yellow]did not finish ({len(data.unfinished)}):[/]", highlight=False)
        for line in grouped(
            data.unfinished.values(),
            data.unfinished.keys(),
            [data.variants.get(name, (name, None))[0] for name in data.unfinished],
        ):
            err_console.print(f"  {printable(line)}", highlight=False)
    if data.interrupted and not data.search_spec:  # a search says how it goes on in its note, below
        err_console.print(
            f"sweep {printable(data.run_id)} is incomplete; finish it with: "
            f"{printable(stored_resume_command(data.run_id))}",
            highlight=False,
        )
    if data.search_note:
        err_console.print(
            f"[yellow]the search ended early: {printable(data.search_note)}[/]", highlight=False
        )
    if dump:
        console.print(f"report: {printable(Walker.dump(symbol, walker_name))}", highlight=False)
    if not data.strategies and (data.total_strategies or data.interrupted):
        err_console.print(
            f"[bold red]error:[/] no variant of {printable(walker_name)} could be ranked "
            f"({len(data.unfinished)} did not finish, {len(data.unranked)} not comparable)",
            highlight=False,
        )
        sys.exit(1)
    if data.refused:
        err_console.print(f"[bold red]refused:[/] {printable(data.refused)}", highlight=False)
        sys.exit(1)


def grouped(reasons, names=None, bases=None) -> list[str]:
    """One line per distinct reason with its count: a variant's own name in its reason is
    written as its strategy's with the parameters folded (``sma-cross[...]``; ``bases``: each
    name's strategy, default the name), so 500 variants of a strategy failing alike make one
    line that still says which strategy failed."""
    counts: dict[str, int] = {}
    names = list(names) if names is not None else None
    bases = list(bases) if bases is not None else None
    for index, reason in enumerate(reasons):
        if names is not None:
            name = names[index]
            base = bases[index] if bases is not None else name
            reason = reason.replace(name, base if base == name else f"{base}[...]")
        counts[reason] = counts.get(reason, 0) + 1
    return [
        f"{count} x {reason}" for reason, count in sorted(counts.items(), key=lambda kv: -kv[1])
    ]

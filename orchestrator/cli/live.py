"""``btfarm live``: one strategy run live in the foreground, until a signal stops it.

SIGINT or SIGTERM asks for a graceful stop (no new signals; an open one is
monitored to its natural close), then the report is written and the process
exits 0. A second signal leaves at once with code 130: the persisted state is
consistent at every instant, so the next start restores the open signal.
Leaving at once still leaves the embedded Redis first (the last process out
stops it): ``os._exit`` skips the exit handlers that would, and a server left
behind runs under PID 1 for ever. The handlers are installed before anything
starts, so no moment of the run lets a signal kill the process around them.
A run that dies of an unexpected error is restarted (start and recovery are
one path) up to ``--max-restarts`` times; a deterministic error (the setup, a
corrupt state, a full or read-only disk) is raised at once.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click

from btfarm.orchestrator.cli.console import console, err_console, printable
from btfarm.orchestrator.live import Live
from btfarm.shared.clock import clock_from_spec
from btfarm.shared.errors import ConfigError, DataCoverageError, PersistenceError
from btfarm.shared.importing import import_user_module
from btfarm.shared.store import embedded_redis

RESTART_PAUSE_SECONDS = (
    1.0  # real seconds before the first restart of a crashed run, doubled each time
)
EXIT_INTERRUPTED = 130  # a second SIGINT/SIGTERM: left without waiting for the open signal
DISK_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
)  # a restart repeats them


def _stop_on_signals(symbol: str, strategy_name: str) -> threading.Event:
    """First SIGINT/SIGTERM: graceful stop (asked from a thread, not the handler); second: leave.

    The handler itself only sets flags and starts threads: it runs between two
    bytecodes of the main thread, which may hold the very locks leaving needs.
    """
    requested = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            for number in (
                signal.SIGINT,
                signal.SIGTERM,
            ):  # a third signal must not cut the leaving short
                signal.signal(number, signal.SIG_IGN)
            threading.Thread(target=_leave_now, name="btfarm-live-leave", daemon=True).start()
            return
        requested.set()

    def ask() -> None:
        requested.wait()
        err_console.print(
            f"stopping {printable(symbol)}:{printable(strategy_name)}: no new signals; an open one runs to its close "
            "(signal again to leave now)",
            highlight=False,
        )
        try:
            Live.stop(
                symbol, strategy_name
            )  # the run itself also watches `requested` (Live.run's stop_event)
        except (
            Exception
        ) as exc:  # the store is gone (the process is leaving): the event still stops the run
            err_console.print(
                f"could not record the stop in the state store: {printable(exc, markup=False)}",
                highlight=False,
                markup=False,
            )

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    threading.Thread(target=ask, name="btfarm-live-stop", daemon=True).start()
    return requested


def _leave_now() -> None:
    """Leave the embedded Redis (stopping it when this was the last process using it), then
    exit 130 without waiting for anything else: the persisted state needs no goodbye."""
    try:
        embedded_redis.close(leaving=True)
    except BaseException as exc:  # exit all the same; say what may be left
        err_console.print(
            f"leaving the embedded redis-server failed: {printable(exc, markup=False)}",
            highlight=False,
            markup=False,
        )
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed pipe: nothing more to say anyway
                pass
        os._exit(EXIT_INTERRUPTED)


@click.command(name="live")
@click.argument("module")
@click.option("--symbol", "-s", required=True, help="Symbol to trade, e.g. BTCUSDT.")
@click.option("--strategy", "strategy_name", required=True, help="A registered strategy name.")
@click.option("--exchange", "exchange_name", required=True, help="A registered exchange name.")
@click.option(
    "--clock",
    "clock_spec",
    default="system",
    show_default=True,
    help="'system', or 'accelerated:start=ISO,speed=N[,anchor=EPOCH_SECONDS]' (tests, replays).",
)
@click.option(
    "--tick-seconds",
    type=float,
    default=None,
    help="Clock seconds between ticks (default TICK_TTL = 60.001).",
)
@click.option(
    "--max-restarts",
    type=int,
    default=5,
    show_default=True,
    help="Restarts of a run that died of an unexpected error.",
)
@click.option(
    "--dump",
    "dump_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Report path inside the dump folder (default dump/live/{strategy}.md).",
)
def live(
    module: str,
    symbol: str,
    strategy_name: str,
    exchange_name: str,
    clock_spec: str,
    tick_seconds: float | None,
    max_restarts: int,
    dump_path: Path | None,
) -> None:
    """Run STRATEGY from MODULE live until SIGINT/SIGTERM (then stop gracefully)."""
    requested = _stop_on_signals(
        symbol, strategy_name
    )  # first: the user module may start the store
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        clock = clock_from_spec(clock_spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--clock") from exc
    import_user_module(module)
    unsubscribe = _show_rejections()
    restarts, pause = 0, RESTART_PAUSE_SECONDS
    while True:
        try:
            for result in Live.run(
                symbol,
                strategy_name,
                exchange_name,
                clock=clock,
                tick_seconds=tick_seconds,
                stop_event=requested,
            ):
                sig = result.signal
                if result.action == "opened":
                    line = (
                        f"opened {printable(sig.id)} {sig.position} at {result.current_price:.6g}"
                    )
                else:
                    line = (
                        f"closed {printable(sig.id)} {result.close_reason} at {result.current_price:.6g}, "
                        f"pnl {result.pnl.pnl_percentage:+.3f} %"
                    )
                console.print(line, highlight=False)
            break
        except (
            ConfigError,
            PersistenceError,
            DataCoverageError,
        ):  # setup faults: a restart would repeat them
            raise
        except Exception as exc:
            if (
                isinstance(exc, OSError) and exc.errno in DISK_ERRNOS
            ):  # a full or read-only disk stays so
                raise ConfigError(
                    f"live {symbol}:{strategy_name}: {exc}; free space or make the folder "
                    "writable, then start again"
                ) from exc
            if requested.is_set() or restarts >= max_restarts:
                raise
            restarts += 1
            err_console.print(
                f"[red]live run died:[/] {type(exc).__name__}: {printable(exc)}; restart {restarts} of "
                f"{max_restarts} in {pause:g} s",
                highlight=False,
            )
            time.sleep(pause)
            pause *= 2
    unsubscribe()
    data = Live.get_data(symbol, strategy_name)
    if data.stats.rejected_signals:
        err_console.print(
            f"[yellow]{data.stats.rejected_signals} signals rejected or get_signal raised; "
            "first reasons:[/]",
            highlight=False,
        )
        for message in data.rejections:
            err_console.print(
                f"  {printable(message, markup=False)}", highlight=False, markup=False
            )
    path = Live.dump(symbol, strategy_name, dump_path)
    console.print(f"stopped; report: {printable(path)}", highlight=False)


def _show_rejections():
    """Print each rejected signal (and each get_signal that raised) as it happens, and each
    stretch of stale candles as it begins: a live strategy whose every signal is refused, or
    whose exchange stopped sending candles, must not look like a quiet market."""
    from btfarm.shared import events

    def on_error(payload) -> None:
        if payload.get("kind") in ("SignalError", "StrategyError"):
            err_console.print(
                f"rejected: {printable(payload.get('message'), markup=False)}",
                highlight=False,
                markup=False,
            )
        elif (
            payload.get("kind") == "DataCoverageError"
        ):  # a stretch of stale candles begins: said once
            err_console.print(
                printable(payload.get("message"), markup=False), highlight=False, markup=False
            )

    unsubscribes = [
        events.listen_error(on_error),
        events.listen_risk(
            lambda p: err_console.print(
                f"rejected: {printable(p.get('message'), markup=False)}",
                highlight=False,
                markup=False,
            )
        ),
    ]
    return lambda: [u() for u in unsubscribes]

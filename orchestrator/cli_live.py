"""``btfarm live``: one strategy run live in the foreground, until a signal stops it.

SIGINT or SIGTERM asks for a graceful stop (no new signals; an open one is
monitored to its natural close), then the report is written and the process
exits 0. A second signal leaves at once with code 130: the persisted state is
consistent at every instant, so the next start restores the open signal.
A run that dies of an unexpected error is restarted (start and recovery are
one path) up to ``--max-restarts`` times.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import click

from btfarm.shared.clock import clock_from_spec
from btfarm.shared.errors import ConfigError, DataCoverageError, PersistenceError
from btfarm.shared.importing import import_user_module

from .console import console, err_console
from .live import Live

RESTART_PAUSE_SECONDS = 1.0  # real seconds before the first restart of a crashed run, doubled each time
EXIT_INTERRUPTED = 130  # a second SIGINT/SIGTERM: left without waiting for the open signal


def _stop_on_signals(symbol: str, strategy_name: str) -> threading.Event:
    """First SIGINT/SIGTERM: graceful stop (asked from a thread, not the handler); second: leave."""
    requested = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            os._exit(EXIT_INTERRUPTED)
        requested.set()

    def ask() -> None:
        requested.wait()
        err_console.print(f"stopping {symbol}:{strategy_name}: no new signals; an open one runs to its close "
                          "(signal again to leave now)", highlight=False)
        Live.stop(symbol, strategy_name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    threading.Thread(target=ask, name="btfarm-live-stop", daemon=True).start()
    return requested


@click.command(name="live")
@click.argument("module")
@click.option("--symbol", "-s", required=True, help="Symbol to trade, e.g. BTCUSDT.")
@click.option("--strategy", "strategy_name", required=True, help="A registered strategy name.")
@click.option("--exchange", "exchange_name", required=True, help="A registered exchange name.")
@click.option("--clock", "clock_spec", default="system", show_default=True,
              help="'system', or 'accelerated:start=ISO,speed=N[,anchor=EPOCH_SECONDS]' (tests, replays).")
@click.option("--tick-seconds", type=float, default=None,
              help="Clock seconds between ticks (default TICK_TTL = 60.001).")
@click.option("--max-restarts", type=int, default=5, show_default=True,
              help="Restarts of a run that died of an unexpected error.")
@click.option("--dump", "dump_path", type=click.Path(path_type=Path), default=None,
              help="Report path inside the dump folder (default dump/live/{strategy}.md).")
def live(module: str, symbol: str, strategy_name: str, exchange_name: str, clock_spec: str,
         tick_seconds: float | None, max_restarts: int, dump_path: Path | None) -> None:
    """Run STRATEGY from MODULE live until SIGINT/SIGTERM (then stop gracefully)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        clock = clock_from_spec(clock_spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--clock") from exc
    import_user_module(module)
    requested = _stop_on_signals(symbol, strategy_name)
    unsubscribe = _show_rejections()
    restarts, pause = 0, RESTART_PAUSE_SECONDS
    while True:
        try:
            for result in Live.run(symbol, strategy_name, exchange_name, clock=clock, tick_seconds=tick_seconds):
                sig = result.signal
                if result.action == "opened":
                    line = f"opened {sig.id} {sig.position} at {result.current_price:.6g}"
                else:
                    line = (f"closed {sig.id} {result.close_reason} at {result.current_price:.6g}, "
                            f"pnl {result.pnl.pnl_percentage:+.3f} %")
                console.print(line, highlight=False)
            break
        except (ConfigError, PersistenceError, DataCoverageError):  # setup faults: a restart would repeat them
            raise
        except Exception as exc:
            if requested.is_set() or restarts >= max_restarts:
                raise
            restarts += 1
            err_console.print(f"[red]live run died:[/] {type(exc).__name__}: {exc}; restart {restarts} of "
                              f"{max_restarts} in {pause:g} s", highlight=False)
            time.sleep(pause)
            pause *= 2
    unsubscribe()
    data = Live.get_data(symbol, strategy_name)
    if data.stats.rejected_signals:
        err_console.print(f"[yellow]{data.stats.rejected_signals} signals rejected or get_signal raised; "
                          "first reasons:[/]", highlight=False)
        for message in data.rejections:
            err_console.print(f"  {message}", highlight=False, markup=False)
    path = Live.dump(symbol, strategy_name, dump_path)
    console.print(f"stopped; report: {path}", highlight=False)


def _show_rejections():
    """Print each rejected signal (and each get_signal that raised) as it happens: a live
    strategy whose every signal is refused must not look like a quiet market."""
    from btfarm.shared import events

    def on_error(payload) -> None:
        if payload.get("kind") in ("SignalError", "StrategyError"):
            err_console.print(f"rejected: {payload.get('message')}", highlight=False, markup=False)

    unsubscribes = [events.listen_error(on_error),
                    events.listen_risk(lambda p: err_console.print(f"rejected: {p.get('message')}",
                                                                   highlight=False, markup=False))]
    return lambda: [u() for u in unsubscribes]

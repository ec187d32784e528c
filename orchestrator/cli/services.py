"""The farm's services: ``btfarm worker``, ``flower`` and ``beat``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from btfarm.orchestrator.cli.console import console, err_console, printable


def _worker(args: list[str], env_updates: dict[str, str]) -> None:
    """Replace this process with Celery's worker command on the farm's app (signals reach
    Celery directly), started without Celery's plugin-loading group (workers/boot.py)."""
    from btfarm.workers.thread_env import worker_env

    env = worker_env(dict(os.environ, **env_updates))
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "btfarm.workers.boot", *args], env)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--import",
    "imports",
    multiple=True,
    help="A module registering your strategies (repeatable); also BTFARM_IMPORTS.",
)
@click.option(
    "-c", "--concurrency", type=int, default=None, help="Processes (default: one per core)."
)
@click.option("--pool", default="prefork", show_default=True)
@click.option("-n", "--hostname", default=None, help="Worker name (default: celery@host).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(
    imports: tuple[str, ...],
    concurrency: int | None,
    pool: str,
    hostname: str | None,
    loglevel: str,
    celery_args: tuple[str, ...],
) -> None:
    """Start a Celery worker of the farm (same as `celery -A btfarm.workers worker`).

    Other options go to Celery as they are (e.g. --logfile, --max-tasks-per-child).
    """
    from btfarm.shared.settings import get_settings
    from btfarm.workers.app import TASK_QUEUE

    specs = tuple(dict.fromkeys((*get_settings().imports, *imports)))
    args = ["--pool", pool, "-Q", TASK_QUEUE, "--loglevel", loglevel]
    if concurrency:
        args += ["-c", str(concurrency)]
    if hostname:
        args += ["-n", hostname]
    _worker([*args, *celery_args], {"BTFARM_IMPORTS": ",".join(specs)} if specs else {})


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", type=int, default=None, help="Default BTFARM_FLOWER_PORT (5555).")
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on (0.0.0.0 for every interface: put auth in front).",
)
@click.option(
    "--unauthenticated",
    is_flag=True,
    help="Serve without basic auth (task arguments and results to anyone who can connect).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Do not start Flower: ask the running one's /healthcheck, with the credentials "
    "(exit 0 when it answers OK; a container's health check).",
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def flower(
    port: int | None, address: str, unauthenticated: bool, check: bool, celery_args: tuple[str, ...]
) -> None:
    """Start Flower on the farm's broker, with basic auth from BTFARM_FLOWER_BASIC_AUTH.

    Without it Flower would show every task's arguments and results to anyone,
    so it is refused unless --unauthenticated is given. The credentials reach
    Flower through its environment (FLOWER_BASIC_AUTH), never its command line,
    so `ps` does not show them. Every page needs them, /metrics and /healthcheck
    too (orchestrator/cli/flower_server.py); `btfarm flower --check` sends them.
    """
    from btfarm.shared.settings import get_settings

    settings = get_settings()
    auth = settings.flower_basic_auth
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    if auth:
        for pair in auth.split(","):
            user, colon, password = pair.partition(":")
            if not colon or not user or not password:
                raise click.UsageError(
                    "BTFARM_FLOWER_BASIC_AUTH must be USER:PASSWORD (several: "
                    "USER:PASSWORD,USER2:PASSWORD2); got a value without a user, "
                    "a colon or a password"
                )
        env["FLOWER_BASIC_AUTH"] = auth
    if check:
        from btfarm.orchestrator.cli.flower_server import probe

        host = "127.0.0.1" if address in ("0.0.0.0", "::") else address
        why = probe(port or settings.flower_port, auth.split(",")[0] if auth else None, host)
        if why:
            err_console.print(f"[bold red]unhealthy:[/] {printable(why)}", highlight=False)
            sys.exit(1)
        console.print("Flower answers /healthcheck", highlight=False)
        return
    if not auth and not unauthenticated:
        raise click.UsageError(
            "Flower shows every task's arguments and results: set "
            "BTFARM_FLOWER_BASIC_AUTH=USER:PASSWORD, or pass --unauthenticated "
            "to serve it without a password"
        )
    args = ["flower", f"--port={port or settings.flower_port}", f"--address={address}"]
    sys.stdout.flush()
    os.execve(
        sys.executable,
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli.flower_server",
            "-A",
            "btfarm.workers",
            *args,
            *celery_args,
        ],
        env,
    )


@click.command()
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The schedule file (default BTFARM_SCHEDULE_FILE, btfarm-schedule.toml).",
)
@click.option("--loglevel", default="INFO", show_default=True)
def beat(schedule_file: str | None, loglevel: str) -> None:
    """Run the schedule's walkers through Celery beat (run exactly one of these)."""
    from btfarm.orchestrator.schedule import run_beat

    run_beat(schedule_file, loglevel)


COMMANDS: tuple[Any, ...] = (worker, flower, beat)

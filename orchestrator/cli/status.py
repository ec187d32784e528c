"""``btfarm status``: every walker sweep the state store knows (done/total, rate, ETA), the
live workers and their pool sizes, and recent worker start failures; refreshed in place,
printed once (``--once``) or as JSON (``--json``).

Flower shows Celery's chunk tasks, not sweeps; this is the sweep-level view (issue 34 §3).
It only reads the store: the instance statuses a sweep writes (shared/store/run_status.py),
each sweep's start time (``keys.walker_run``) and the worker records
(shared/store/worker_registry.py). Everything read is shown through ``printable``: anyone
who can write to the store could plant a name that would otherwise drive the terminal.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import click
import redis
from rich.console import Group as Stack
from rich.console import RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from btfarm.orchestrator.cli.console import console, err_console, printable
from btfarm.orchestrator.state_client import state
from btfarm.shared.errors import BtfarmError, PersistenceError
from btfarm.shared.store import keys, worker_registry
from btfarm.shared.store.run_status import read_status

RATE_WINDOW_SECONDS = 30.0  # a refreshed view's rate: the variants done over about this long


class RateWindow:
    """Each sweep's (updated_at, done) as successive reads saw them, so a refreshed view shows
    the recent rate rather than the mean since the sweep began (which a resume or a lost
    worker would skew)."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[tuple[int, int]]] = {}

    def rate(self, run_id: str, updated_ms: int, done: int) -> float | None:
        """Variants per second over the window, or None until two distinct reads."""
        seen = self._seen.setdefault(run_id, deque())
        if not seen or seen[-1][0] != updated_ms:
            if seen and done < seen[-1][1]:  # the same id started again (resumed over a lost store)
                seen.clear()
            seen.append((updated_ms, done))
        while len(seen) > 2 and (updated_ms - seen[1][0]) / 1000 >= RATE_WINDOW_SECONDS:
            seen.popleft()
        if len(seen) < 2:
            return None
        (t0, d0), (t1, d1) = seen[0], seen[-1]
        return (d1 - d0) / ((t1 - t0) / 1000)


def _sweep(r: redis.Redis, row: dict[str, Any], rates: RateWindow | None) -> dict[str, Any]:
    """One walker status row as a sweep: done/total, share, rate and ETA; PersistenceError
    (or ValueError from a number's parse) naming a field that is not what a sweep writes."""
    run_id = str(row.get("id", ""))
    raw_total = row.get("total_strategies")
    try:
        total = int(raw_total) if raw_total not in (None, "") else None
    except ValueError:
        raise PersistenceError(f"total_strategies={raw_total!r} is not a number") from None
    progress = float(row.get("progress", 0.0))
    done = round(progress * total) if total is not None else None
    updated_ms = int(row.get("updated_at", 0))
    status = str(row.get("status"))
    if status == "done" and row.get("outcome") not in (None, "", "done"):
        status = str(row["outcome"])  # stopped, interrupted, failed: never shown as done
    if row.get("crashed"):
        status += " (crashed)"
    running = status == "running"
    rate = None
    if done is not None:
        if running and rates is not None:
            rate = rates.rate(run_id, updated_ms, done)
        if rate is None:  # the mean since the sweep began (its plan's start time)
            started = r.hget(keys.walker_run(run_id), "started_at") if run_id else None
            try:
                seconds = (updated_ms - int(started)) / 1000 if started else 0.0
            except ValueError:
                seconds = 0.0  # a start time that is not one: no rate, the rest still shown
            rate = done / seconds if seconds > 0 and done else None
    eta = (
        (total - done) / rate
        if running and rate and total is not None and done is not None
        else None
    )
    return {
        "walker": row.get("name"),
        "symbol": row.get("symbol"),
        "run_id": run_id,
        "status": status,
        "done": done,
        "total": total,
        "share": progress,
        "rate": rate,
        "eta_seconds": eta,
        "best": row.get("best_strategy") or None,
        "host": row.get("host"),
        "updated_at": updated_ms,
    }


def read_farm(r: redis.Redis, rates: RateWindow | None = None) -> dict[str, Any]:
    """What the view shows: ``sweeps``, ``workers`` (node, slots), ``start_failures``
    (node, seconds ago, error) and ``skipped`` (key, why) for each entry it could not read."""
    rows, unreadable = read_status(r, "walker")
    skipped = [{"key": key, "why": why} for key, why in unreadable]
    sweeps = []
    for row in rows:
        try:
            sweeps.append(_sweep(r, row, rates))
        except (ValueError, PersistenceError, redis.ResponseError, UnicodeDecodeError) as exc:
            skipped.append(
                {
                    "key": keys.instance_status(
                        "walker", str(row.get("symbol")), str(row.get("name"))
                    ),
                    "why": str(exc),
                }
            )
    try:
        workers = [
            {"node": node, "slots": slots}
            for node, slots in sorted(worker_registry.live_slots(r).items())
        ]
    except (ValueError, TypeError, redis.ResponseError, UnicodeDecodeError) as exc:
        workers = []
        skipped.append(
            {
                "key": f"{keys.worker_heartbeats()} / {keys.worker_slots()}",
                "why": f"the live workers cannot be read ({exc})",
            }
        )
    try:
        failures = [
            {"node": node, "seconds_ago": round(age, 1), "error": error}
            for node, age, error in worker_registry.start_failures(r)
        ]
    except (redis.ResponseError, UnicodeDecodeError) as exc:
        failures = []
        skipped.append(
            {
                "key": keys.worker_start_failures(),
                "why": f"the worker start failures cannot be read ({exc})",
            }
        )
    return {"sweeps": sweeps, "workers": workers, "start_failures": failures, "skipped": skipped}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _text(value: object) -> Text:
    return Text(printable(value, markup=False))


def render(farm: dict[str, Any], *, with_skipped: bool) -> RenderableType:
    """The sweeps table, the workers, the start failures (and, when refreshed in place, the
    skipped entries: stderr would scroll under the view)."""
    parts: list[RenderableType] = []
    now_ms = time.time() * 1000
    if farm["sweeps"]:
        table = Table(title="walker sweeps")
        for column in (
            "walker",
            "symbol",
            "run id",
            "status",
            "done",
            "share",
            "rate/s",
            "ETA",
            "host",
            "updated",
        ):
            table.add_column(
                column,
                no_wrap=column not in ("walker", "run id"),
                justify="right" if column in ("done", "share", "rate/s", "ETA") else "left",
            )
        for s in farm["sweeps"]:
            done = "-" if s["done"] is None else f"{s['done']}/{s['total']}"
            rate = "-" if s["rate"] is None else f"{s['rate']:.2f}"
            age = (
                _duration(max(now_ms - s["updated_at"], 0) / 1000) + " ago"
                if s["updated_at"]
                else "-"
            )
            table.add_row(
                _text(s["walker"]),
                _text(s["symbol"]),
                _text(s["run_id"]),
                _text(s["status"]),
                done,
                f"{s['share'] * 100:.0f}%",
                rate,
                _duration(s["eta_seconds"]),
                _text(s["host"]),
                age,
            )
        parts.append(table)
    else:
        parts.append(Text("no walker sweep is known to the state store"))
    if farm["workers"]:
        workers = Table(
            title=f"{len(farm['workers'])} live worker(s), "
            f"{sum(w['slots'] for w in farm['workers'])} process(es)",
            min_width=32,
        )
        workers.add_column("node")
        workers.add_column("pool", justify="right")
        for w in farm["workers"]:
            workers.add_row(_text(w["node"]), str(w["slots"]))
        parts.append(workers)
    else:
        parts.append(Text("no worker is alive: start one with `btfarm worker --import MODULE`"))
    for f in farm["start_failures"]:
        parts.append(
            Text.assemble(
                ("worker failed to start: ", "red"),
                printable(
                    f"{f['node']} ({_duration(f['seconds_ago'])} ago): {f['error']}", markup=False
                ),
            )
        )
    if with_skipped:
        for s in farm["skipped"]:
            parts.append(
                Text.assemble(
                    ("skipped ", "yellow"), printable(f"{s['key']}: {s['why']}", markup=False)
                )
            )
    return Stack(*parts)


def _print_skipped(farm: dict[str, Any]) -> None:
    for s in farm["skipped"]:  # one bad entry hides itself, never the others
        err_console.print(
            f"[yellow]skipped {printable(s['key'])}:[/] {printable(s['why'])}",
            highlight=False,
            soft_wrap=True,
        )


@click.command()
@click.option(
    "--every",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.option("--once", is_flag=True, help="Print the view once and exit (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON once instead of a table.")
def status(every: float, once: bool, as_json: bool) -> None:
    """Show every walker sweep's progress, rate and ETA, and the live workers, refreshed."""
    r = state()
    if as_json:
        farm = read_farm(r)
        click.echo(json.dumps(farm))  # JSON writes control characters as \u escapes
        _print_skipped(farm)
        return
    if once:
        farm = read_farm(r)
        console.print(render(farm, with_skipped=False))
        _print_skipped(farm)
        return
    rates = RateWindow()

    def view() -> RenderableType:
        try:
            return render(read_farm(r, rates), with_skipped=True)
        except (
            redis.RedisError,
            BtfarmError,
        ) as exc:  # the store is away: say so, try again next time
            return Text(printable(f"cannot read the state store: {exc}", markup=False), style="red")

    try:
        with Live(view(), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(every)  # the refresh period itself, not a wait for something
                live.update(view(), refresh=True)
    except KeyboardInterrupt:
        pass

"""Scheduled batch comparisons: walkers x symbols x cron, run through Celery beat.

The schedule file (TOML, ``BTFARM_SCHEDULE_FILE``, default
``btfarm-schedule.toml``; the README documents it)::

    imports = ["my_strategies"]        # modules registering the walkers

    [[entry]]
    name = "nightly-sma"               # optional, default: the walker's name
    walker = "sma-sweep"
    symbols = ["BTCUSDT", "ETHUSDT"]
    cron = "0 2 * * *"                 # five fields, UTC
    # every_seconds = 3600             # instead of cron

``btfarm beat`` loads it, imports the modules, and runs a Celery worker with
the embedded beat (``-B``) that consumes only ``SCHEDULE_QUEUE``: beat sends
one ``btfarm.scheduled_walk`` per entry and symbol when due, and that task
runs ``Walker.run`` (whose chunks go to the farm's workers on the main
queue, so a scheduled run never waits on its own worker slot). Each run
dumps a dated report ``walker/{walker}/{stamp}-{symbol}.md`` and a
comparison with the previous run of the same walker and symbol
(``...-comparison.md``: rank changes, metric deltas). A Redis lock per entry
and symbol (SET NX with a lease) skips a run while the previous one of the
same entry still goes, even with two beats.
"""

from __future__ import annotations

import json
import logging
import socket
import tomllib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from celery.schedules import crontab
from croniter import croniter

from btfarm.shared.errors import ConfigError, did_you_mean
from btfarm.shared.registry import get_walker
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from btfarm.workers.app import SCHEDULE_QUEUE, configure
from btfarm.workers.app import app as celery_app
from btfarm.workers.startup import import_modules

from .reports.comparison import render_comparison, snapshot
from .reports.dump import dump_bundle
from .reports.pictures import rank_change_picture
from .reports.series import rank_changes
from .results.walker_data import WalkerData
from .state_client import state
from .walker import Walker

log = logging.getLogger("btfarm.schedule")

LOCK_LEASE_SECONDS = 6 * 3600  # a run holding the lock longer than this is presumed dead
SCHEDULED_TASK = "btfarm.scheduled_walk"
ENTRY_KEYS = ("name", "walker", "symbols", "cron", "every_seconds")
TOP_KEYS = ("imports", "entry")


@dataclass(frozen=True)
class Entry:
    name: str
    walker: str
    symbols: tuple[str, ...]
    cron: str | None = None
    every_seconds: float | None = None

    def celery_schedule(self) -> Any:
        if self.every_seconds is not None:
            return timedelta(seconds=self.every_seconds)
        assert self.cron is not None  # an entry has cron or every_seconds (load_schedule)
        minute, hour, day_of_month, month, day_of_week = self.cron.split()
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )


@dataclass(frozen=True)
class Schedule:
    imports: tuple[str, ...]
    entries: tuple[Entry, ...]


def _refuse_unknown(found: dict[str, Any], known: tuple[str, ...], where: str, path: Path) -> None:
    for key in found:
        if key not in known:
            raise ConfigError(
                f"{path}: unknown key {key!r} in {where}; known: {', '.join(known)}."
                + did_you_mean(key, known)
            )


def load_schedule(path: str | Path | None = None) -> Schedule:
    """Parse and check the schedule file; ConfigError names the file and the fix."""
    path = Path(path or get_settings().schedule_file)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"schedule file {path} not found; write one (see the README's Farm "
            "section) or set BTFARM_SCHEDULE_FILE"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"schedule file {path} is not valid TOML: {exc}") from exc
    _refuse_unknown(raw, TOP_KEYS, "the top level", path)
    entries, seen = [], set()
    for i, item in enumerate(raw.get("entry", [])):
        where = f"[[entry]] #{i + 1}"
        _refuse_unknown(item, ENTRY_KEYS, where, path)
        walker = item.get("walker")
        symbols = item.get("symbols")
        if not isinstance(walker, str) or not walker:
            raise ConfigError(f'{path}: {where} needs walker = "name"')
        if isinstance(symbols, str):
            symbols = [symbols]
        if not symbols or not all(isinstance(s, str) and s for s in symbols):
            raise ConfigError(f'{path}: {where} needs symbols = ["BTCUSDT", ...]')
        cron, every = item.get("cron"), item.get("every_seconds")
        if (cron is None) == (every is None):
            raise ConfigError(
                f'{path}: {where} needs exactly one of cron = "0 2 * * *" or every_seconds = N'
            )
        if cron is not None and (
            not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron)
        ):
            raise ConfigError(
                f"{path}: {where} cron {cron!r} is not a five-field cron expression "
                '(minute hour day-of-month month day-of-week), e.g. "0 2 * * *"'
            )
        if every is not None and (
            isinstance(every, bool) or not isinstance(every, (int, float)) or every <= 0
        ):
            raise ConfigError(
                f"{path}: {where} every_seconds must be a positive number, got {every!r}"
            )
        name = item.get("name", walker)
        if name in seen:
            raise ConfigError(f"{path}: two entries are named {name!r}; give each a distinct name")
        seen.add(name)
        entries.append(
            Entry(
                name=name,
                walker=walker,
                symbols=tuple(symbols),
                cron=cron,
                every_seconds=None if every is None else float(every),
            )
        )
    if not entries:
        raise ConfigError(f"{path}: no [[entry]]; add at least one walker to schedule")
    imports = raw.get("imports", [])
    if isinstance(imports, str):
        imports = [imports]
    return Schedule(imports=tuple(imports), entries=tuple(entries))


def beat_schedule(schedule: Schedule) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: one entry per schedule entry and symbol."""
    return {
        f"{entry.name}:{symbol}": {
            "task": SCHEDULED_TASK,
            "schedule": entry.celery_schedule(),
            "kwargs": {"entry": entry.name, "walker_name": entry.walker, "symbol": symbol},
            "options": {"queue": SCHEDULE_QUEUE},
        }
        for entry in schedule.entries
        for symbol in entry.symbols
    }


@celery_app.task(
    name=SCHEDULED_TASK, soft_time_limit=LOCK_LEASE_SECONDS, time_limit=LOCK_LEASE_SECONDS + 60
)  # a whole sweep, not one chunk
def scheduled_walk(entry: str, walker_name: str, symbol: str) -> dict[str, Any]:
    return run_entry(entry, walker_name, symbol)


def run_entry(
    entry: str, walker_name: str, symbol: str, now: datetime | None = None
) -> dict[str, Any]:
    """One scheduled run, unless the previous run of this entry and symbol still holds the lock."""
    r = state()
    lock = keys.schedule_lock(f"{entry}:{symbol}")
    token = f"{socket.gethostname()}:{uuid.uuid4().hex}"
    if not r.set(lock, token, nx=True, ex=LOCK_LEASE_SECONDS):
        log.warning("skipping %s on %s: the previous run still holds %s", entry, symbol, lock)
        return {"skipped": True, "entry": entry, "symbol": symbol, "holder": r.get(lock)}
    try:
        return compare_run(walker_name, symbol, now)
    finally:
        if r.get(lock) == token:
            r.delete(lock)


def compare_run(walker_name: str, symbol: str, now: datetime | None = None) -> dict[str, Any]:
    """Run the walker, dump the dated report and the comparison with the previous run."""
    if get_walker(walker_name, "btfarm schedule").walk_forward is not None:
        # its data is windows, not one ranking to compare with the previous run's
        raise ConfigError(
            f"schedule: walker {walker_name!r} is a walk-forward walker; a scheduled run "
            "compares one ranking with the previous one: schedule a walker without walk_forward"
        )
    for _ in Walker.run(symbol, walker_name):
        pass
    data = Walker.get_data(symbol, walker_name)
    assert isinstance(data, WalkerData)  # refused above when it is not one ranking
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H%M%SZ")
    report = Walker.dump(symbol, walker_name, path=f"walker/{walker_name}/{stamp}-{symbol}.md")
    r = state()
    last_key = keys.schedule_last_run(walker_name, symbol)
    raw = r.get(last_key)
    previous = json.loads(raw) if raw else None
    current = snapshot(data, str(report), stamp)

    def render(stem: str) -> tuple[str, dict[str, str]]:
        if previous is None:
            return render_comparison(walker_name, symbol, current, None), {}
        file = f"{stem}.ranks.svg"
        picture = rank_change_picture(rank_changes(current, previous), current["metric"])
        return render_comparison(walker_name, symbol, current, previous, picture=file), {
            file: picture
        }

    comparison = dump_bundle(
        render, "walker", walker_name, path=f"walker/{walker_name}/{stamp}-{symbol}-comparison.md"
    )
    r.set(last_key, json.dumps(current))
    return {
        "report": str(report),
        "comparison": str(comparison),
        "stamp": stamp,
        "best_strategy": data.best_strategy,
        "previous": previous["stamp"] if previous else None,
    }


def run_beat(schedule_file: str | Path | None, loglevel: str = "INFO") -> None:
    """``btfarm beat``: Celery beat plus the one worker that runs scheduled walkers."""
    schedule = load_schedule(schedule_file)
    import_modules(tuple(dict.fromkeys((*get_settings().imports, *schedule.imports))))
    app = configure()
    app.conf.beat_schedule = beat_schedule(schedule)
    folder = Path(get_settings().state_dir).expanduser().resolve() / "beat"
    folder.mkdir(parents=True, exist_ok=True)
    app.worker_main(
        [
            "worker",
            "-B",
            "--pool",
            "solo",
            "-Q",
            SCHEDULE_QUEUE,
            "-n",
            f"btfarm-beat-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "-s",
            str(folder / "schedule"),
            "--loglevel",
            loglevel,
        ]
    )

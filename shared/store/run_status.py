"""The status of each Backtest/Live/Walker instance, shared through Redis.

A run writes its status (idle | running | done, progress, pid, host) so that
another process (``btfarm list``, a second terminal) can see what runs where.

A process that dies hard (SIGKILL, OOM, power) never writes "done", and its
hash would say "running" forever. So ``list_status`` checks the pid of a
"running" entry written on *this* host: if that process is gone, the entry is
reported with status "done" and ``crashed=True`` (the stored hash is left as
it is, for post-mortems). Entries from other hosts cannot be checked this way;
their ``updated_at`` tells how fresh they are.
"""

from __future__ import annotations

import math
import os
import socket
import time

import psutil
import redis
from redis.typing import EncodableT, FieldT

from ..errors import PersistenceError, UsageError
from . import keys
from .replies import text, texts

STATUSES = ("idle", "running", "done")  # SEMANTICS 7: a single-run task's status


def set_status(
    r: redis.Redis, mode: str, symbol: str, name: str, status: str, **fields: object
) -> None:
    """Write the status of instance ``symbol:name`` in ``mode``.

    Stored fields: ``id`` (default ``"{symbol}:{name}"``), ``symbol``, ``name``,
    ``mode``, ``status``, ``progress`` (0..1, default 0; ``None`` leaves the stored
    progress as it is: a run that stopped keeps the share it had done), ``pid`` and
    ``host`` (default this process), ``updated_at`` (epoch ms, now). Extra keyword
    fields (an error message, a run id) must be str/int/float/bool and are
    read back as strings.
    """
    pipe = r.pipeline(transaction=True)
    queue_status(pipe, mode, symbol, name, status, **fields)
    pipe.execute()


def queue_status(
    pipe: redis.client.Pipeline, mode: str, symbol: str, name: str, status: str, **fields: object
) -> None:
    """``set_status`` as commands queued on ``pipe``, for a caller that writes more in
    the same round trip; checked now, written when the caller executes ``pipe``."""
    if status not in STATUSES:
        raise UsageError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    given = fields.pop("progress", 0.0)
    progress: float | None = None
    if given is not None:
        if not isinstance(given, int | float | str):
            raise UsageError(f"progress must be a number within 0..1, got {given!r}")
        progress = float(given)
        if not 0.0 <= progress <= 1.0:
            raise UsageError(f"progress must be within 0..1, got {progress}")
    scalars: dict[FieldT, EncodableT] = {}
    for field, value in fields.items():
        if isinstance(value, bool):
            scalars[field] = int(value)
        elif isinstance(value, str | int | float):
            scalars[field] = value
        else:
            raise UsageError(
                f"status field {field}={value!r} must be str, int, float or bool, "
                f"not {type(value).__name__}"
            )
    mapping: dict[FieldT, EncodableT] = {
        "id": f"{symbol}:{name}",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        **scalars,
        "symbol": symbol,
        "name": name,
        "mode": mode,
        "status": status,
        **({} if progress is None else {"progress": progress}),
        "updated_at": int(time.time() * 1000),
    }
    key = keys.instance_status(mode, symbol, name)
    pipe.hset(key, mapping=mapping)
    pipe.sadd(keys.instance_index(), key)


def delete_status(r: redis.Redis, mode: str, symbol: str, name: str) -> None:
    """Forget one instance's status."""
    key = keys.instance_status(mode, symbol, name)
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    pipe.srem(keys.instance_index(), key)
    pipe.execute()


def list_status(r: redis.Redis, mode: str | None = None) -> list[dict[str, object]]:
    """Every instance's status (optionally of one mode), sorted by mode, symbol, name.

    Each dict has the stored fields with ``progress`` as float, ``pid`` and
    ``updated_at`` as int, plus ``crashed`` (bool): True when the entry said
    "running" but its process on this host is gone; its status then reads
    "done". An entry that cannot be read is left out (``read_status`` names it).
    """
    return read_status(r, mode)[0]


def read_status(
    r: redis.Redis,
    mode: str | None = None,
) -> tuple[list[dict[str, object]], list[tuple[str, str]]]:
    """``list_status``'s rows, and each entry it could not read as (key, why): a key of
    another type, a field that should be a number and is not, text that is not UTF-8.
    One bad entry (written by anyone who can write to the store) hides only itself."""
    if mode is not None:
        keys.check_mode(mode)
    index = keys.instance_index()
    try:
        status_keys = sorted(text(key) for key in r.smembers(index))
    except (redis.ResponseError, UnicodeDecodeError) as exc:
        return [], [(index, f"the index of statuses cannot be read ({exc})")]
    rows: list[dict[str, object]] = []
    unreadable: list[tuple[str, str]] = []
    gone: list[str] = []
    host = socket.gethostname()
    for key, found in zip(status_keys, _hashes(r, status_keys), strict=True):
        if isinstance(found, Exception):
            unreadable.append((key, f"not a readable hash ({found})"))
        elif not found:
            gone.append(key)
        else:
            try:
                rows.append(_decode(found, host))
            except PersistenceError as exc:
                unreadable.append((key, str(exc)))
    if gone:
        r.srem(index, *gone)
    if mode is not None:
        rows = [row for row in rows if row.get("mode") == mode]
    rows.sort(key=lambda row: (str(row.get("mode")), str(row.get("symbol")), str(row.get("name"))))
    return rows, unreadable


def _hashes(r: redis.Redis, status_keys: list[str]) -> list[dict[str, str] | Exception]:
    """Each key's hash, or what reading it raised: one round trip, unless a reply that is
    not UTF-8 spoils the batch; then one read per key."""
    pipe = r.pipeline(transaction=False)
    for key in status_keys:
        pipe.hgetall(key)
    try:
        return pipe.execute(raise_on_error=False)
    except UnicodeDecodeError:
        found: list[dict[str, str] | Exception] = []
        for key in status_keys:
            try:
                found.append(texts(r.hgetall(key)))
            except (redis.ResponseError, UnicodeDecodeError) as exc:
                found.append(exc)
        return found


def _decode(raw: dict[str, str], this_host: str) -> dict[str, object]:
    """A stored status as a row; PersistenceError naming a field whose number is not one."""
    numbers: dict[str, float] = {}
    for field, convert in (("progress", float), ("pid", int), ("updated_at", int)):
        try:
            numbers[field] = convert(raw.get(field, 0))
        except ValueError:
            raise PersistenceError(f"{field}={raw[field]!r} is not a number") from None
    if not math.isfinite(numbers["progress"]):
        raise PersistenceError(f"progress={raw['progress']!r} is not a finite number")
    crashed = (
        raw.get("status") == "running"
        and raw.get("host") == this_host
        and not process_alive(int(numbers["pid"]))
    )
    row: dict[str, object] = {**raw, **numbers, "crashed": crashed}
    if crashed:
        row["status"] = "done"
    return row


def process_alive(pid: int) -> bool:
    """True when ``pid`` is a live (not zombie) process on this host."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.AccessDenied:
        return True

"""The durable state of one live ``symbol:strategy``: a state document and an event log.

The state document (JSON) holds the engine snapshot (``StrategyCore.snapshot``:
phase, the active or scheduled signal, where monitoring resumes, the throttle
bucket) and an *outbox*: the event that snapshot produced. ``Live`` writes it
before the event leaves the engine, then appends the event to the log. A
crash between the two leaves the event in the outbox, and the next start
appends it unless the log already has it (matched by action and signal id).
So every event reaches the log exactly once, a signal that was reported
opened is always restored, and a close is recorded in the same write that
drops the signal from the state (there is no "closed but still active" state
to resolve after a crash).

Two backends with the same face:

- ``FileLiveState`` (the embedded default): ``{state_dir}/live/{symbol}/
  {strategy}.json`` written atomically (temporary file, fsync, rename, fsync
  of the folder) and ``{strategy}.events.jsonl`` appended with an fsync per
  line. A ``{strategy}.lock`` (``flock``) keeps a second process off the same
  state; the kernel drops it when the holder dies, even by SIGKILL.
- ``RedisLiveState`` (a URL is set): the keys ``keys.live_signal`` and
  ``keys.live_events``.

A state that cannot be read (truncated, not JSON, not a state of this
``symbol:strategy``) raises ``PersistenceError`` naming the file or key, and
is never overwritten: ``save`` refuses until ``load`` has succeeded. A state
folder on a full, read-only or forbidden disk is a ``ConfigError`` naming the
file (``atomic_file.disk_fault``): a restart would meet it again, and the last
state written stays whole.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import redis

from ..atomic_file import disk_fault, fsync_folder, write_whole
from ..errors import PersistenceError
from . import keys

VERSION = 1  # of the state document; another version is refused, not guessed at
LOGGED_ACTIONS = ("scheduled", "opened", "closed", "cancelled")  # what the event log keeps
STATE_SETTING = (
    "BTFARM_STATE_DIR"  # what moves the live state's folder, named when it cannot be written
)


class LiveState(Protocol):
    where: str  # the file or key, for messages

    def acquire(self) -> None: ...
    def repair(self) -> None: ...
    def load(self) -> dict[str, Any] | None: ...
    def save(self, doc: dict[str, Any]) -> None: ...
    def append(self, record: dict[str, Any]) -> None: ...
    def events(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


def event_key(record: dict[str, Any]) -> tuple[str, str]:
    """What makes a logged event unique: its action and its signal's id."""
    return record["action"], record["signal"]["id"]


def new_document(
    symbol: str,
    strategy_name: str,
    exchange_name: str,
    core: dict[str, Any],
    outbox: list[dict[str, Any]],
    saved_at: int,
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "symbol": symbol,
        "strategy_name": strategy_name,
        "exchange_name": exchange_name,
        "saved_at": saved_at,
        "core": core,
        "outbox": outbox,
    }


def _encode(value: Any, where: str) -> bytes:
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"), default=_plain).encode()
    except (TypeError, ValueError) as exc:
        raise PersistenceError(f"cannot write live state {where}: {exc}") from exc


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(
        f"{type(value).__name__} is not JSON"
    )  # protocol: json's default hook; _encode wraps it


def _check_document(doc: Any, where: str, symbol: str, strategy_name: str) -> dict[str, Any]:
    fix = "; move it aside to start flat, or restore a good copy (btfarm will not overwrite it)"
    if not isinstance(doc, dict):
        raise PersistenceError(f"live state {where} is not a JSON object{fix}")
    if doc.get("version") != VERSION:
        raise PersistenceError(
            f"live state {where} has version {doc.get('version')!r}, expected {VERSION}{fix}"
        )
    if doc.get("symbol") != symbol or doc.get("strategy_name") != strategy_name:
        raise PersistenceError(
            f"live state {where} belongs to {doc.get('symbol')}:{doc.get('strategy_name')}, "
            f"not {symbol}:{strategy_name}{fix}"
        )
    if not isinstance(doc.get("core"), dict) or not isinstance(doc.get("outbox"), list):
        raise PersistenceError(f"live state {where} lacks its core snapshot or outbox{fix}")
    return doc


def _decode(raw: bytes | str, where: str, symbol: str, strategy_name: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        size = len(raw)
        raise PersistenceError(
            f"live state {where} is corrupt or truncated ({size} bytes, {exc}); move it aside to "
            "start flat, or restore a good copy (btfarm will not overwrite it)"
        ) from exc
    return _check_document(doc, where, symbol, strategy_name)


class _StateDocument:
    """Load once, then save: the guard both stores share. A state that was not
    loaded (or failed to decode) is never overwritten, so a corrupt file or key
    stays as it was for the operator to look at."""

    where: str
    symbol: str
    strategy_name: str
    _loaded: bool = False

    def _read(self) -> bytes | str | None:
        raise NotImplementedError  # protocol: the file and Redis stores define it

    def _write(self, data: bytes) -> None:
        raise NotImplementedError  # protocol: the file and Redis stores define it

    def load(self) -> dict[str, Any] | None:
        raw = self._read()
        doc = None if raw is None else _decode(raw, self.where, self.symbol, self.strategy_name)
        self._loaded = True
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        if not self._loaded:
            raise PersistenceError(
                f"live state {self.where} was not loaded (or is corrupt); refusing to overwrite it"
            )
        self._write(_encode(doc, self.where))


class FileLiveState(_StateDocument):
    """Files under ``{root}/{symbol}/`` (names percent-escaped)."""

    def __init__(self, root: Path, symbol: str, strategy_name: str) -> None:
        self.symbol, self.strategy_name = symbol, strategy_name
        folder = Path(root) / quote(symbol, safe="")
        stem = quote(strategy_name, safe="")
        self.path = folder / f"{stem}.json"
        self.log_path = folder / f"{stem}.events.jsonl"
        self.lock_path = folder / f"{stem}.lock"
        self.where = str(self.path)
        self._loaded = False
        self._lock_fd: int | None = None

    def acquire(self) -> None:
        """Hold the lock of this state for as long as this object lives."""
        with _disk_faults(self.lock_path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PersistenceError(
                f"live state {self.path} is in use by another process (lock {self.lock_path}); "
                "stop that live run first"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PersistenceError(f"cannot read live state {self.path}: {exc}") from exc

    def _write(self, data: bytes) -> None:
        write_whole(self.path, data, what="live state", setting=STATE_SETTING, sync_folder=True)

    def append(self, record: dict[str, Any]) -> None:
        line = _encode(record, str(self.log_path)) + b"\n"
        with _disk_faults(self.log_path):
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.log_path.exists()
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, line)
                if written != len(
                    line
                ):  # a full disk may take part of it: cut it (repair would too)
                    os.ftruncate(fd, os.fstat(fd).st_size - written)
                    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    raise full  # _disk_faults makes it the ConfigError naming the log
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_folder(self.log_path.parent)

    def repair(self) -> None:
        """Cut a line a crash left half-written at the end of the log (its event
        is still in the state's outbox, so ``Live`` appends it again)."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            with _disk_faults(self.log_path), open(self.log_path, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
                handle.flush()
                os.fsync(handle.fileno())

    def events(self) -> list[dict[str, Any]]:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        if lines and lines[-1] != b"":
            lines[-1] = b""  # being written right now, or torn by a crash: not an event yet
        out = []
        for number, line in enumerate(lines[:-1], start=1):
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                raise PersistenceError(
                    f"live event log {self.log_path} line {number} is corrupt: {exc}"
                ) from exc
        return out


@contextlib.contextmanager
def _disk_faults(path: Path) -> Iterator[None]:
    """A full, read-only or forbidden disk under ``path`` as one ``ConfigError`` naming it."""
    try:
        yield
    except OSError as exc:
        fault = disk_fault(exc, path, "live state", STATE_SETTING)
        if fault is None:
            raise
        raise fault from exc


class RedisLiveState(_StateDocument):
    """The keys ``live_signal`` (state) and ``live_events`` (log) on ``r``."""

    def __init__(self, r: redis.Redis, symbol: str, strategy_name: str) -> None:
        self.r = r
        self.symbol, self.strategy_name = symbol, strategy_name
        self.key = keys.live_signal(symbol, strategy_name)
        self.log_key = keys.live_events(symbol, strategy_name)
        self.where = f"Redis key {self.key}"
        self._loaded = False

    def acquire(self) -> None:
        pass  # one process per symbol:strategy is the operator's job on a farm

    def close(self) -> None:
        pass

    def repair(self) -> None:
        pass  # RPUSH is atomic: no torn entries

    def _read(self) -> bytes | str | None:
        return self.r.get(self.key)

    def _write(self, data: bytes) -> None:
        self.r.set(self.key, data)

    def append(self, record: dict[str, Any]) -> None:
        self.r.rpush(self.log_key, _encode(record, self.log_key))

    def events(self) -> list[dict[str, Any]]:
        out = []
        for number, raw in enumerate(self.r.lrange(self.log_key, 0, -1), start=1):
            try:
                out.append(json.loads(raw))
            except ValueError as exc:
                raise PersistenceError(
                    f"live event log Redis key {self.log_key} entry {number} is corrupt: {exc}"
                ) from exc
        return out

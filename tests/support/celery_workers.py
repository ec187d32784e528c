"""Real ``celery worker`` processes for farm tests, ready after a ping round
trip, stopped by PID (SIGTERM, then SIGKILL of their process group)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from .processes import stop_process

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0  # for a worker to answer a ping after it starts
TEST_IMPORTS = "tests.farm_strategies"


def farm_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a farm subprocess: no developer BTFARM_*, this URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(
        {"BTFARM_REDIS_URL": url, "BTFARM_IMPORTS": TEST_IMPORTS, "PYTHONPATH": str(REPO), **extra}
    )
    return env


class CeleryWorker:
    """One ``celery -A btfarm.workers worker`` subprocess (prefork -c 1 by default)."""

    def __init__(
        self,
        url: str,
        logdir: Path,
        pool: str = "prefork",
        concurrency: int = 1,
        prefix: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        """``prefix``: what the command runs under (``ip netns exec HOST``, ``faketime``);
        each of those execs, so the PID stays the worker's."""
        self.url = url
        self.name = f"test-{uuid.uuid4().hex[:6]}@{os.uname().nodename}"
        self.logfile = Path(logdir) / f"{self.name.split('@')[0]}.log"
        self.args = [
            *prefix,
            sys.executable,
            "-m",
            "celery",
            "-A",
            "btfarm.workers",
            "worker",
            "--pool",
            pool,
            "-c",
            str(concurrency),
            "-Q",
            "btfarm",
            "-n",
            self.name,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
            "--logfile",
            str(self.logfile),
        ]
        self.env = farm_env(url, **env)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> CeleryWorker:
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def wait_ready(self, app) -> None:
        """Return once the worker answered a ping through the broker."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.log()[-2000:]}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise RuntimeError(f"worker {self.name} did not answer a ping: {self.log()[-2000:]}")

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            stop_process(process)


def use_farm(url: str, monkeypatch, tmp_path: Path):
    """Point this test's process at a farm's Redis (settings, state client, Celery app),
    with reports under ``tmp_path``; a generator for a fixture to ``yield from``."""
    from btfarm.orchestrator.state_client import reset_state
    from btfarm.shared.settings import get_settings
    from btfarm.workers.app import configure

    monkeypatch.setenv("BTFARM_REDIS_URL", url)
    monkeypatch.setenv("BTFARM_DUMP_DIR", str(tmp_path / "dump"))
    get_settings.cache_clear()
    reset_state()
    configure()
    yield url
    reset_state()

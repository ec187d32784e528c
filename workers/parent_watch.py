"""A local worker that outlives its orchestrator stops itself (and the private Redis).

The embedded default's worker (orchestrator/sweeps/local_pool.py) runs in a session
of its own, so a SIGKILL of the orchestrator reaches neither it nor the
embedded redis-server, and the orchestrator's own cleanup never runs. The
pool passes its PID as ``BTFARM_PARENT_PID``; this thread polls it and, once
that process is gone, leaves the embedded server's membership on the dead
orchestrator's behalf (the last member out stops it) and ends this worker
with a cold shutdown: nobody collects what it would still finish (the sweep's
lease lapses; ``btfarm walker resume`` runs it), and a warm one would wait on a
task retrying against the stopped Redis.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

from btfarm.shared.store.run_status import process_alive

log = logging.getLogger("btfarm.workers")

POLL_SECONDS = 1.0  # between checks of the parent
COLD_SHUTDOWN_SECONDS = 10.0  # after SIGQUIT, the worker's process group is killed if still here


def watch_parent(parent_pid: int, state_dir: str | os.PathLike[str]) -> threading.Thread:
    """Start the watch of ``parent_pid`` in a daemon thread; returns it."""

    def run() -> None:
        while process_alive(parent_pid):
            threading.Event().wait(POLL_SECONDS)
        log.warning("btfarm local worker: orchestrator %d is gone; stopping", parent_pid)
        try:
            from btfarm.shared.store.embedded_redis import EmbeddedServer

            EmbeddedServer(
                Path(state_dir)
            ).start().close()  # join and leave: the last one out stops it
        except Exception as exc:  # the shutdown below must happen whatever this found
            log.warning("btfarm local worker: could not stop the embedded Redis: %s", exc)
        os.kill(os.getpid(), signal.SIGQUIT)  # Celery's cold shutdown: its pool processes go too
        threading.Event().wait(COLD_SHUTDOWN_SECONDS)
        os.killpg(
            os.getpgrp(), signal.SIGKILL
        )  # the pool's own session: only this worker's processes

    thread = threading.Thread(target=run, name="btfarm-parent-watch", daemon=True)
    thread.start()
    return thread

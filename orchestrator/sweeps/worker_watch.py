"""Whether a farm sweep has a worker that can run it, checked every second while it collects.

A sweep's chunks wait in the broker for a worker. With none alive (none was
started, or all died: killed, or exited on a Redis at ``maxmemory`` with
Celery's "Unrecoverable error: OutOfMemoryError"), or with every live worker
refusing the sweep because its code differs (workers/tasks.py), no result
will come, and the sweep used to wait out its idle timeout in silence. The
watch reads the workers' heartbeats and refusals (shared/store/worker_registry.py)
every ``CHECK_SECONDS`` and:

- says so at once, as a warning naming the broker and the command that starts
  a worker with the sweep's imports, with why the last workers failed to start
  when one recorded it (a module that does not import), and a Redis near its
  ``maxmemory``;
- ends the sweep as interrupted once that lasted ``BTFARM_WORKER_WAIT_SECONDS``
  (a farm may restart its workers with a short gap), with the reason and the
  resume command.

Only a farm's sweeps are watched: the embedded default's pool is a process of
this one, watched as such (sweeps/local_pool.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import redis

from btfarm.orchestrator.sweeps.next_commands import resume_command, worker_command
from btfarm.shared.store import worker_registry

CHECK_SECONDS = 1.0  # how often the heartbeats are read while a sweep collects
FULL_FRACTION = 0.95  # Redis memory used, of its maxmemory, from which the message says so
REASONS_SHOWN = 3  # distinct refusal reasons quoted

log = logging.getLogger("btfarm.walker")


def printable(text: str) -> str:
    """``text`` read from Redis, with control characters (ESC, newlines) escaped for one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class WorkerWatch:
    """The live workers of a farm sweep, as the collect loop asks (``check``)."""

    def __init__(
        self,
        r: redis.Redis,
        run_id: str,
        imports: Sequence[str],
        url: str,
        wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._r = r
        self.run_id = run_id
        self.imports = list(imports)
        self.url = url
        self.wait_seconds = wait_seconds
        self._clock = clock
        self._next_check = 0.0
        self._since: float | None = None  # when no usable worker was first seen
        self._said: tuple | None = None  # what the last warning was about
        self.slots = 0  # pool processes of the live workers that run this sweep (last check)
        self.checked = False

    def check(self, attempt: int) -> str | None:
        """At most every ``CHECK_SECONDS``: read the workers; warn when none can run attempt
        ``attempt`` of the sweep; the reason to end it once that lasted the wait, else None."""
        now = self._clock()
        if now < self._next_check:
            return None
        self._next_check = now + CHECK_SECONDS
        live = worker_registry.live_slots(self._r)
        refusing = worker_registry.refusals(self._r, sorted(live), self.run_id, attempt)
        self.slots = sum(n for node, n in live.items() if node not in refusing)
        self.checked = True
        if self.slots:
            if self._since is not None:
                log.warning(
                    "sweep %s: %d worker(s) alive on %s again; it goes on",
                    self.run_id,
                    len(live) - len(refusing),
                    self.url,
                )
            self._since = self._said = None
            return None
        kind, situation = self._situation(live, refusing)
        if self._since is None:
            self._since = now
        if kind != self._said:
            self._said = kind
            log.warning(
                "sweep %s: %s (the sweep waits %g s for one: BTFARM_WORKER_WAIT_SECONDS)",
                self.run_id,
                situation,
                self.wait_seconds,
            )
        if now - self._since < self.wait_seconds:
            return None
        return (
            f"{situation}; none came within {self.wait_seconds:g} s (BTFARM_WORKER_WAIT_SECONDS): "
            f"once one runs, `{resume_command(self.run_id, self.imports)}` runs the variants left"
        )

    def _situation(self, live: dict[str, int], refusing: dict[str, str]) -> tuple[tuple, str]:
        """(what it is about, for saying it once; the sentence) when no worker can run the sweep."""
        start = worker_command(self.imports)
        if live:  # alive, and every one refuses
            reasons = sorted({printable(why) for why in refusing.values()})
            shown = "; ".join(reasons[:REASONS_SHOWN]) + (
                f" (and {len(reasons) - REASONS_SHOWN} more)"
                if len(reasons) > REASONS_SHOWN
                else ""
            )
            return (
                ("refused", tuple(reasons)),
                f"no live worker on {self.url} runs this sweep's code ({shown}): start "
                f"`{start}` with the orchestrator's code",
            )
        sentence = f"no worker is alive on {self.url}: start `{start}`"
        failures = worker_registry.start_failures(self._r)
        if failures:
            node, age, error = failures[0]
            others = f" ({len(failures) - 1} more failed to start)" if len(failures) > 1 else ""
            sentence += (
                f"; the last worker to start, {printable(node)}, exited {age:.0f} s ago: "
                f"{printable(error)}{others}"
            )
        full = self._memory_note()
        return ("none", tuple(f[0] for f in failures), bool(full)), sentence + full

    def _memory_note(self) -> str:
        """A Redis at its ``maxmemory`` stops workers (they cannot take a task): say so."""
        try:
            memory = self._r.info("memory")
        except redis.RedisError:
            return ""
        limit, used = int(memory.get("maxmemory") or 0), int(memory.get("used_memory") or 0)
        if not limit or used < FULL_FRACTION * limit:
            return ""
        return (
            f"; Redis is at {100 * used / limit:.0f} % of its maxmemory ({memory.get('used_memory_human')} "
            f"of {memory.get('maxmemory_human')}): a worker exits when Redis refuses its writes "
            '("OutOfMemoryError"); free memory or raise maxmemory before starting one'
        )

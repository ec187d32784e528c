"""Collecting a sweep's variant results as workers finish them.

Workers RPUSH each variant's JSON record to the sweep's inbox list; the
orchestrator BLPOPs it, so a result is seen the moment it lands (Celery's
``ResultSet`` would poll every 0.5 s). Each record is written once to its
``walker_result`` key with SET NX (its statistics, fingerprint and status): a chunk
redelivered after a worker died may push a variant again, and the second
copy is dropped here, so no variant is ever reported twice. A "stopped"
record (the walker was stopped before the variant ran) ends the variant for
this run but is not stored: it is no result, and a resume runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis

from btfarm.shared.store import keys

DRAIN_BATCH = 100  # records taken per round trip once one has arrived


class Collector:
    """The results of one sweep, each accepted once, in arrival order."""

    def __init__(self, r: redis.Redis, run_id: str, expected: Iterable[str]) -> None:
        self._r = r
        self.run_id = run_id
        self._inbox = keys.walker_inbox(run_id)
        self.pending: set[str] = set(expected)
        self.duplicates = 0

    @property
    def finished(self) -> bool:
        return not self.pending

    def stored(self) -> list[dict[str, Any]]:
        """Results a previous attempt of this sweep already stored (resume), now
        no longer pending; records still in the inbox are taken first."""
        found = []
        while True:
            raw = self._r.lpop(self._inbox, DRAIN_BATCH)
            if not raw:
                break
            for rec in (json.loads(x) for x in raw):
                if rec.get("status") != "stopped" and self.accept(rec):
                    found.append(rec)
        names = sorted(self.pending)
        for name, raw in zip(names, self._r.mget([keys.walker_result(self.run_id, n) for n in names]),
                             strict=True):
            if raw is not None:
                found.append(json.loads(raw))
                self.pending.discard(name)
        return found

    def wait(self, timeout_seconds: float) -> list[dict[str, Any]]:
        """New results: blocks until one arrives or the timeout passes ([] then)."""
        item = self._r.blpop([self._inbox], timeout=timeout_seconds)
        if item is None:
            return []
        raw = [item[1]]
        more = self._r.lpop(self._inbox, DRAIN_BATCH)
        if more:
            raw.extend(more)
        return [rec for rec in (json.loads(x) for x in raw) if self.accept(rec)]

    def accept(self, record: dict[str, Any]) -> bool:
        name = record.get("strategy_name")
        if name not in self.pending:
            self.duplicates += 1
            return False
        if record.get("status") == "stopped":
            self.pending.discard(name)
            return True
        written = self._r.set(keys.walker_result(self.run_id, name), json.dumps(record),
                              nx=True, ex=keys.WALKER_RESULT_TTL_SECONDS)
        if not written:
            self.duplicates += 1
            return False
        self.pending.discard(name)
        return True
